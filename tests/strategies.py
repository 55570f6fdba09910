"""Hypothesis strategies shared by the tests and the fuzzers (fuzz/ imports this module).

Public API (keep it small and stable; other test modules build on it):

- ``arrays(dtype=None)``: one tensor as the encoder accepts it (an ndarray; bfloat16 and float8 as ml_dtypes), of any
  supported dtype, any shape including 0-d and empty, possibly non-contiguous or big-endian, with float bit patterns
  drawn to hit NaN payloads, infinities, signed zeros and subnormals.
- ``tensor_dicts(min_size=0, max_size=4)``: ``{name: tensor}`` with unicode names (the empty name included).
- ``metadata()``: a str -> str mapping (keys outside the reserved ``nncodec.`` prefix).
- ``encode_options(names=())``: keyword arguments for :func:`nncodec.encode` (compress none/zstd/auto or a
  per-tensor mapping over ``names``, entropy for integer streams, chunk_elements, zstd_level).
- ``encode_cases()``: ``(weights, options)`` pairs: a tensor dict (or sometimes a single array) and options that fit it.
- ``record_containers()``: container bytes the encoder does not write, built from ``nncodec.format.records``: node trees
  of concat/sum/product/separable composites (up to 3 deep) over chains in any layout (dense, relidx, csr, cer,
  cser) whose streams are raw or zstd at Align_Log2 0..8, some ending in a uniform, dq, codebook or cast
  transform; now and then an alias of an earlier record.
"""

import ml_dtypes
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nncodec.api import COMPRESS_CHOICES, ENTROPY_CHOICES

__all__ = ["DTYPE_NAMES", "dtype_names", "shapes", "arrays", "tensor_names", "tensor_dicts", "metadata",
           "encode_options", "encode_cases", "bfloat16_tensor", "record_containers"]

# every dtype of spec 3.7, by name
DTYPE_NAMES = ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
               "float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2")

# unsigned integer type holding the bit pattern of each float dtype
_FLOAT_BITS = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32, "float64": np.uint64,
               "float8_e4m3fn": np.uint8, "float8_e5m2": np.uint8}
_ML_DTYPES = {"bfloat16": ml_dtypes.bfloat16, "float8_e4m3fn": ml_dtypes.float8_e4m3fn,
              "float8_e5m2": ml_dtypes.float8_e5m2}

# bit patterns worth hitting often: signed zeros, infinities, quiet and signalling NaNs with payloads, the
# smallest subnormal, the largest finite value
_SPECIAL_BITS = {
    "float16": (0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7E01, 0xFE5A, 0x7C01, 0x0001, 0x7BFF),
    "bfloat16": (0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7FC1, 0xFFA5, 0x7F81, 0x0001, 0x7F7F),
    "float32": (0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7FC0BEEF, 0xFFFFFFFF,
                0x7F800001, 0x00000001, 0x7F7FFFFF),
    "float64": (0x0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000,
                0x7FF8DEADBEEF0001, 0xFFFFFFFFFFFFFFFF, 0x7FF0000000000001, 0x1, 0x7FEFFFFFFFFFFFFF),
    "float8_e4m3fn": (0x00, 0x80, 0x7F, 0xFF, 0x7E, 0xFE, 0x01, 0x81, 0x08, 0x38),  # no infinities; 0x7F is NaN
    "float8_e5m2": (0x00, 0x80, 0x7C, 0xFC, 0x7D, 0x7E, 0xFF, 0x7B, 0x01, 0x3C),
}


def dtype_names():
    return st.sampled_from(DTYPE_NAMES)


def shapes(max_dims=4, max_side=5):
    """Any shape from 0-d to ``max_dims`` axes, extents 0..max_side (so empty arrays come up often)."""
    return hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side)


