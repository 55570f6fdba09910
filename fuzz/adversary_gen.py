"""Extreme-value container generator for ``fuzz/adversary.py``, written from spec/nncodec-format.md (sections 3-7),
spec/huffman.md and spec/cabac.md.

``generate(rng)`` returns ``(blob, expect_reject)``: container bytes with every CRC resealed, and the rule id the
input breaks on purpose when the generator knows one (the harness then flags an acceptance), else None. Every
extent, count, length, index and parameter is drawn by :func:`pick`: often an extreme (0, 1, the decoder limits N
and N+1, 2^31 +- a little, 2^32, 2^34, 2^63, 2^64-1), else a small honest value. Nodes of every kind are built:
chains with the five layouts and four transforms (honest params or broken ones), concat/sum/product/separable
composites (deep and wide), aliases by the thousand, metadata with runtime architectures; streams in every
coding, the entropy-coded ones made by nncodec's own encoders or written by hand from the spec (a Huffman
constant stream is two bytes for any Element_Count), zstd frames with lying or zero content sizes. A valid
container is sometimes built honestly and then one field replaced by an extreme (:func:`mutate_one`).
"""

import json
import struct
import sys
import pathlib
import zlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from nncodec.bundle import trailer  # noqa: E402
from nncodec.format.assemble import PendingStream, write_container  # noqa: E402
from nncodec.format.dtypes import DTYPE_CODES  # noqa: E402
from nncodec.errors import EncodeError  # noqa: E402
from nncodec.format.limits import DecodeLimits  # noqa: E402
from nncodec.format.records import Alias, Chain, Composite, Node, Stage, Stream, TensorRecord, node_elements  # noqa: E402
from nncodec.stages import coding_by_name, stage_by_name  # noqa: E402

from crafting import reseal  # noqa: E402

__all__ = ["HARNESS_LIMITS", "EXTREMES", "generate", "pick", "mutate_one"]

HARNESS_LIMITS = DecodeLimits(max_output_bytes=2**30)
_DEFAULT = DecodeLimits()
_LIMIT_VALUES = sorted({v for name in ("max_tensors", "max_params_bytes", "max_elements", "expansion_slack",
                                       "max_alphabet", "max_zstd_window", "max_product_macs")
                        for v in (getattr(_DEFAULT, name), getattr(_DEFAULT, name) + 1)}
                       | {HARNESS_LIMITS.max_output_bytes, HARNESS_LIMITS.max_output_bytes + 1})
_FORMAT_BOUNDS = [32, 33, 64, 65, 16, 17, 4096, 4097, 65536, 65537, 2**20, 2**20 + 1]
EXTREMES = sorted({0, 1, 2**31 - 1, 2**31, 2**31 + 5, 2**32, 2**34, 2**34 + 1, 2**63, 2**64 - 1}
                  | set(_LIMIT_VALUES) | set(_FORMAT_BOUNDS))
BIG_EXTENTS = [2**31 - 1, 2**31, 2**31 + 6, 2**32, 2**33, 2**34, 2**34 + 1, 2**63, 2**24, 2**24 + 1, 2**30]
EMPTY_HUGE = [(0, 2**34), (2**34, 0), (0, 2**63), (0, 2**31 + 6), (2**31 + 6, 0), (0, 0)]
CONST_MAX = 2**24  # a Huffman constant stream (2 bytes) pays for this many elements under the expansion rule

FLOATS = ("float16", "float32", "float64", "bfloat16")
INTS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
NAMES = ("", "file", "allow_pickle", "w", "a/b", "nncodec.single_array", "\u00e9\u4e2d", "x" * 300)
HUFFMAN, CABAC = coding_by_name("huffman"), coding_by_name("cabac")


def pick(rng, honest, p_extreme=0.4):
    """``honest`` (an int) or, with probability ``p_extreme``, an extreme value."""
    return rng.choice(EXTREMES) if rng.random() < p_extreme else honest


def _varint(value):
    out = bytearray()
    value %= 1 << 64
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def huffman_constant(value=0):
    """spec/huffman.md 5.3.1.2 Mode 1: every element equals ``value``, whatever the Element_Count."""
    return b"\x01" + _varint((value << 1) ^ (value >> 63))


