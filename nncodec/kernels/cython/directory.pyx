# cython: language_level=3
"""Cython twin of nncodec.reference.directory: same objects, same errors, same rule order."""

from ...format.identifiers import DTYPE_NAMES, itemsize
from ...errors import FormatError, InconsistentError, TruncatedError
from ...format.records import (ALIAS, CHAIN, COMPOSITE, MAX_ALIGN_LOG2, MAX_CHILDREN, MAX_DEPTH, MAX_NDIM, MAX_STAGES,
                       MAX_STREAMS, Alias, Chain, Composite, Directory, Node, Stage, Stream,
                       TensorRecord)

__all__ = ["parse_directory"]


cdef class _Cursor:
    cdef const unsigned char[::1] data
    cdef Py_ssize_t pos, n
    cdef object raw

    def __cinit__(self, raw):
        self.raw = raw
        self.data = raw
        self.pos = 0
        self.n = len(raw)

    cdef Py_ssize_t need(self, Py_ssize_t k, str what) except -1:
        # compare against what is left, never by adding to pos (no overflow)
        if k > self.n - self.pos:
            raise TruncatedError(f"[R3.3-b] directory ends inside {what}: need {k} bytes at offset {self.pos}, "
                                 f"{self.n - self.pos} left")
        return 0

    cdef int u8(self, str what) except -1:
        self.need(1, what)
        self.pos += 1
        return self.data[self.pos - 1]

    cdef object varint(self, str what):
        cdef unsigned long long value = 0
        cdef int i, byte
        for i in range(10):
            byte = self.u8(what)
            if i == 9 and (byte & 0x7F) > 1:
                raise FormatError(f"[R2-a] varint in {what} is >= 2**64")
            value |= (<unsigned long long>(byte & 0x7F)) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise FormatError(f"[R2-a] non-canonical varint in {what}")
                return value
        raise FormatError(f"[R2-a] varint in {what} is longer than 10 bytes")

    cdef bytes take(self, object k, str what):
        if k > self.n - self.pos:
            raise TruncatedError(f"[R3.3-b] directory ends inside {what}: need {k} bytes at offset {self.pos}, "
                                 f"{self.n - self.pos} left")
        cdef Py_ssize_t kk = k
        self.pos += kk
        return bytes(self.raw[self.pos - kk:self.pos])

    cdef str text(self, str what, object budget):
        n = self.varint(what)
        if budget is not None:
            budget(n)
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"[R2-b] invalid UTF-8 in {what}: {exc.reason} at byte {exc.start}") from None


cdef class _State:
    cdef public object pos
    cdef public object meta
    cdef object limits
    cdef object end

    def __cinit__(self, pos, end, limits):
        self.pos = pos
        self.end = end
        self.meta = 0
        self.limits = limits

    def meta_budget(self, n):
        self.meta += n
        self.limits.check("max_metadata_bytes", self.meta)


def parse_directory(data, payload_start, container_end, limits):
    """Parse directory ``data`` (spec 3.3); returns ``(directory, payload_end)`` like the reference."""
    cdef _Cursor r = _Cursor(bytes(data))
    cdef _State st = _State(payload_start, container_end, limits)
    metadata = []
    keys = set()
    count = r.varint("Metadata_Count")
    while count:
        count -= 1
        key = r.text("metadata key", st.meta_budget)
        value = r.text("metadata value", st.meta_budget)
        if key in keys:
            raise InconsistentError(f"[R3.3-a] duplicate metadata key {key!r}")
        keys.add(key)
        metadata.append((key, value))
    tensor_count = r.varint("Tensor_Count")
    limits.check("max_tensors", tensor_count)
    tensors = []
    names = set()
    for _ in range(tensor_count):
        name = r.text("tensor name", None)
        if name in names:
            raise InconsistentError(f"[R3.3-c] duplicate tensor name {name!r}")
        names.add(name)
        node = _node(r, 1, st, name)
        if isinstance(node.body, Alias):
            _check_alias(tensors, len(tensors), node, name)
        tensors.append(TensorRecord(name, node))
    if r.pos != r.n:
        raise FormatError(f"[R3.3-b] {r.n - r.pos} bytes after the last tensor record in the directory")
    return Directory(tuple(metadata), tuple(tensors)), st.pos


def _check_alias(tensors, index, node, name):
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


cdef object _node(_Cursor r, int depth, _State st, str name):
    if depth > MAX_DEPTH:
        raise FormatError(f"[R3.5-d] tensor {name!r}: nodes nested deeper than {MAX_DEPTH}")
    cdef int dtype = r.u8("node Dtype")
    if dtype not in DTYPE_NAMES:
        raise FormatError(f"[R3.5-a] tensor {name!r}: unknown dtype code {dtype}")
    cdef int ndim = r.u8("node Ndim")
    if ndim > MAX_NDIM:
        raise FormatError(f"[R3.5-b] tensor {name!r}: Ndim {ndim} > {MAX_NDIM}")
    shape = tuple([r.varint("node Shape") for _ in range(ndim)])
    # §6 max_elements bounds the product of the non-zero extents (see the reference parser)
    span = 1
    for extent in shape:
        if extent:
            span *= extent
    st.limits.check("max_elements", span)
    cdef int node_type = r.u8("Node_Type")
    if node_type == CHAIN:
        body = _chain(r, st, name)
    elif node_type == COMPOSITE:
        combine = r.u8("Combine")
        child_count = r.varint("Child_Count")
        if not 1 <= child_count <= MAX_CHILDREN:
            raise FormatError(f"[R3.5-j] tensor {name!r}: Child_Count {child_count} not in 1..{MAX_CHILDREN}")
        body = Composite(combine, tuple([_node(r, depth + 1, st, name) for _ in range(child_count)]))
    elif node_type == ALIAS:
        if depth != 1:
            raise FormatError(f"[R3.5-l] tensor {name!r}: an Alias inside a composite")
        body = Alias(r.varint("alias Target"))
    else:
        raise FormatError(f"[R3.5-c] tensor {name!r}: unknown Node_Type {node_type}")
    return Node(dtype, shape, body)


cdef object _chain(_Cursor r, _State st, str name):
    stream_count = r.varint("Stream_Count")
    if stream_count > MAX_STREAMS:
        raise FormatError(f"[R3.5-e] tensor {name!r}: Stream_Count {stream_count} > {MAX_STREAMS}")
    streams = []
    cdef int coding, elem_type, align_log2
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
        st.limits.check("max_elements", count)
        st.limits.check_expansion(count * itemsize(elem_type), length)
        align = 1 << align_log2
        offset = -(-st.pos // align) * align
        if offset > st.end or length > st.end - offset:
            raise InconsistentError(f"[R3.4-b] tensor {name!r}: a stream of {length} bytes at offset {offset} "
                                    f"runs past the container end {st.end}")
        streams.append(Stream(coding, elem_type, align_log2, count, length, crc, offset, offset - st.pos))
        st.pos = offset + length
    stage_count = r.varint("Stage_Count")
    if not 1 <= stage_count <= MAX_STAGES:
        raise FormatError(f"[R3.5-f] tensor {name!r}: Stage_Count {stage_count} not in 1..{MAX_STAGES}")
    stages = []
    for _ in range(stage_count):
        stage_id = r.u8("Stage_Id")
        n = r.varint("stage Params length")
        st.limits.check("max_params_bytes", n)
        stages.append(Stage(stage_id, r.take(n, "stage Params")))
    return Chain(tuple(streams), tuple(stages))
