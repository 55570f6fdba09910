"""Encoder-side planning: which stages and codings a tensor gets, and the node + pending streams they produce.

The container writer (``container.write_container``) only assembles bytes; everything that decides how a tensor is
represented lives here.
"""

import dataclasses
import fnmatch
from collections.abc import Mapping

import numpy as np

from ..format.assemble import PendingStream

from ..format.header import crc32
from ..format.dtypes import code_of, float32_to_bfloat16, is_integer_code, numpy_dtype
from ..errors import EncodeError
from ..kernels import parallel
from .layout_choice import layout_candidates, parse_layout
from .option_names import CAST_CHOICES, FLOAT_CODINGS, INTEGER_CODINGS
from ..quant import parse_prune, parse_quantizer
from ..quant.model_scope import resolve_model_scope
from ..format.records import (CONCAT, PRODUCT, SEPARABLE, SUM, Chain, Composite, Directory, Node, Stage, Stream,
                              TensorRecord, serialize_directory)
from ..stages import coding_by_name, stage_by_name
from ..stages.transform import FLOAT_OUT  # the dtypes quantized: a transform's outputs (float8 stays lossless)
from ..stages.float_planes import WIDTHS

__all__ = ["StreamCodings", "tensor_node", "no_larger_than_raw", "with_stream_facts", "FLOAT_CODINGS",
           "INTEGER_CODINGS"]

AUTO_SAVING = 0.97  # "auto" keeps a raw stream unless a coding saves at least 3% (raw streams can be mmapped)
# "auto" codes float streams with float-planes (spec 5.5: at the byte planes' entropy, at memory speed); zstd is
# tried too only where float-planes saves more than half, where repeats an order-0 code cannot see may matter
FLOAT_PLANES_TYPES = frozenset(WIDTHS)
AUTO_ZSTD_TOO = 0.5


def _choice(option, name, default, allowed, what, none_means_default=False):
    choice = option.get(name, default) if isinstance(option, Mapping) else option
    if choice is None and none_means_default:
        choice = default
    if choice not in allowed:
        raise EncodeError(f"tensor {name!r}: {what}={choice!r}; choose one of {', '.join(allowed)}")
    return choice


class StreamCodings:
    """The coding choices for one tensor's streams: ``float_choice`` for float streams, ``int_choice`` for
    integer (and bool) streams; ``layout`` is the parsed layout choice (``layout_choice.parse_layout``)."""

    def __init__(self, float_choice, int_choice, zstd_level, backend, layout=("dense", None)):
        self.float_choice, self.int_choice = float_choice, int_choice
        self.zstd_level, self.backend = zstd_level, backend
        self.layout = layout

    @classmethod
    def for_tensor(cls, name, compress, entropy, zstd_level, backend, layout=None):
        float_choice = _choice(compress, name, "none", FLOAT_CODINGS, "compress")
        int_default = "raw" if float_choice == "none" else "auto"
        int_choice = _choice(entropy, name, int_default, INTEGER_CODINGS, "entropy", none_means_default=True)
        return cls(float_choice, int_choice, zstd_level, backend, parse_layout(lookup(layout, name)[0], name))

    def code(self, values, elem_code):
        """(coding, stored bytes) for a 1-D stream of element type ``elem_code`` (bfloat16 may travel in uint16
        arrays: the code, not the array, says whether it is an integer stream): the chosen coding, or for "auto"
        the smallest candidate, kept only if it saves at least 3% over raw."""
        raw = coding_by_name("raw")
        integer = is_integer_code(elem_code)
        choice = self.int_choice if integer else self.float_choice
        if choice in ("none", "raw") or not values.size:
            return raw, raw.encode(values)
        if choice != "auto":
            coding = self._coding(choice)
            return coding, self._encode(coding, values, elem_code)
        if integer:
            names = ("zstd", "huffman", "cabac")
        elif elem_code in FLOAT_PLANES_TYPES:
            names = ("float-planes",)
        else:
            names = ("zstd", "zstd-shuffle") if values.dtype.itemsize > 1 else ("zstd",)
        candidates = [(c, self._encode(c, values, elem_code)) for c in map(self._coding, names)]
        if names == ("float-planes",) and len(candidates[0][1]) < AUTO_ZSTD_TOO * values.nbytes:
            candidates.append((self._coding("zstd"), self._encode(self._coding("zstd"), values, elem_code)))
        coding, stored = min(candidates, key=lambda c: len(c[1]))
        if len(stored) >= AUTO_SAVING * values.nbytes:
            return raw, raw.encode(values)
        return coding, stored

    def _encode(self, coding, values, elem_code):
        """``coding``'s stored bytes for ``values`` (float-planes needs the element type: bfloat16 may be uint16)."""
        if coding.name == "float-planes":
            return coding.encode(values, backend=self.backend, elem_type=elem_code)
        return coding.encode(values, backend=self.backend)

    def _coding(self, name):
        coding = coding_by_name(name)
        return type(coding)(level=self.zstd_level) if name.startswith("zstd") else coding