def zstd_frame(content_size, body=b"", trailing=b""):
    """A single-segment zstd frame declaring ``content_size`` (8-byte field) with one raw block of ``body``."""
    header = b"\x28\xb5\x2f\xfd" + bytes((0xE0,)) + struct.pack("<Q", content_size % (1 << 64))
    block = ((len(body) << 3) | 1).to_bytes(3, "little") + body
    return header + block + trailing


# -- streams -----------------------------------------------------------------------------------------------------

def _elem(name):
    return DTYPE_CODES[name]


def _coded(rng, values, dtype_name):
    """(coding id, stored bytes) of ``values`` in a coding drawn for its type (all made by nncodec's encoders)."""
    values = np.ascontiguousarray(values)
    integer = dtype_name in INTS or dtype_name == "bool"
    choices = ["raw", "zstd", "zstd-shuffle"] + (["huffman", "cabac", "huffman", "cabac"] if integer else
                                                 ["float-planes", "float-planes"] if dtype_name in FLOATS else [])
    name = rng.choice(choices)
    if name == "raw":
        return 0, values.tobytes()
    if name == "float-planes":  # bfloat16 arrives as its uint16 bit patterns: the element type says which
        coder = coding_by_name(name)
        return coder.coding_id, bytes(coder.encode(values, elem_type=_elem(dtype_name)))
    if name in ("huffman", "cabac"):
        data = values.astype(np.int64) if values.dtype != np.uint64 else values
        coder = HUFFMAN if name == "huffman" else type(CABAC)(**rng.choice(
            [{}, {"gt_flags": 0}, {"bounded": "two-sided"}, {"segments": 3}, {"rates": "search"}]))
        try:
            return coder.coding_id, coder.encode(data)
        except EncodeError:  # a parameter the encoder refuses for this array (e.g. more segments than elements)
            return 0, values.tobytes()
    return coding_by_name(name).coding_id, coding_by_name(name).encode(values)


def _stream(rng, values, dtype_name, count=None):
    """(Stream, PendingStream) for ``values``; ``count`` overrides Element_Count (a hand-made stream)."""
    coding, data = _coded(rng, values, dtype_name)
    return _descriptor(rng, coding, _elem(dtype_name), len(values) if count is None else count, data)


def _u64(value):
    return min(value, 2**64 - 1)


def _descriptor(rng, coding, elem, count, data):
    align = rng.choice((0, 0, 0, 0, 0, 3, 6, 12)) if rng.random() < 0.3 else 0
    count = _u64(count)
    return (Stream(coding, elem, align, count, len(data), _crc(data)),
            PendingStream(coding, elem, align, count, data))


def _constant_stream(rng, count, elem_name="int8", value=0):
    """A Huffman Mode-1 stream of ``count`` elements (sometimes zstd frames lying about their size instead)."""
    r = rng.random()
    if r < 0.75:
        return _descriptor(rng, 2, _elem(elem_name), count, huffman_constant(value))
    size = count * np.dtype(elem_name).itemsize
    if r < 0.9:
        return _descriptor(rng, 1, _elem(elem_name), count, zstd_frame(size))
    return _descriptor(rng, 1, _elem(elem_name), count, zstd_frame(pick(rng, size, 0.8), b"\0" * rng.randrange(4)))


# -- shapes -------------------------------------------------------------------------------------------------------

def extent(rng):
    return rng.choice(BIG_EXTENTS + EXTREMES) if rng.random() < 0.25 else rng.choice((0, 1, 1, 2, 3, 4, 5, 8))


def shape(rng):
    r = rng.random()
    if r < 0.15:
        return rng.choice(EMPTY_HUGE)
    if r < 0.2:
        return tuple(rng.choice((0, 1, 2)) for _ in range(rng.choice((32, 33, 31))))
    if r < 0.45:
        big = [1] * rng.choice((1, 2, 2, 3))
        big[rng.randrange(len(big))] = rng.choice(BIG_EXTENTS)
        return tuple(big)
    return tuple(extent(rng) for _ in range(rng.choice((0, 1, 2, 2, 2, 3, 4))))


def matrix_view(shp):
    if len(shp) == 0:
        return 1, 1
    if len(shp) == 1:
        return 1, shp[0]
    return shp[0], _u64(node_elements(shp[1:]))


# -- transforms ----------------------------------------------------------------------------------------------------