def _elements(name):
    if name == "bool":
        return st.booleans()
    if name in _FLOAT_BITS:
        width = np.dtype(_FLOAT_BITS[name]).itemsize * 8
        return st.one_of(st.sampled_from(_SPECIAL_BITS[name]), st.integers(0, 2 ** width - 1))
    info = np.iinfo(np.dtype(name))
    return st.one_of(st.sampled_from((int(info.min), int(info.max), 0)), st.integers(int(info.min), int(info.max)))


def _storage_dtype(name):
    """The dtype hypothesis fills: the bits' unsigned type for floats, the type itself otherwise."""
    return np.dtype(_FLOAT_BITS.get(name, name))


def bfloat16_tensor(bits):
    """A bfloat16 tensor (an ml_dtypes array) from uint16 bit patterns."""
    return np.asarray(bits).view(ml_dtypes.bfloat16)


def _finish(name, bits):
    """Turn a bit-pattern array into the user-facing tensor of dtype ``name``."""
    if name in _ML_DTYPES:
        return bits.view(_ML_DTYPES[name])
    if name in _FLOAT_BITS:
        return bits.view(np.dtype(name))
    return bits


@st.composite
def arrays(draw, dtype=None, shape=None):
    """One tensor (see the module docstring); ``dtype`` is a name of spec 3.7 or None for any."""
    name = draw(dtype_names()) if dtype is None else dtype
    shape = draw(shapes()) if shape is None else shape
    layout = draw(st.sampled_from(("contiguous", "contiguous", "strided", "transposed", "big-endian")))
    storage = _storage_dtype(name)
    if layout == "strided" and len(shape) >= 1:
        # a view that takes every other element along axis 0 of a larger array
        base_shape = (2 * shape[0],) + tuple(shape[1:])
        base = draw(hnp.arrays(storage, base_shape, elements=_elements(name)))
        bits = base[::2]
    elif layout == "transposed" and len(shape) >= 2:
        base = draw(hnp.arrays(storage, tuple(reversed(shape)), elements=_elements(name)))
        bits = base.T
    else:
        bits = draw(hnp.arrays(storage, shape, elements=_elements(name)))
    tensor = _finish(name, bits)
    if layout == "big-endian" and np.asarray(tensor).dtype.itemsize > 1 and name != "bfloat16":
        tensor = tensor.astype(tensor.dtype.newbyteorder(">"))
    return tensor


def tensor_names():
    """Unicode names, the empty one included (no surrogates: names are UTF-8 in the container)."""
    return st.one_of(st.just(""), st.text(max_size=12), st.sampled_from(("weight", "bias", "layer.0.weight")))


def tensor_dicts(min_size=0, max_size=4, dtype=None):
    """``{name: tensor}`` with unique unicode names; insertion order is what a round trip must keep."""
    return st.dictionaries(tensor_names(), arrays(dtype=dtype), min_size=min_size, max_size=max_size)


def metadata(max_size=4):
    """A str -> str metadata mapping; keys avoid the library's reserved ``nncodec.`` prefix (spec 3.3)."""
    keys = st.text(max_size=10).filter(lambda k: not k.startswith("nncodec."))
    return st.dictionaries(keys, st.text(max_size=20), max_size=max_size)


def _compress_choices():
    # every choice the encoder offers (codings added later are picked up automatically)
    return st.sampled_from(COMPRESS_CHOICES)


@st.composite
def encode_options(draw, names=()):
    """Keyword arguments for nncodec.encode; a per-tensor compress mapping is drawn over ``names``."""
    options = {}
    names = list(names)
    kind = draw(st.sampled_from(("default", "global", "mapping") if names else ("default", "global")))
    if kind == "global":
        options["compress"] = draw(_compress_choices())
    elif kind == "mapping":
        # a subset of the names (missing names mean "none")
        chosen = draw(st.lists(st.sampled_from(names), unique=True))
        options["compress"] = {n: draw(_compress_choices()) for n in chosen}
    if draw(st.booleans()):
        # integer and bool streams: raw, zstd, huffman, cabac or auto (the encoder's integer codings)
        options["entropy"] = draw(st.sampled_from(ENTROPY_CHOICES))
    chunk = draw(st.one_of(st.none(), st.integers(1, 40)))
    if chunk is not None:
        options["chunk_elements"] = chunk
    if draw(st.booleans()):
        options["zstd_level"] = draw(st.sampled_from((1, 3, 19)))
    return options