def chain_node(code, array, codings, transforms=(), elem_code=None):
    """A chain node: a layout over ``array`` (levels or values), then ``transforms`` (Stage objects).

    ``code`` is the node's output dtype; ``elem_code`` the element dtype of the layout's values (default: ``code``,
    for lossless chains; bfloat16 travels in uint16 arrays, so it cannot be inferred from the array); index
    streams of sparse layouts have their own unsigned types. The layout is ``codings.layout``'s candidate with
    the smallest coded size (stream bytes plus the node's directory bytes; dense wins ties).
    """
    elem = code if elem_code is None else elem_code
    best = None
    for layout, options in layout_candidates(codings.layout):
        params, stream_arrays = layout.encode(array, **options)
        pending = []
        for i, values in enumerate(stream_arrays):
            stream_elem = elem if i == layout.values_stream else code_of(values.dtype)
            coding, stored = codings.code(values, stream_elem)
            pending.append(PendingStream(coding.coding_id, stream_elem, coding.align_log2, values.size, stored))
        streams = tuple(Stream(p.coding, p.elem_type, p.align_log2, p.count, len(p.data), 0) for p in pending)
        stages = (Stage(layout.stage_id, params),) + tuple(transforms)
        node = Node(code, array.shape, Chain(streams, stages))
        size = node_size(node, pending)
        if best is None or size < best[0]:
            best = (size, node, pending)
    return best[1], best[2]


def node_size(node, pending):
    """Bytes a node costs: its streams plus its share of the directory (alignment padding aside)."""
    directory = serialize_directory(Directory((), (TensorRecord("", node),)))
    return sum(len(p.data) for p in pending) + len(directory)


