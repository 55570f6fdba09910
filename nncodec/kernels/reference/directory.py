"""Directory parser (spec 2, 3.3 to 3.5): bytes -> :class:`nncodec.records.Directory`.

Checks every structural rule that needs no stage semantics; stage, coding and combine identifiers are checked
when a tensor is decoded, so that one unknown tensor does not hide the others.
"""

from ...format.identifiers import DTYPE_NAMES, itemsize
from ...errors import FormatError, InconsistentError, TruncatedError
from ...format.records import (ALIAS, CHAIN, COMPOSITE, MAX_ALIGN_LOG2, MAX_CHILDREN, MAX_DEPTH, MAX_NDIM, MAX_STAGES,
                       MAX_STREAMS, Alias, Chain, Composite, Directory, Node, Stage, Stream,
                       TensorRecord)
from ...format.varint import read_varint

__all__ = ["parse_directory"]


class _Reader:
    """A cursor over the directory bytes that never reads past their end."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def _ends(self, n, what, pos):
        return TruncatedError(f"[R3.3-b] directory ends inside {what}: need {n} bytes at offset {pos}, "
                              f"{len(self.data) - pos} left")

    def take(self, n, what):
        if n > len(self.data) - self.pos:
            raise self._ends(n, what, self.pos)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self, what):
        return self.take(1, what)[0]

    def varint(self, what):
        value, self.pos = read_varint(self.data, self.pos, what, lambda pos: self._ends(1, what, pos))
        return value

    def str(self, what, budget=None):
        n = self.varint(what)
        if budget is not None:
            budget(n)
        raw = self.take(n, what)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"[R2-b] invalid UTF-8 in {what}: {exc.reason} at byte {exc.start}") from None


def parse_directory(data, payload_start, container_end, limits):
    """Parse directory ``data`` (spec 3.3).

    ``payload_start`` is the absolute offset of the first payload byte (32 + Directory_Length) and
    ``container_end`` the absolute end of the container; stream offsets are computed from them (spec 3.4).
    Returns ``(directory, payload_end)``, where payload_end is the end of the last stream.
    """
    r = _Reader(data)
    state = {"pos": payload_start, "meta": 0}

    def meta_budget(n):
        state["meta"] += n
        limits.check("max_metadata_bytes", state["meta"])

    # §3.3 metadata
    metadata = []
    keys = set()
    for _ in range(r.varint("Metadata_Count")):
        key = r.str("metadata key", meta_budget)
        value = r.str("metadata value", meta_budget)
        if key in keys:
            raise InconsistentError(f"[R3.3-a] duplicate metadata key {key!r}")
        keys.add(key)
        metadata.append((key, value))

    # §3.3 tensor records
    tensor_count = r.varint("Tensor_Count")
    limits.check("max_tensors", tensor_count)
    tensors = []
    names = set()
    for _ in range(tensor_count):
        name = r.str("tensor name")
        if name in names:
            raise InconsistentError(f"[R3.3-c] duplicate tensor name {name!r}")
        names.add(name)
        node = _parse_node(r, 1, state, container_end, limits, name)
        if isinstance(node.body, Alias):
            _check_alias(tensors, len(tensors), node, name)
        tensors.append(TensorRecord(name, node))
    if r.pos != len(data):
        raise FormatError(f"[R3.3-b] {len(data) - r.pos} bytes after the last tensor record in the directory")
    return Directory(tuple(metadata), tuple(tensors)), state["pos"]


def _parse_node(r, depth, state, container_end, limits, name):
    # §3.5 node header
    if depth > MAX_DEPTH:
        raise FormatError(f"[R3.5-d] tensor {name!r}: nodes nested deeper than {MAX_DEPTH}")
    dtype = r.u8("node Dtype")
    if dtype not in DTYPE_NAMES:
        raise FormatError(f"[R3.5-a] tensor {name!r}: unknown dtype code {dtype}")
    ndim = r.u8("node Ndim")
    if ndim > MAX_NDIM:
        raise FormatError(f"[R3.5-b] tensor {name!r}: Ndim {ndim} > {MAX_NDIM}")
    shape = tuple(r.varint("node Shape") for _ in range(ndim))
    # §6 max_elements bounds the product of the non-zero extents (the element count unless the tensor is empty),
    # so an empty tensor cannot declare a shape such as (0, 2**63) that no array library can represent
    span = 1
    for extent in shape:  # overflow-free in Python
        if extent:
            span *= extent
    limits.check("max_elements", span)
    node_type = r.u8("Node_Type")
    if node_type == CHAIN:
        body = _parse_chain(r, state, container_end, limits, name)
    elif node_type == COMPOSITE:
        combine = r.u8("Combine")
        child_count = r.varint("Child_Count")
        if not 1 <= child_count <= MAX_CHILDREN:
            raise FormatError(f"[R3.5-j] tensor {name!r}: Child_Count {child_count} not in 1..{MAX_CHILDREN}")
        children = tuple(_parse_node(r, depth + 1, state, container_end, limits, name) for _ in range(child_count))
        body = Composite(combine, children)
    elif node_type == ALIAS:
        # §3.5.4 an alias is a tensor's top node only
        if depth != 1:
            raise FormatError(f"[R3.5-l] tensor {name!r}: an Alias inside a composite")
        body = Alias(r.varint("alias Target"))
    else:
        raise FormatError(f"[R3.5-c] tensor {name!r}: unknown Node_Type {node_type}")
    return Node(dtype, shape, body)


def _check_alias(tensors, index, node, name):
    # §3.5.4 the target is an earlier record whose top node is not an alias, with the same dtype and shape
    target = node.body.target
    if target >= index:
        raise InconsistentError(f"[R3.5-m] tensor {name!r}: alias Target {target} is not an earlier record "
                                f"(this is record {index})")
    aimed = tensors[target].node
    if isinstance(aimed.body, Alias):
        raise InconsistentError(f"[R3.5-m] tensor {name!r}: alias to record {target}, itself an alias")
    if (aimed.dtype, aimed.shape) != (node.dtype, node.shape):
        raise InconsistentError(f"[R3.5-m] tensor {name!r}: alias declares {DTYPE_NAMES[node.dtype]}{list(node.shape)}, its "
                                f"target {DTYPE_NAMES[aimed.dtype]}{list(aimed.shape)}")


def _parse_chain(r, state, container_end, limits, name):
    # §3.5.1 stream descriptors
    stream_count = r.varint("Stream_Count")
    if stream_count > MAX_STREAMS:
        raise FormatError(f"[R3.5-e] tensor {name!r}: Stream_Count {stream_count} > {MAX_STREAMS}")
    streams = []
    for _ in range(stream_count):
        coding = r.u8("Coding")
        elem_type = r.u8("Elem_Type")
        if elem_type not in DTYPE_NAMES:
            raise FormatError(f"[R3.7-b] tensor {name!r}: unknown Elem_Type {elem_type}")
        align_log2 = r.u8("Align_Log2")
        if align_log2 > MAX_ALIGN_LOG2:
            raise FormatError(f"[R3.5-g] tensor {name!r}: Align_Log2 {align_log2} > {MAX_ALIGN_LOG2}")
        count = r.varint("Element_Count")
        length = r.varint("Stored_Length")
        crc = int.from_bytes(r.take(4, "Stream_CRC32"), "little")
        limits.check("max_elements", count)
        limits.check_expansion(count * itemsize(elem_type), length)
        # §3.4 the stream starts at the previous end rounded up to its alignment
        align = 1 << align_log2
        offset = -(-state["pos"] // align) * align
        if offset > container_end or length > container_end - offset:
            raise InconsistentError(f"[R3.4-b] tensor {name!r}: a stream of {length} bytes at offset {offset} "
                                    f"runs past the container end {container_end}")
        streams.append(Stream(coding, elem_type, align_log2, count, length, crc, offset, offset - state["pos"]))
        state["pos"] = offset + length
    # §3.5.1 stages
    stage_count = r.varint("Stage_Count")
    if not 1 <= stage_count <= MAX_STAGES:
        raise FormatError(f"[R3.5-f] tensor {name!r}: Stage_Count {stage_count} not in 1..{MAX_STAGES}")
    stages = []
    for _ in range(stage_count):
        stage_id = r.u8("Stage_Id")
        n = r.varint("stage Params length")
        limits.check("max_params_bytes", n)
        stages.append(Stage(stage_id, bytes(r.take(n, "stage Params"))))
    return Chain(tuple(streams), tuple(stages))