@st.composite
def encode_cases(draw, max_size=4):
    """``(weights, options)``: mostly a tensor dict, sometimes one bare array, with fitting encode options."""
    if draw(st.integers(0, 4)) == 0:
        weights = draw(arrays())
        options = draw(encode_options(names=("",)))
    else:
        weights = draw(tensor_dicts(max_size=max_size))
        options = draw(encode_options(names=list(weights)))
    if draw(st.booleans()):
        options["metadata"] = draw(metadata())
    return weights, options


# -- containers built from records (composites, odd alignments) -----------------------------------------------

_COMBINE_FLOATS = ("float16", "float32", "float64")  # sum and product need a float dtype (spec 3.5.2)


_CAST_SOURCES = {"float32": ("float16", "bfloat16"), "float64": ("float16", "bfloat16", "float32")}


@st.composite
def _transform_stages(draw, dtype, shape):
    """``(stream dtype, [Stage])`` ending in ``dtype``: none, or uniform/dq/codebook over int8 levels, or a cast."""
    from nncodec.format.dtypes import DTYPE_CODES
    from nncodec.format.records import Stage, write_varint

    kinds = ["none"]
    if dtype in _COMBINE_FLOATS:
        kinds += ["uniform", "dq", "codebook"]
    if dtype in _CAST_SOURCES:
        kinds.append("cast")
    kind = draw(st.sampled_from(kinds))
    out = DTYPE_CODES[dtype]
    if kind == "none":
        return dtype, []
    if kind == "cast":
        return draw(st.sampled_from(_CAST_SOURCES[dtype])), [Stage(18, bytes((out,)))]
    if kind == "codebook":
        entries = np.arange(9, dtype="<f4") - 4  # one entry per index value 0..8 (drawn below)
        return "uint8", [Stage(17, bytes((out, 9)) + entries.tobytes())]
    axis = draw(st.sampled_from([255] + list(range(len(shape)))))
    count = 1 if axis == 255 else shape[axis]
    params = bytearray((out, axis))
    write_varint(params, count)
    params += np.full(count, 0.5, dtype="<f4").tobytes()
    return "int8", [Stage(16 if kind == "uniform" else 19, bytes(params))]


# the layouts a chain may start with (spec 4.1, 4.6-4.9), with the encode options each takes
_LAYOUTS = (("dense", {}), ("relidx", {"gap_bits": 1}), ("relidx", {"gap_bits": 3}), ("csr", {}), ("cer", {}),
            ("cser", {}))


@st.composite
def _chain_node(draw, dtype, shape):
    """(node, pending streams): a chain over small values in any layout, each stream raw or zstd at its own
    alignment, maybe followed by a transform."""
    import zstandard
    from nncodec.format.assemble import PendingStream
    from nncodec.format.header import crc32
    from nncodec.format.dtypes import DTYPE_CODES, code_of
    from nncodec.format.records import Chain, Node, Stage, Stream
    from nncodec.stages import stage_by_name

    stream_dtype, transforms = draw(_transform_stages(dtype, shape))
    low, high = (0, 1) if stream_dtype == "bool" else (0, 8) if stream_dtype == "uint8" else (-8, 8)
    small = draw(hnp.arrays(np.int8, shape, elements=st.integers(low, high)))
    storage = np.uint16 if stream_dtype == "bfloat16" else np.dtype(stream_dtype).newbyteorder("<")
    values = small.astype(storage)
    name, options = draw(st.sampled_from(_LAYOUTS))
    layout = stage_by_name(name)
    params, arrays = layout.encode(values, **options)
    streams, pending = [], []
    for i, array in enumerate(arrays):
        code = DTYPE_CODES[stream_dtype] if i == layout.values_stream else code_of(array.dtype)
        data = np.ascontiguousarray(array).tobytes()
        coding = draw(st.sampled_from((0, 1))) if array.size else 0
        if coding == 1:
            data = zstandard.ZstdCompressor(level=1, write_content_size=True, write_checksum=False).compress(data)
        align = draw(st.integers(0, 8))
        streams.append(Stream(coding, code, align, array.size, len(data), crc32(data)))
        pending.append(PendingStream(coding, code, align, array.size, data))
    chain = Chain(tuple(streams), (Stage(layout.stage_id, params),) + tuple(transforms))
    return Node(DTYPE_CODES[dtype], tuple(shape), chain), pending