def tensor_node(code, array, codings, chunk_elements=None, jobs=None, sink=None, bounded=False):
    """The node for a lossless tensor, split into concat chunks along axis 0 when larger than chunk_elements: as
    few chunks as keep each within chunk_elements (or one row), of equal rows but the last, so threads share the
    work evenly; they are coded on up to ``jobs`` threads (the bytes do not depend on it).

    ``sink(pending, start, stop)``, if given, takes each chunk's pending streams in order as soon as it is coded
    (rows ``start`` to ``stop``), with at most ``2 * jobs`` chunks coded ahead; the chunks' streams then carry their
    lengths and CRCs already and the returned pending list is empty. A streaming writer spools and drops them, so
    its memory does not grow with the tensor. With ``bounded``, each chunk is stored in at most its raw bytes
    (:func:`no_larger_than_raw`), so a tensor coded whole and one spooled chunk by chunk get the same bytes."""
    if not (chunk_elements and array.ndim >= 1 and array.size > chunk_elements and array.shape[0] > 1):
        return chain_node(code, array, codings)
    row = max(1, array.size // array.shape[0])
    count = -(-array.shape[0] // max(1, chunk_elements // row))  # >= 2: the rows exceed chunk_elements
    rows = -(-array.shape[0] // count)
    starts = range(0, array.shape[0], rows)

    def code_chunk(start):
        chunk = array[start:start + rows]
        node, pending = chain_node(code, chunk, codings)
        return no_larger_than_raw(node, pending, code, chunk, codings) if bounded else (node, pending)

    if sink is None:
        parts = parallel.map_ordered(code_chunk, starts, jobs)
        children = tuple(child for child, _ in parts)
        return Node(code, array.shape, Composite(CONCAT, children)), [p for _, streams in parts for p in streams]
    children = []
    for start, (child, streams) in zip(starts, parallel.imap_ordered(code_chunk, starts, jobs)):
        children.append(_filled(child, iter(streams)))
        sink(streams, start, min(start + rows, array.shape[0]))
    return Node(code, array.shape, Composite(CONCAT, tuple(children))), []


def with_stream_facts(record, pending):
    """Fill each placeholder Stream's length and CRC from its pending data (the writer's last step)."""
    return TensorRecord(record.name, _filled(record.node, iter(pending)))


def _filled(node, pending):
    # a plain recursive function, not a closure over itself: such a reference cycle would keep the pending
    # streams (views of the caller's tensor) alive until the cyclic GC runs, doubling a streaming writer's memory
    if isinstance(node.body, Chain):
        streams = []
        for s in node.body.streams:
            p = next(pending)
            streams.append(Stream(s.coding, s.elem_type, s.align_log2, s.count, len(p.data), crc32(p.data)))
        return Node(node.dtype, node.shape, Chain(tuple(streams), node.body.stages))
    return Node(node.dtype, node.shape,
                Composite(node.body.combine, tuple(_filled(c, pending) for c in node.body.children)))


# -- lossy front end (spec 4.2 to 4.4) ---------------------------------------------------------------------------


def smallest_int_dtype(levels):
    """The narrowest integer dtype holding every level (unsigned when none is negative)."""
    lo, hi = (int(levels.min()), int(levels.max())) if levels.size else (0, 0)
    kinds = ("<u1", "<u2", "<u4", "<u8") if lo >= 0 else ("<i1", "<i2", "<i4", "<i8")
    for name in kinds:
        info = np.iinfo(name)
        if info.min <= lo and hi <= info.max:
            return np.dtype(name)
    return np.dtype("<i8")


def quantized_node(code, quantized, codings):
    """The chain node for a :class:`nncodec.quant.Quantized`: dense levels, then its uniform, dq or codebook stage,
    whose Out_Type is the tensor's float dtype ``code`` (float32 for any other)."""
    out_code = code if code in FLOAT_OUT else 12
    levels = quantized.levels
    codebook = quantized.codebook
    if quantized.kind == "codebook":
        levels, codebook = frequent_entry_first(levels, codebook)
    levels = levels.astype(smallest_int_dtype(levels))
    if quantized.kind == "dq":
        transform = stage_by_name("dq").stage(out_code, quantized.steps, quantized.axis, quantized.states)
    elif quantized.kind == "uniform":
        transform = stage_by_name("uniform").stage(out_code, quantized.steps, quantized.axis)
    else:
        transform = stage_by_name("codebook").stage(out_code, codebook)
    return chain_node(out_code, levels, codings, (transform,), elem_code=code_of(levels.dtype))


def frequent_entry_first(levels, codebook):
    """(levels, codebook) with the entries reordered by decreasing use, so that the most used one (the zero of
    pruned weights) is index 0: the implicit element of the csr and relidx layouts, and the cheapest level for
    cabac's binarization (bench_layouts.py: dense + cabac 0.96 -> 0.81 bits/weight at 90% pruning, k = 16).
    The decoded floats are the same."""
    order = np.argsort(-np.bincount(levels.reshape(-1), minlength=codebook.size), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[levels], codebook[order]


def cast_node(code, array, target, codings):
    """Store a float tensor as float16 or bfloat16 (lossy, round to nearest even) plus a widening cast stage."""
    target_code = CAST_CHOICES[target]
    if target_code == 10:
        narrow = array.astype("<f2")
    else:
        narrow = float32_to_bfloat16(array.astype("<f4"))
    widened = 13 if code == 13 else 12
    node, pending = chain_node(widened, narrow, codings, (stage_by_name("cast").stage(widened),),
                               elem_code=target_code)
    return node, pending


def lookup(option, name):
    """The value ``option`` gives tensor ``name``: the option itself, or for a mapping of fnmatch patterns the
    value of the first pattern that matches (``None`` if none does). Returns (value, explicit), where explicit
    says a pattern other than ``"*"`` chose it."""
    if not isinstance(option, Mapping):
        return option, False
    for pattern, value in option.items():
        if fnmatch.fnmatchcase(name, pattern):
            return value, pattern != "*"
    return None, False


def as_float64(code, array):
    """float64 values of a float tensor (bfloat16 may arrive as uint16 bit patterns)."""
    if code == 11 and array.dtype == np.uint16:
        return (array.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return array.astype(np.float64)


# -- factored weights (spec 3.5.3) --------------------------------------------------------------------------------

def _factor_child(out_code, values, quantizer, codings):
    """A chain node for one factor (float64 ``values``): quantized by ``quantizer``, or stored as ``out_code``."""
    if quantizer is not None:
        return quantized_node(out_code, quantizer.quantize(values), codings)
    return chain_node(out_code, values.astype(numpy_dtype(out_code)), codings)


def factored_node(code, factors, quantizer, codings):
    """(node, pending streams) for :class:`nncodec.lowrank.Factors`: a product (or separable) composite of the two
    factors, summed with the sparse part when there is one (spec 3.5.3). Each factor and the sparse part is a chain
    of its own, quantized by ``quantizer`` when given, else stored, in the tensor's float dtype."""
    out_code = code if code in FLOAT_OUT else 12
    left, left_pending = _factor_child(out_code, factors.left, quantizer, codings)
    right, right_pending = _factor_child(out_code, factors.right, quantizer, codings)
    combine = SEPARABLE if factors.separable else PRODUCT
    node = Node(out_code, tuple(factors.shape), Composite(combine, (left, right)))
    pending = left_pending + right_pending
    if factors.sparse is not None:
        sparse, sparse_pending = _factor_child(out_code, factors.sparse, quantizer, codings)
        node = Node(out_code, tuple(factors.shape), Composite(SUM, (sparse, node)))
        pending = sparse_pending + pending
    return node, pending


def fit_factors(array, spec):
    """:class:`nncodec.lowrank.Factors` of a float64 ``array`` for a factorize spec string (not ``"auto"``)."""
    from .. import lowrank
    kind, options = lowrank.parse_factorize(spec)
    if kind == "sparse+lowrank":
        return lowrank.sparse_plus_lowrank(array, options.pop("rank"), options.pop("density"), **options)
    fit = lowrank.separable_factors if kind == "separable" else lowrank.low_rank
    return fit(array, **options)


def _stored_bytes(node, pending):
    """Stream bytes plus stage parameter bytes of a node: what choosing between encodings compares."""
    params = 0
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n.body, Chain):
            params += sum(len(stage.params) for stage in n.body.stages)
        else:
            stack.extend(n.body.children)
    return params + sum(len(p.data) for p in pending)


def no_larger_than_raw(node, pending, code, array, codings):
    """``(node, pending)`` as given when its streams and stage parameters take at most the tensor's raw bytes
    (``array.nbytes``); else the tensor as given (exact), dense, in its own codings if that fits, else in raw
    streams, which take exactly its raw bytes. So no tensor is ever stored larger than it is, whatever the layout,
    coding or lossy stage asked for (a CER layout or a codebook on a small tensor can cost more than its values)."""
    if _stored_bytes(node, pending) <= array.nbytes:
        return node, pending
    dense = StreamCodings(codings.float_choice, codings.int_choice, codings.zstd_level, codings.backend)
    node, pending = chain_node(code, array, dense)
    if _stored_bytes(node, pending) <= array.nbytes:
        return node, pending
    return chain_node(code, array, StreamCodings("none", "raw", codings.zstd_level, codings.backend))


AUTO_RANK_MARGINS_DB = (3.0, 6.0, 10.0)  # "auto" tries SVD ranks this much above the plain encoding's SQNR
AUTO_FACTOR_SQNR_RAISE_DB = (0.0, 3.0, 6.0)  # and factor quantizers with SQNR targets raised by this much


def auto_factored_node(code, values, quantizer, codings, plain):
    """``factorize="auto"``: the smallest low-rank encoding of ``values`` (float64) whose SQNR reaches that of the
    plain quantized encoding ``plain = (node, pending, sqnr_db)``, or ``plain`` itself when none is smaller.

    Candidates: truncated SVDs whose truncation alone reaches the plain SQNR plus 3, 6 and 10 dB, each factor
    quantized by ``quantizer`` and, if it has an ``sqnr`` target, by copies whose target is 3 and 6 dB higher."""
    from ..lowrank import Factors, low_rank
    from ..quant.metrics import sqnr_db
    best_node, best_pending, target = plain
    best_size = _stored_bytes(best_node, best_pending)
    quantizers = [quantizer]
    if getattr(quantizer, "sqnr", None) is not None:
        quantizers += [dataclasses.replace(quantizer, sqnr=quantizer.sqnr + d) for d in AUTO_FACTOR_SQNR_RAISE_DB[1:]]
    for margin in AUTO_RANK_MARGINS_DB:
        factors = low_rank(values, sqnr=target + margin)
        if factors.left.size + factors.right.size >= values.size:
            continue  # more values than the dense tensor: cannot be smaller at the same precision
        for q in quantizers:
            left, right = q.quantize(factors.left), q.quantize(factors.right)
            decoded = Factors(factors.shape, left.reconstruct(), right.reconstruct()).reconstruct()
            if sqnr_db(values, decoded) < target:
                continue
            node, pending = factored_node(code, factors, q, codings)
            size = _stored_bytes(node, pending)
            if size < best_size:
                best_node, best_pending, best_size = node, pending, size
    return best_node, best_pending


class LossyPlan:
    """Decides, per tensor, whether it is quantized, pruned, cast or kept lossless (see ``nncodec.encode``)."""

    def __init__(self, tensors, quantize, prune, lossless, keep_small, cast, importance, factorize=None, jobs=None):
        self.quantize, self.cast, self.importance = quantize, cast, importance or {}
        self.factorize = factorize
        self.lossless = [lossless] if isinstance(lossless, str) else list(lossless or ())
        self.keep_small, self.jobs = keep_small, jobs
        self.quantizers = {}
        for name, (code, array) in tensors.items():
            if code not in FLOAT_OUT or any(fnmatch.fnmatchcase(name, p) for p in self.lossless):
                continue
            spec, explicit = lookup(quantize, name)
            small = array.ndim < 2 or array.size < keep_small
            if spec is not None and (explicit or not small):
                self.quantizers[name] = parse_quantizer(spec)
        self.masks = {}
        if prune is not None:
            pruner = prune if callable(prune) else parse_prune(prune)
            eligible = {n: as_float64(*tensors[n]) for n in self.quantizers} or {
                n: as_float64(c, a) for n, (c, a) in tensors.items()
                if c in FLOAT_OUT and a.ndim >= 2 and a.size >= keep_small
                and not any(fnmatch.fnmatchcase(n, p) for p in self.lossless)}
            if eligible and getattr(pruner, "needs_importance", False):
                self.masks = pruner(eligible, {n: v for n, v in self.importance.items() if n in eligible})
            elif eligible:
                self.masks = pruner(eligible)
        self.resolve_model_scope(tensors, jobs)

    def resolve_model_scope(self, tensors, jobs=None):
        """Give every scope=model quantizer its one step over the tensors it applies to (``quant.model_scope``, on
        up to ``jobs`` threads). Tensors stored as factors are left out: each factor is quantized on its own, as a
        model of one tensor."""
        def kept_sample(name, start, stride):
            code, array = tensors[name]
            values = as_float64(code, array.reshape(-1)[start::stride])
            mask = self.masks.get(name)
            return values if mask is None else np.where(mask.reshape(-1)[start::stride], values, 0.0)

        plain = {name: quantizer for name, quantizer in self.quantizers.items()
                 if name in self.masks or self.factorize_spec(name, *tensors[name]) is None}
        sizes = {name: tensors[name][1].size for name in plain}
        self.quantizers.update(resolve_model_scope(plain, sizes, kept_sample, jobs))

    def factorize_spec(self, name, code, array):
        """The factorize choice for tensor ``name`` (a spec string, "auto", a Factors, or None): float tensors of
        at least 2 dimensions and ``keep_small`` elements, or any float tensor a pattern names explicitly."""
        spec, explicit = lookup(self.factorize, name)
        if spec is None or code not in FLOAT_OUT or any(fnmatch.fnmatchcase(name, p) for p in self.lossless):
            return None
        if explicit or (array.ndim >= 2 and array.size >= self.keep_small):
            return spec
        return None

    def node(self, name, code, array, codings, chunk_elements, sink=None, bounded=False):
        """(node, pending streams) for one tensor; ``sink`` and ``bounded`` as in :func:`tensor_node` (lossless
        tensors only)."""
        quantizer = self.quantizers.get(name)
        mask = self.masks.get(name)
        factorize = self.factorize_spec(name, code, array)
        if factorize is not None and mask is None:
            return self.factored(name, code, array, factorize, quantizer, codings, chunk_elements, sink, bounded)
        if quantizer is not None:
            importance = self.importance.get(name)
            if importance is not None:
                importance = np.asarray(importance, dtype=np.float64)
                if importance.shape != array.shape:
                    raise EncodeError(f"tensor {name!r}: importance shape {importance.shape} != {array.shape}")
            quantized = quantizer.quantize(as_float64(code, array), mask=mask, importance=importance)
            return quantized_node(code, quantized, codings)
        if mask is not None:
            array = np.where(mask, array, np.zeros((), array.dtype))
        target, _ = lookup(self.cast, name)
        if target is not None and code in (12, 13) and not any(fnmatch.fnmatchcase(name, p) for p in self.lossless):
            if target not in CAST_CHOICES:
                raise EncodeError(f"tensor {name!r}: cast={target!r}; choose float16 or bfloat16")
            return cast_node(code, array, target, codings)
        return tensor_node(code, array, codings, chunk_elements, self.jobs, sink, bounded)

    def factored(self, name, code, array, factorize, quantizer, codings, chunk_elements, sink=None, bounded=False):
        """(node, pending) for a tensor with a factorize choice (see ``nncodec.encode``)."""
        from ..lowrank import Factors
        from ..quant.metrics import sqnr_db
        values = as_float64(code, array)
        if isinstance(factorize, Factors):
            if tuple(factorize.shape) != array.shape:
                raise EncodeError(f"tensor {name!r}: Factors of shape {factorize.shape} for a {array.shape} tensor")
            return factored_node(code, factorize, quantizer, codings)
        if factorize != "auto":
            try:
                factors = fit_factors(values, factorize)
            except EncodeError as exc:
                raise EncodeError(f"tensor {name!r}: {exc}") from None
            return factored_node(code, factors, quantizer, codings)
        if quantizer is None or array.ndim < 2:  # a lossless tensor has no error to match
            return tensor_node(code, array, codings, chunk_elements, self.jobs, sink, bounded)
        quantized = quantizer.quantize(values)
        node, pending = quantized_node(code, quantized, codings)
        plain = (node, pending, sqnr_db(values, quantized.reconstruct()))
        return auto_factored_node(code, values, quantizer, codings, plain)
