"""Encoding a whole model: names and arrays checked, tied weights found and stored once as aliases, tensors
encoded in parallel under one lossy plan, and the container assembled and checked against the default decoder."""

from collections.abc import Mapping

from .. import kernels
from ..decoder.container import Container
from ..decoder.reader import SINGLE_ARRAY_KEY
from ..errors import DecodeError, EncodeError
from ..format.assemble import write_container
from ..format.dtypes import as_array
from ..format.limits import DEFAULT_LIMITS
from ..format.records import Alias, Node, TensorRecord
from ..kernels import parallel
from ..presets import preset_encoding
from .atomic import atomic_file
from .tensor import FLOAT_CODINGS as COMPRESS_CHOICES, INTEGER_CODINGS as ENTROPY_CHOICES
from .tensor import LossyPlan, StreamCodings, no_larger_than_raw, with_stream_facts

__all__ = ["encode", "save", "encode_tensor", "shared_storage", "check_utf8", "COMPRESS_CHOICES", "ENTROPY_CHOICES"]


def check_utf8(text, what):
    """Strings are stored as UTF-8 (spec 2): lone surrogates cannot be."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"{what} {text!r} is not encodable as UTF-8: {exc.reason}") from None


def _normalise_weights(weights):
    """(mapping name -> (dtype code, C-contiguous LE array), was-a-single-array)."""
    if isinstance(weights, Mapping) or hasattr(weights, "items") and not hasattr(weights, "dtype"):
        items = list(weights.items())
        single = False
    else:
        items = [("", weights)]
        single = True
    out = {}
    for name, value in items:
        if not isinstance(name, str):
            raise EncodeError(f"tensor names must be str, got {type(name).__name__} {name!r}")
        check_utf8(name, "tensor name")
        try:
            out[name] = as_array(value)
        except TypeError as exc:
            raise EncodeError(f"tensor {name!r}: {exc}") from None
    return out, single


def encode(weights, *, preset=None, quality=None, sqnr=None, metadata=None, **options):
    """Encode ``weights`` (an array, or a mapping of names to arrays) into container bytes.

    preset: a named option set of :mod:`nncodec.presets` (``"lossless"``, ``"fp16"``, ``"bf16"``,
      ``"deep-compression"``, ``"deepcabac"``, ``"runtime"``), tuned by ``quality`` (0..100) or ``sqnr`` (dB)
      where the preset has that knob; the keywords below, when given, replace the preset's, and the choice is
      recorded in the metadata under ``nncodec.preset``. ``quality`` and ``sqnr`` need a preset.

    Lossy front end (float tensors only; every choice is recorded in the container, decode needs nothing else):
    quantize: a quantizer spec (``"uniform:bits=8"``, ``"uniform:step=0.01,axis=0"``, ``"uniform:sqnr=40"``,
      ``"kmeans:k=32"``, ``"log:bits=4"``, ``"binary"``, ``"ternary"``), a ``nncodec.quant.Quantizer``, or a
      mapping of fnmatch patterns to those (first match wins; ``"*"`` is the default). ``"dq:sqnr=40,scope=model"``
      (or ``uniform:``): one step for all the tensors that quantizer applies to, found once per call for SQNR >= 40
      dB over all of them together (``nncodec.quant.model_scope``).
    prune: a pruning spec (``"magnitude:0.9"``, ``"magnitude:0.8,scope=global"``, ``"std:quality=0.7"``,
      ``"rows:0.25"``) or a callable ``masks(weights) -> {name: bool mask}``; pruned weights become exact zeros.
    lossless: fnmatch patterns of tensors kept bit-exact whatever else is asked.
    keep_small: tensors with fewer elements than this, or fewer than 2 dimensions, stay lossless unless a
      quantize mapping names them explicitly (biases, norms).
    cast: ``"float16"`` or ``"bfloat16"`` (or a pattern mapping): store unquantized float32/64 tensors narrowed.
    importance: {name: array of the weight's shape}: per-weight importance for quantizers that use it.
    Codings:
    entropy: coding of integer streams (levels, indices, integer tensors): ``"raw"``, ``"zstd"``, ``"huffman"``,
      ``"cabac"`` or ``"auto"`` (the smallest); default: raw for lossless tensors when ``compress="none"``,
      else ``"auto"``. May be a mapping of tensor name -> choice.
    compress: coding of float streams: ``"none"`` (raw, memory-mappable), ``"zstd"``, ``"zstd-shuffle"`` (zstd
      over byte planes), ``"float-planes"`` (byte planes, the exponent plane Huffman coded: at the planes' entropy,
      chunks decoded on every core) or ``"auto"`` (float-planes for float dtypes, zstd too where float-planes saves
      over half; kept where it saves >= 3% over raw).
      Default (None): ``"none"``, so that lossless tensors stay memory-mappable, except for tensors that only
      pruning changed, which get ``"auto"`` and, unless ``layout`` is given, ``layout="relidx"``.
    no_larger_than_raw: no tensor is stored in more bytes than it has: an encoding that would take more (streams
      plus stage parameters) than the tensor's raw bytes (a sparse layout of a dense bias, a codebook for a few
      weights, zstd on 8 bytes) is replaced by the tensor as given, dense and exact. False keeps every layout,
      coding and lossy stage exactly as asked, whatever its size (to show a coding on a tiny tensor, or to get a
      sparse or factored structure back from ``decode(materialize=False)`` however small the tensor).
    metadata: a str -> str mapping stored in the container.
    chunk_elements: split lossless tensors larger than this along axis 0 into independently coded chunks.
    layout: how elements are laid out (spec 4.1, 4.6 to 4.9), over the matrix view (axis 0 by the rest):
      ``"dense"`` (default: keeps raw tensors memory-mappable), ``"csr"``, ``"relidx"`` (gap bits 2..8 tried,
      the smallest kept; ``"relidx:bits=5"`` forces them), ``"cer"``, ``"cser"`` or ``"auto"`` (the smallest
      coded size, dense included); or a mapping of fnmatch patterns to those (first match wins).
    factorize: store float tensors (>= 2-D, >= keep_small elements, or named by a pattern) as factors (spec
      3.5.3): ``"svd:energy=0.99"``, ``"svd:rank=32"``, ``"svd:sqnr=30"``, ``"svd:size=0.25"`` (truncated SVD of
      the im2col matrix view), ``"sparse+lowrank:rank=16,density=0.05"``, ``"separable:rank=8"`` (4-D kernels), a
      fitted :class:`nncodec.lowrank.Factors` (e.g. from the data-aware ``admm_sparse_lowrank``), or ``"auto"``
      (a quantized tensor becomes low-rank only when that is smaller at the plain encoding's SQNR); or a mapping
      of patterns to those. Each factor (and sparse part) is quantized by the tensor's ``quantize`` choice, else
      stored in the tensor's float dtype. Pruned tensors are not factorized.
      With ``layout``: the factorize choice is made first; ``layout`` then applies to every stored part (the sparse
      part of sparse + low-rank and the factors, each its own chain), so ``layout="auto"`` keeps each in its
      smallest layout. ``layout="auto"`` alone never factorizes; ``factorize="auto"`` is the size-driven choice
      between low-rank and plain storage (and the two "auto"s combine). ``decode(materialize=False)`` returns
      product and sparse + low-rank tensors as ``nncodec.sparse.LowRankMatrix`` / ``SparsePlusLowRank``.
    Tensors that are the same memory as an earlier one (tied weights) are stored once, as an alias (spec 3.5.4).
    jobs: threads for encoding tensors independently (``None``: every core; 1: serial). The bytes do not depend
      on it.
    progress: called as ``progress(name, nbytes)`` after each tensor is encoded (from a worker thread).
    """
    if preset is not None:
        options, metadata = preset_encoding(preset, quality, sqnr, metadata, options)
    elif quality is not None or sqnr is not None:
        raise EncodeError("quality= and sqnr= tune a preset: give preset= too")
    return _encode(weights, metadata=metadata, **options)


def _encode(weights, *, quantize=None, prune=None, entropy=None, compress=None, lossless=(), keep_small=1024,
            cast=None, importance=None, metadata=None, chunk_elements=None, zstd_level=9, backend=None,
            layout=None, factorize=None, no_larger_than_raw=True, jobs=None, progress=None):
    """:func:`encode` with every option explicit (no preset)."""
    kernels.resolve(backend)
    tensors, single = _normalise_weights(weights)
    meta = dict(metadata or {})
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EncodeError(f"metadata must map str to str, got {key!r}: {value!r}")
        check_utf8(key, "metadata key")
        check_utf8(value, "metadata value")
    if single:
        meta[SINGLE_ARRAY_KEY] = "true"
    for option, what in ((compress, "compress"), (entropy, "entropy"), (importance, "importance")):
        unknown = sorted(set(option) - set(tensors)) if isinstance(option, Mapping) else []
        if unknown:
            raise EncodeError(f"{what} names tensors that are not being encoded: {unknown}")
    plan = LossyPlan(tensors, quantize, prune, lossless, keep_small, cast, importance, factorize, jobs)

    def encode_one(item):
        name, (code, array) = item
        encoded = encode_tensor(plan, name, code, array, compress, entropy, zstd_level, backend, chunk_elements,
                                layout, no_larger_than_raw)
        if progress is not None:
            progress(name, array.nbytes)
        return encoded

    shared = shared_storage(tensors)
    stored = parallel.map_ordered(encode_one, [item for item in tensors.items() if item[0] not in shared], jobs,
                                  cost=lambda item: item[1][1].size)
    records = _with_aliases(list(tensors), shared, stored)
    blob = write_container(records, tuple(meta.items()))
    _check_writable(blob)
    return blob


def shared_storage(tensors):
    """{name: earlier name} for tensors whose arrays are the same memory (same address, shape, strides and dtype)
    as an earlier tensor's: tied weights, stored once as an alias (spec 3.5.4)."""
    first, shared = {}, {}
    for name, (code, array) in tensors.items():
        if array.size:
            key = (code, array.__array_interface__["data"][0], array.shape, array.strides, array.dtype.str)
            if key in first:
                shared[name] = first[key]
            else:
                first[key] = name
    return shared


def _with_aliases(names, shared, stored):
    """(record, pending) per name in order: the encoded ones from ``stored``, an Alias node for the shared ones."""
    stored = iter(stored)
    records, index = [], {}
    for i, name in enumerate(names):
        index[name] = i
        if name in shared:
            target = records[index[shared[name]]][0].node
            records.append((TensorRecord(name, Node(target.dtype, target.shape, Alias(index[shared[name]]))), []))
        else:
            records.append(next(stored))
    return records


PRUNED_LAYOUT = "relidx"  # the CRNN pruned 30/50/90 %: within 0.05 % of layout="auto", 1/4 of its encode time


def encode_tensor(plan, name, code, array, compress, entropy, zstd_level, backend, chunk_elements, layout=None,
                  bounded=True, sink=None):
    """(TensorRecord with its streams' lengths and CRCs, pending streams) of one tensor under a LossyPlan.

    Options left None get the codings that exploit what the lossy stages did: a quantized tensor's levels are
    entropy-coded (``entropy="auto"``); a tensor only pruning changed gets ``compress="auto"`` and the relative
    index layout (its zeros cost a few bits each); other tensors stay raw and dense.
    With ``bounded``, no tensor takes more bytes than its raw size (``tensor.no_larger_than_raw``). ``sink`` takes
    the streams of a chunked lossless tensor chunk by chunk (``tensor.tensor_node``, each chunk bounded alike), which
    then returns none pending."""
    lossy = name in plan.quantizers
    pruned_only = name in plan.masks and not lossy
    if compress is None:
        compress = "auto" if pruned_only else "none"
    if layout is None and pruned_only:
        layout = PRUNED_LAYOUT
    codings = StreamCodings.for_tensor(name, compress, "auto" if lossy and entropy is None else entropy,
                                       zstd_level, backend, layout)
    node, pending = plan.node(name, code, array, codings, chunk_elements, sink, bounded)
    if bounded and pending:
        node, pending = no_larger_than_raw(node, pending, code, array, codings)
    record = TensorRecord(name, node)
    return (with_stream_facts(record, pending) if pending else record), pending  # none pending: the sink had them


def _check_writable(blob):
    """The encoder refuses to emit what the default decoder would refuse (spec section 1): the header and the
    whole directory are validated with the default limits (cheap: no stream is decoded)."""
    try:
        Container(blob, limits=DEFAULT_LIMITS)
    except DecodeError as exc:
        raise EncodeError(f"the default decoder would refuse this container: {exc}") from None


def save(path, weights, **options):
    """Encode ``weights`` (see :func:`encode`) and write the container to ``path`` atomically."""
    blob = encode(weights, **options)
    with atomic_file(path) as f:
        f.write(blob)
    return len(blob)