def _split(draw, total, parts):
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=parts - 1, max_size=parts - 1)))
    return [b - a for a, b in zip([0] + cuts, cuts + [total])]


@st.composite
def _node_tree(draw, dtype, shape, depth=1, max_depth=3):
    """(node, pending streams): a chain, or a composite obeying its combine rule over smaller trees."""
    from nncodec.format.records import CONCAT, PRODUCT, SEPARABLE, SUM, Composite, Node
    from nncodec.format.dtypes import DTYPE_CODES

    choices = ["chain"]
    if depth < max_depth:
        if len(shape) >= 1:
            choices.append("concat")
        if dtype in _COMBINE_FLOATS:
            choices += ["sum", "product"] + (["separable"] if len(shape) == 4 else [])
    kind = draw(st.sampled_from(choices))
    if kind == "chain":
        return draw(_chain_node(dtype, shape))
    if kind == "concat":
        extents = _split(draw, shape[0], draw(st.integers(1, 3)))
        shapes_ = [(e,) + tuple(shape[1:]) for e in extents]
        combine = CONCAT
    elif kind == "sum":
        shapes_ = [tuple(shape)] * draw(st.integers(1, 3))
        combine = SUM
    elif kind == "separable":  # §3.5.2: (O*KW, R) by (R, I*KH) for a node (O, I, KH, KW)
        o, i, kh, kw = shape
        rank = draw(st.integers(0, 3))
        shapes_ = [(o * kw, rank), (rank, i * kh)]
        combine = SEPARABLE
    else:
        count = int(np.prod(shape, dtype=np.int64))
        m = draw(st.sampled_from([d for d in range(count + 1) if d and count % d == 0] or [0]))
        n = count // m if m else draw(st.integers(0, 3))
        k = draw(st.integers(0, 3))
        shapes_ = [(m, k), (k, n)]
        combine = PRODUCT
    parts = [draw(_node_tree(dtype, s, depth + 1, max_depth)) for s in shapes_]
    node = Node(DTYPE_CODES[dtype], tuple(shape), Composite(combine, tuple(p[0] for p in parts)))
    return node, [stream for _, pending in parts for stream in pending]


@st.composite
def record_containers(draw, max_tensors=3):
    """Valid container bytes built from records (see the module docstring)."""
    from nncodec.format.assemble import write_container
    from nncodec.format.records import Alias, Node, TensorRecord

    names = draw(st.lists(tensor_names(), unique=True, max_size=max_tensors))
    tensors = []
    for name in names:
        targets = [i for i, (record, _) in enumerate(tensors) if not isinstance(record.node.body, Alias)]
        if targets and draw(st.integers(0, 3)) == 0:  # §3.5.4 an alias of an earlier, non-alias record
            index = draw(st.sampled_from(targets))
            target = tensors[index][0].node
            tensors.append((TensorRecord(name, Node(target.dtype, target.shape, Alias(index))), []))
            continue
        dtype = draw(st.sampled_from(tuple(n for n in DTYPE_NAMES)))
        shape = draw(shapes(max_dims=4, max_side=3) if dtype in _COMBINE_FLOATS else shapes(max_dims=3, max_side=4))
        node, pending = draw(_node_tree(dtype, shape))
        tensors.append((TensorRecord(name, node), pending))
    return write_container(tensors, tuple(draw(metadata()).items()))
