"""Encoder-side planning: which stages and codings a tensor gets, and the node + pending streams they produce.

The container writer (``container.write_container``) only assembles bytes; everything that decides how a tensor is
represented lives here.
"""

import fnmatch
from collections.abc import Mapping

import numpy as np

from .container import PendingStream, crc32
from .dtypes import code_of, float32_to_bfloat16, is_integer_code
from .errors import EncodeError
from .quant import parse_prune, parse_quantizer
from .records import CONCAT, Chain, Composite, Node, Stage, Stream, TensorRecord
from .stages import coding_by_name, stage_by_name

__all__ = ["StreamCodings", "tensor_node", "with_stream_facts", "FLOAT_CODINGS", "INTEGER_CODINGS"]

FLOAT_CODINGS = ("none", "zstd", "zstd-shuffle", "auto")
INTEGER_CODINGS = ("raw", "zstd", "huffman", "cabac", "auto")
AUTO_SAVING = 0.97  # "auto" keeps a raw stream unless a coding saves at least 3% (raw streams can be mmapped)


def _choice(option, name, default, allowed, what, none_means_default=False):
    choice = option.get(name, default) if isinstance(option, Mapping) else option
    if choice is None and none_means_default:
        choice = default
    if choice not in allowed:
        raise EncodeError(f"tensor {name!r}: {what}={choice!r}; choose one of {', '.join(allowed)}")
    return choice


class StreamCodings:
    """The coding choices for one tensor's streams: ``float_choice`` for float streams, ``int_choice`` for
    integer (and bool) streams."""

    def __init__(self, float_choice, int_choice, zstd_level, backend):
        self.float_choice, self.int_choice = float_choice, int_choice
        self.zstd_level, self.backend = zstd_level, backend

    @classmethod
    def for_tensor(cls, name, compress, entropy, zstd_level, backend):
        float_choice = _choice(compress, name, "none", FLOAT_CODINGS, "compress")
        int_default = "raw" if float_choice == "none" else "auto"
        int_choice = _choice(entropy, name, int_default, INTEGER_CODINGS, "entropy", none_means_default=True)
        return cls(float_choice, int_choice, zstd_level, backend)

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
            return coding, coding.encode(values, backend=self.backend)
        if integer:
            names = ("zstd", "huffman", "cabac")
        else:
            names = ("zstd", "zstd-shuffle") if values.dtype.itemsize > 1 else ("zstd",)
        candidates = [(c, c.encode(values, backend=self.backend)) for c in map(self._coding, names)]
        coding, stored = min(candidates, key=lambda c: len(c[1]))
        if len(stored) >= AUTO_SAVING * values.nbytes:
            return raw, raw.encode(values)
        return coding, stored

    def _coding(self, name):
        coding = coding_by_name(name)
        return type(coding)(level=self.zstd_level) if name.startswith("zstd") else coding


def chain_node(code, array, codings, transforms=(), elem_code=None):
    """A chain node: the dense layout over ``array`` (levels or values), then ``transforms`` (Stage objects).

    ``code`` is the node's output dtype; ``elem_code`` the streams' element dtype (default: ``code``, for lossless
    chains; bfloat16 travels in uint16 arrays, so it cannot be inferred from the array).
    """
    layout = stage_by_name("dense")
    params, stream_arrays = layout.encode(array)
    pending = []
    for values in stream_arrays:
        elem = code if elem_code is None else elem_code
        coding, stored = codings.code(values, elem)
        pending.append(PendingStream(coding.coding_id, elem, coding.align_log2, values.size, stored))
    streams = tuple(Stream(p.coding, p.elem_type, p.align_log2, p.count, len(p.data), 0) for p in pending)
    stages = (Stage(layout.stage_id, params),) + tuple(transforms)
    return Node(code, array.shape, Chain(streams, stages)), pending


def tensor_node(code, array, codings, chunk_elements=None):
    """The node for a lossless tensor, split into concat chunks along axis 0 when larger than chunk_elements."""
    if chunk_elements and array.ndim >= 1 and array.size > chunk_elements and array.shape[0] > 1:
        row = max(1, array.size // array.shape[0])
        rows = max(1, chunk_elements // row)
        children, pending = [], []
        for start in range(0, array.shape[0], rows):
            child, streams = chain_node(code, array[start:start + rows], codings)
            children.append(child)
            pending += streams
        if len(children) > 1:
            return Node(code, array.shape, Composite(CONCAT, tuple(children))), pending
    return chain_node(code, array, codings)


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

FLOAT_OUT_CODES = (10, 12, 13)  # transform outputs (spec 4); bfloat16 tensors decode as float32 when quantized
CAST_CHOICES = {"float16": 10, "bfloat16": 11}


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
    """The chain node for a :class:`nncodec.quant.Quantized`: dense levels, then its uniform, dq or codebook stage."""
    out_code = code if code in FLOAT_OUT_CODES else 12
    levels = quantized.levels.astype(smallest_int_dtype(quantized.levels))
    if quantized.kind in ("uniform", "dq"):
        transform = stage_by_name(quantized.kind).stage(out_code, quantized.steps, quantized.axis)
    else:
        transform = stage_by_name("codebook").stage(out_code, quantized.codebook)
    return chain_node(out_code, levels, codings, (transform,), elem_code=code_of(levels.dtype))


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


class LossyPlan:
    """Decides, per tensor, whether it is quantized, pruned, cast or kept lossless (see ``nncodec.encode``)."""

    def __init__(self, tensors, quantize, prune, lossless, keep_small, cast, importance):
        self.quantize, self.cast, self.importance = quantize, cast, importance or {}
        self.lossless = [lossless] if isinstance(lossless, str) else list(lossless or ())
        self.keep_small = keep_small
        self.quantizers = {}
        for name, (code, array) in tensors.items():
            if code not in (10, 11, 12, 13) or any(fnmatch.fnmatchcase(name, p) for p in self.lossless):
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
                if c in (10, 11, 12, 13) and a.ndim >= 2 and a.size >= keep_small
                and not any(fnmatch.fnmatchcase(n, p) for p in self.lossless)}
            if eligible and getattr(pruner, "needs_importance", False):
                self.masks = pruner(eligible, {n: v for n, v in self.importance.items() if n in eligible})
            elif eligible:
                self.masks = pruner(eligible)

    def node(self, name, code, array, codings, chunk_elements):
        """(node, pending streams) for one tensor."""
        quantizer = self.quantizers.get(name)
        mask = self.masks.get(name)
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
        return tensor_node(code, array, codings, chunk_elements)