def _steps(rng, count):
    honest = [rng.choice((0.5, 1.0, 2.0**-20, 65504.0)) for _ in range(min(count, 64))]
    if honest and rng.random() < 0.05:
        honest[0] = float(rng.choice(("inf", "nan")))
    return struct.pack(f"<{len(honest)}f", *honest)


def transform_params(rng, name, shp, out_type):
    """Params of a transform stage: honest for ``shp``, or with one field extreme or cut short."""
    axis = rng.choice([255, 255] + list(range(min(len(shp), 3))) + [len(shp), 254])
    per_axis = 1 if axis == 255 else (shp[axis] if axis < len(shp) else 1)
    if name in ("uniform", "dq"):
        count = pick(rng, per_axis if per_axis <= 64 else 1, 0.2)
        params = bytes((out_type, axis)) + _varint(count) + _steps(rng, count)
        if name == "dq" and rng.random() < 0.5:
            params += bytes((rng.choice((8, 16, 32, 4, 0, 255)),))
    elif name == "codebook":
        count = pick(rng, rng.choice((1, 2, 16)), 0.3)
        params = bytes((out_type,)) + _varint(count) + _steps(rng, count)
    else:
        params = bytes((out_type,))
    if rng.random() < 0.05:
        params = params[:rng.randrange(len(params) + 1)]
    return params


def float_transforms(rng, shp, in_name, target=None):
    """Stages after the layout turning ``in_name`` elements into ``target`` (a float name; None: any float):
    ([Stage], the chain's output dtype name)."""
    if in_name in INTS:
        out = target if target in ("float32", "float16", "float64") else rng.choice(("float32", "float16", "float64"))
        name = rng.choice(("uniform", "uniform", "dq", "codebook"))
        return [Stage(stage_by_name(name).stage_id, transform_params(rng, name, shp, _elem(out)))], out
    if in_name in ("float16", "bfloat16") and target in (None, "float32", "float64") and target != in_name:
        out = target or rng.choice(("float32", "float64"))
        return [Stage(18, bytes((_elem(out),)))], out
    return [], in_name


# -- chains --------------------------------------------------------------------------------------------------------

