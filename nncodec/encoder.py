"""Encoder-side planning: which stages and codings a tensor gets, and the node + pending streams they produce.

The container writer (``container.write_container``) only assembles bytes; everything that decides how a tensor is
represented lives here.
"""

from collections.abc import Mapping

from .container import PendingStream, crc32
from .errors import EncodeError
from .records import CONCAT, Chain, Composite, Node, Stage, Stream, TensorRecord
from .stages import CODINGS, coding_by_name, stage_by_name

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
        for needed in (int_choice,):
            if needed not in ("raw", "auto") and not _registered(needed):
                raise EncodeError(f"tensor {name!r}: the {needed} coding is not available in this build")
        return cls(float_choice, int_choice, zstd_level, backend)

    def _candidates(self, values):
        integer = values.dtype.kind in "biu"
        choice = self.int_choice if integer else self.float_choice
        if choice in ("none", "raw") or not values.size:
            return []
        if choice != "auto":
            return [choice]
        if integer:
            return [n for n in ("zstd", "huffman", "cabac") if _registered(n)]
        return ["zstd", "zstd-shuffle"] if values.dtype.itemsize > 1 else ["zstd"]

    def code(self, values):
        """(coding, stored bytes) for a 1-D stream: the chosen coding, or for "auto" the smallest candidate if it
        saves at least 3% over raw."""
        raw = coding_by_name("raw")
        names = self._candidates(values)
        if not names:
            return raw, raw.encode(values)
        candidates = [(c, c.encode(values, backend=self.backend)) for c in map(self._coding, names)]
        coding, stored = min(candidates, key=lambda c: len(c[1]))
        explicit = len(names) == 1 and names[0] in (self.int_choice, self.float_choice)
        if not explicit and len(stored) >= AUTO_SAVING * values.nbytes:
            return raw, raw.encode(values)
        return coding, stored

    def _coding(self, name):
        coding = coding_by_name(name)
        return type(coding)(level=self.zstd_level) if name.startswith("zstd") else coding


def _registered(name):
    return any(c.name == name for c in CODINGS.values())


def chain_node(code, array, codings, transforms=(), elem_code=None):
    """A chain node: the dense layout over ``array`` (levels or values), then ``transforms`` (Stage objects).

    ``code`` is the node's output dtype; ``elem_code`` the streams' element dtype (default: ``code``, for lossless
    chains; bfloat16 travels in uint16 arrays, so it cannot be inferred from the array).
    """
    layout = stage_by_name("dense")
    params, stream_arrays = layout.encode(array)
    pending = []
    for values in stream_arrays:
        coding, stored = codings.code(values)
        elem = code if elem_code is None else elem_code
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
    it = iter(pending)

    def fill(node):
        if isinstance(node.body, Chain):
            streams = []
            for s in node.body.streams:
                p = next(it)
                streams.append(Stream(s.coding, s.elem_type, s.align_log2, s.count, len(p.data), crc32(p.data)))
            return Node(node.dtype, node.shape, Chain(tuple(streams), node.body.stages))
        return Node(node.dtype, node.shape, Composite(node.body.combine, tuple(fill(c) for c in node.body.children)))

    return TensorRecord(record.name, fill(record.node))