class Draft:
    """A node under construction: its records' streams (payload order) are collected in ``pending``."""

    def __init__(self, rng, budget=64, honest=False):
        self.rng = rng
        self.honest = honest  # every field honest but the extents (one uniform step of 1.0 to floats)
        self.pending = []
        self.budget = budget  # honest arrays are at most this many elements; bigger chains are hand-made

    def chain(self, shp, dtype=None):
        """A chain node of shape ``shp``: honest when small, hand-made from the spec when huge."""
        rng = self.rng
        n = node_elements(shp)
        if n <= self.budget and max(shp, default=0) <= self.budget and rng.random() < 0.7:
            return self._honest_chain(shp, dtype)
        m, cols = matrix_view(shp)
        if rng.random() < 0.5 and m <= 4096:
            return self._sparse_entries_chain(shp, dtype, m, cols)
        return self._constant_chain(shp, dtype)

    def _finish(self, shp, dtype, streams, layout_id, params, elem_name):
        if self.honest and dtype in ("float16", "float32", "float64") and elem_name in INTS:
            stages, out = [Stage(16, bytes((_elem(dtype), 255)) + _varint(1) + struct.pack("<f", 1.0))], dtype
        elif dtype in INTS:
            stages, out = [], elem_name
        else:
            stages, out = float_transforms(self.rng, shp, elem_name, dtype)
        descriptors = []
        for desc, pend in streams:
            descriptors.append(desc)
            self.pending.append(pend)
        if self.rng.random() < 0.03 and not self.honest:
            stages = stages + [Stage(self.rng.choice((0, 6, 15, 20, 255)), b"")]
        declared = out if dtype is None or (self.rng.random() < 0.05 and not self.honest) else dtype
        return Node(_elem(declared), tuple(shp), Chain(tuple(descriptors), (Stage(layout_id, params),) + tuple(stages)))

    def _honest_chain(self, shp, dtype):
        """A small random array laid out by nncodec's own layout encoder, its streams in random codings."""
        rng = self.rng
        elem = dtype if dtype in INTS else rng.choice(INTS + FLOATS if dtype is None else ("int8", "int16", dtype))
        if elem == "bfloat16":
            elem = "float16"
        array = np.zeros(shp, dtype=elem)
        flat = array.reshape(-1)
        for _ in range(rng.randrange(min(flat.size, 6) + 1)):
            flat[rng.randrange(flat.size)] = rng.choice((1, 2, 3, -1)) if elem[0] != "u" else rng.choice((1, 2, 3))
        layout = rng.choice(("dense", "relidx", "csr", "cer", "cser"))
        stage = stage_by_name(layout)
        if layout == "relidx":
            params, arrays = stage.encode(array, rng.choice((1, 2, 8, 16)))
        else:
            params, arrays = stage.encode(array)
            if layout == "dense":
                arrays = [arrays] if isinstance(arrays, np.ndarray) else arrays
        streams = [_stream(rng, a.reshape(-1), a.dtype.name) for a in arrays]
        return self._finish(shp, dtype, streams, stage.stage_id, params, elem)

    def _constant_chain(self, shp, dtype):
        """A dense chain whose one stream is a Huffman constant (or a lying zstd frame) of the node's count."""
        rng = self.rng
        if self.honest:
            stream = _descriptor(rng, 2, _elem("int8"), node_elements(shp), huffman_constant(rng.choice((1, -1))))
        else:
            stream = _constant_stream(rng, pick(rng, node_elements(shp), 0.2), "int8", rng.choice((0, 1, -1)))
        return self._finish(shp, dtype, [stream], 1, b"", "int8")

    def _sparse_entries_chain(self, shp, dtype, m, n):
        """A relidx/csr/cer/cser chain written from spec 4.6-4.9 with a few entries at extreme columns."""
        rng = self.rng
        columns = sorted({c for c in (rng.choice((0, 1, n - 1, 2**31 - 1, 2**31, 2**31 + 5, 2**32, 2**33 + 3, n, n + 1,
                                                   2**34 - 1))
                                       for _ in range(rng.choice((1, 1, 2, 3)))) if 0 <= c < 2**63 and (c < n or (rng.random() < 0.1 and not self.honest))})
        rows = [rng.randrange(m) if m else 0 for _ in columns]
        entries = sorted(set(zip(rows, columns)))
        layout = rng.choice(("relidx", "csr", "csr", "cer", "cer", "cser"))
        values = np.array([rng.choice((1, 2, -3)) for _ in entries], dtype="int8")

        def idx(vals):
            vals = [min(max(int(v), 0), 2**64 - 1) for v in vals]
            kind = "uint64" if vals and max(vals) >= 2**32 else rng.choice(("int64", "uint32", "uint16", "uint8"))
            if vals and max(vals) > np.iinfo(kind).max:
                kind = "int64"
            return _stream(rng, np.array(vals, dtype=kind), kind)

        row_counts = np.bincount([r for r, _ in entries], minlength=m) if m else np.zeros(0, np.int64)
        gaps, prev = [], {}
        for r, c in entries:
            gaps.append(c if r not in prev else c - prev[r] - 1)
            prev[r] = c
        if layout == "relidx":
            bits = rng.choice((16, 16, 16, 8, 1))
            rel, last = [], -1
            vals = []
            for (r, c), v in zip(entries, values):
                g = r * n + c - last - 1
                while g > 2**bits - 1 and len(rel) < 2**15:  # past that, the gaps lie (the decoder must see it)
                    rel.append(2**bits - 1)
                    vals.append(0)
                    g -= 2**bits
                rel.append(g)
                vals.append(v)
                last = r * n + c
            streams = [idx(rel), _stream(rng, np.array(vals, dtype="int8"), "int8")]
            return self._finish(shp, dtype, streams, 2, bytes((bits,)), "int8")
        rows_stream = (_constant_stream(rng, m, "uint8", 0) if m > 64 and not entries
                       else idx(row_counts) if m <= 4096 else _constant_stream(rng, m, "uint8", 1))
        if layout == "csr":
            streams = [rows_stream, idx(gaps), _stream(rng, values, "int8")]
            return self._finish(shp, dtype, streams, 3, b"", "int8")
        # cer/cser: Omega = [0, the values...]; one group per row per value (values all distinct here: one each)
        omega = np.array([0] + sorted(set(values.tolist())), dtype="int8")
        group_rows, group_vals, sizes, cols_gaps = [], [], [], []
        for r in range(m if m <= 4096 else 0):
            row = [(c, v) for (rr, c), v in zip(entries, values) if rr == r]
            if layout == "cer":
                present = [int(np.searchsorted(omega[1:], v)) for _, v in row]
                count_groups = max(present) + 1 if present else 0
                group_rows.append(count_groups)
                for g in range(count_groups):
                    cs = sorted(c for c, v in row if int(np.searchsorted(omega[1:], v)) == g)
                    sizes.append(len(cs))
                    cols_gaps += [c if k == 0 else c - cs[k - 1] - 1 for k, c in enumerate(cs)]
            else:
                by_value = sorted({int(np.searchsorted(omega, v)) for _, v in row})
                group_rows.append(len(by_value))
                for gv in by_value:
                    cs = sorted(c for c, v in row if int(np.searchsorted(omega, v)) == gv)
                    group_vals.append(gv)
                    sizes.append(len(cs))
                    cols_gaps += [c if k == 0 else c - cs[k - 1] - 1 for k, c in enumerate(cs)]
        rows_stream = idx(group_rows) if m <= 4096 else _constant_stream(rng, m, "uint8", 0)
        streams = [_stream(rng, omega, "int8"), rows_stream] + ([idx(group_vals)] if layout == "cser" else [])
        streams += [idx(sizes), idx(cols_gaps)]
        return self._finish(shp, dtype, streams, 4 if layout == "cer" else 5, b"", "int8")

    # -- composites ------------------------------------------------------------------------------------------------

    def node(self, shp, dtype, depth):
        """Any node of shape ``shp``: a chain, or (while depth allows, and a little past it) a composite."""
        rng = self.rng
        if depth > 10 or rng.random() < 0.55 + 0.1 * depth:
            return self.chain(shp, dtype)
        combine = rng.choice(("concat", "sum", "product", "separable", "deep", "wide"))
        return getattr(self, "_" + combine)(shp, dtype or rng.choice(FLOATS), depth)

    def _composite(self, shp, dtype, combine, children):
        if self.rng.random() < 0.02:
            combine = self.rng.choice((4, 255))
        return Node(_elem(dtype), tuple(shp), Composite(combine, tuple(children)))

    def _concat(self, shp, dtype, depth):
        shp = shp or (1,)
        parts = self.rng.choice((1, 2, 3))
        first = [shp[0] // parts] * (parts - 1)
        extents = first + [shp[0] - sum(first)]
        return self._composite(shp, dtype, 0, [self.node((e,) + tuple(shp[1:]), dtype, depth + 1) for e in extents])

    def _deep(self, shp, dtype, depth):
        """Concat of one child, nested to depth 8 and past it (R3.5-d)."""
        node = self.chain(shp, dtype)
        for _ in range(self.rng.choice((7, 8, 9, 12))):
            node = Node(_elem(dtype), tuple(shp), Composite(0, (node,)))
        return node

    def _wide(self, shp, dtype, depth):
        """A composite of about 4096 copies of one chain: concat of empty chunks and one real one, or a sum of big
        cheap constants (each child a 2-byte stream standing for up to 2^24 elements)."""
        rng = self.rng
        count = rng.choice((4095, 4096, 4097, 1000))
        if rng.random() < 0.5:
            shp = (rng.choice((0, 0, 1, 2**24)),) + tuple(shp[1:3])
            last = self._constant_chain(shp, dtype)
            children = [self._copies(self._constant_chain((0,) + shp[1:], dtype), count - 1), [last]]
            return self._composite(shp, dtype, 0, children[0] + children[1])
        shp = (rng.choice((2**20, 2**22, 2**24, 1)),)
        return self._composite(shp, dtype, 1, self._copies(self._constant_chain(shp, dtype), count))

    def _copies(self, chain, count):
        """``count`` children equal to ``chain`` (just built, its streams last in ``pending``), each with its own
        copy of the streams."""
        mine = self.pending[len(self.pending) - len(chain.body.streams):]
        self.pending += mine * (count - 1)
        return [chain] * count

    def _sum(self, shp, dtype, depth):
        count = self.rng.choice((1, 2, 2, 3, 64))
        return self._composite(shp, dtype, 1, [self.node(shp, dtype, depth + 1) for _ in range(count)])

    def _inner(self):
        return self.rng.choice(BIG_EXTENTS + [0, 1, 2, 3, 2**20, 2**24, CONST_MAX])

    def _product(self, shp, dtype, depth):
        m, n = matrix_view(shp) if self.rng.random() < 0.8 else (extent(self.rng), extent(self.rng))
        k = self._inner()
        return self._composite(shp, dtype, 2, [self.node((m, k), dtype, depth + 1),
                                               self.node((k, n), dtype, depth + 1)])

    def _separable(self, shp, dtype, depth):
        o, i, kh, kw = shp if len(shp) == 4 else (1, 1, 1, 1)
        r = self._inner()
        return self._composite((o, i, kh, kw), dtype, 3, [self.node((_u64(o * kw), r), dtype, depth + 1),
                                                          self.node((r, _u64(i * kh)), dtype, depth + 1)])


# -- containers ----------------------------------------------------------------------------------------------------

def _architecture(rng, records):
    """An nncodec.architecture entry naming 2-D weights of the container (once, or from thousands of layers)."""
    weights = [r for r in records if len(r.node.shape) == 2 and 1 <= r.node.shape[1] <= 2**20 and r.node.shape[0]]
    if not weights:
        return None
    w = rng.choice(weights)
    layers = [{"type": "linear", "weight": w.name}]
    if w.node.shape[0] == w.node.shape[1] and rng.random() < 0.5:
        layers = layers * rng.choice((2, 64, 4096))
    return json.dumps({"format": "nncodec.sequential/1", "input_shape": [w.node.shape[1]], "layers": layers})


def _aliases(rng, records, count):
    """``count`` alias records to record 0 (mostly honest; some with broken targets, dtypes or shapes)."""
    target = records[0].node
    out = []
    for i in range(count):
        t = 0 if rng.random() < 0.97 else pick(rng, len(records) + i, 0.7)
        shp = target.shape if rng.random() < 0.98 else shape(rng)
        out.append(TensorRecord(f"alias{i}", Node(target.dtype, shp, Alias(t))))
    return out


def expensive_target(draft):
    """A product (1, 1) of two cheap 2^24-long factors: 2^24 multiply-adds and 2 x 128 MiB of float64 per decode."""
    k = CONST_MAX
    return Node(_elem("float32"), (1, 1), Composite(2, (draft._constant_chain((1, k), "float32"),
                                                       draft._constant_chain((k, 1), "float32"))))


def build(rng):
    """(records, pending streams, metadata) of one generated container."""
    scenario = rng.random()
    draft = Draft(rng, honest=scenario < 0.3)
    records = []
    if scenario < 0.1:
        records.append(TensorRecord("target", expensive_target(draft)))
        records += _aliases(rng, records, rng.choice((1, 64, 4096)))
    elif scenario < 0.2:
        shp = rng.choice(((1, 1), (1, 2), (2, 1), (3, 4)))
        records.append(TensorRecord("factors", draft._product(shp, rng.choice(("float32", "float16")), 7)))
    elif scenario < 0.3:
        records.append(TensorRecord("wide", draft._wide((), rng.choice(("float32", "float64")), 1)))
    else:
        for i in range(rng.choice((1, 1, 2, 3))):
            shp = shape(rng)
            dtype = rng.choice((None,) + FLOATS + INTS[:2])
            records.append(TensorRecord(rng.choice(NAMES) if rng.random() < 0.5 else f"t{i}",
                                        draft.node(shp, dtype, 1)))
        if rng.random() < 0.1:
            records += _aliases(rng, records, rng.choice((1, 3, 100)))
    metadata = []
    if rng.random() < 0.3:
        arch = _architecture(rng, records)
        if arch is not None:
            metadata.append(("nncodec.architecture", arch))
    if rng.random() < 0.2:
        metadata.append((rng.choice(("k", "", "nncodec.single_array")), rng.choice(("v", "true", "\u00e9" * 10))))
    if rng.random() < 0.02 and metadata:
        metadata.append(metadata[0])
    return records, draft.pending, metadata


def _container(records, pending, metadata):
    """Container bytes; the payload holds each pending stream's bytes at the writer's alignment."""
    tensors = [(record, []) for record in records]
    if tensors:
        tensors[0] = (records[0], list(pending))
    return write_container(tensors, tuple(metadata))


def mutate_one(rng, records):
    """``records`` with one field of one node replaced by an extreme value (count, length, extent, param, ...)."""
    nodes = []

    def walk(node, path):
        nodes.append(path)
        if isinstance(node.body, Composite):
            for k, child in enumerate(node.body.children):
                walk(child, path + (k,))

    for i, record in enumerate(records):
        walk(record.node, (i,))
    path = rng.choice(nodes)

    def edit(node):
        body = node.body
        what = rng.random()
        if what < 0.3 and node.shape:
            shp = list(node.shape)
            shp[rng.randrange(len(shp))] = rng.choice(EXTREMES + BIG_EXTENTS)
            return Node(node.dtype, tuple(shp), body)
        if isinstance(body, Chain) and body.streams and what < 0.8:
            streams = list(body.streams)
            j = rng.randrange(len(streams))
            s = streams[j]
            fieldname = rng.choice(("count", "length", "align_log2", "elem_type", "coding"))
            value = {"count": rng.choice(EXTREMES), "length": rng.choice(EXTREMES),
                     "align_log2": rng.choice((0, 12, 13, 255)), "elem_type": rng.choice((0, 1, 9, 13, 14, 15, 16)),
                     "coding": rng.choice((0, 1, 2, 3, 4, 5, 6))}[fieldname]
            fields = dict(coding=s.coding, elem_type=s.elem_type, align_log2=s.align_log2, count=s.count,
                          length=s.length, crc32=s.crc32)
            fields[fieldname] = value
            streams[j] = Stream(**fields)
            return Node(node.dtype, node.shape, Chain(tuple(streams), body.stages))
        if isinstance(body, Chain):
            stages = list(body.stages)
            j = rng.randrange(len(stages))
            params = bytearray(stages[j].params)
            if params and rng.random() < 0.7:
                pos = rng.randrange(len(params))
                params[pos:pos + 1] = _varint(rng.choice(EXTREMES))
            else:
                params += _varint(rng.choice(EXTREMES))
            stages[j] = Stage(stages[j].stage_id, bytes(params))
            return Node(node.dtype, node.shape, Chain(body.streams, tuple(stages)))
        if isinstance(body, Alias):
            return Node(node.dtype, node.shape, Alias(rng.choice(EXTREMES)))
        return Node(rng.choice((node.dtype, 0, 11, 14)), node.shape, body)

    def rebuild(node, rest):
        if not rest:
            return edit(node)
        children = list(node.body.children)
        children[rest[0]] = rebuild(children[rest[0]], rest[1:])
        return Node(node.dtype, node.shape, Composite(node.body.combine, tuple(children)))

    out = list(records)
    target = out[path[0]]
    out[path[0]] = TensorRecord(target.name, rebuild(target.node, path[1:]))
    return out


def _wrap(rng, blob):
    """Now and then: the container appended to a host with a (possibly damaged) trailer, or trailing bytes."""
    r = rng.random()
    if r < 0.06:
        host = b"\0" * 64 + blob
        tail = bytearray(trailer(len(blob)))
        what = rng.random()
        if what < 0.3:
            tail[8:16] = struct.pack("<Q", rng.choice(EXTREMES) % 2**64)
        elif what < 0.5:
            tail[16] = 1
        if what < 0.8:
            tail[20:24] = struct.pack("<I", _crc(bytes(tail[:20])))
        return host + bytes(tail)
    if r < 0.08:
        return blob + b"\0" * rng.choice((1, 7))
    return blob


def generate(rng):
    """(blob, rule the input breaks on purpose or None)."""
    expect = None
    records, pending, metadata = build(rng)
    if rng.random() < 0.35:
        records = mutate_one(rng, records)
    if rng.random() < 0.05:
        # spec 5.2: a frame declaring content size 0 followed by arbitrary bytes is R5.2-c, whatever else holds
        frame = zstd_frame(0) + bytes(rng.randrange(1, 256) for _ in range(rng.choice((1, 8, 64))))
        records = list(records) + [TensorRecord("zero-frame", Node(_elem("uint8"), (0,), Chain(
            (Stream(1, _elem("uint8"), 0, 0, len(frame), _crc(frame)),), (Stage(1, b""),))))]
        pending = list(pending) + [PendingStream(1, _elem("uint8"), 0, 0, frame)]
        expect = "R5.2-c"
    blob = _container(records, pending, metadata)
    blob = reseal(blob)
    return _wrap(rng, blob), expect
