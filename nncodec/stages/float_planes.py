"""float-planes stream coding (spec 5.5): float elements as chunks of byte planes, each plane raw, constant or
canonical Huffman coded. The stream fields and the chunk table are read and written here; the chunks are coded by
the ``float_planes`` kernels, on several threads when the stream is large (``nncodec.kernels.parallel``)."""

import numpy as np

from .. import kernels
from ..errors import (EncodeError, FormatError, InconsistentError, TrailingDataError, TruncatedError)
from ..format.dtypes import DTYPE_NAMES, code_of, numpy_dtype
from ..format.limits import DEFAULT_LIMITS
from ..format.records import Stream
from ..kernels import parallel

__all__ = ["FloatPlanesCoding", "WIDTHS", "ROTATED"]

WIDTHS = {10: 2, 11: 2, 12: 4, 13: 8, 14: 1, 15: 1}  # §5.5: float Elem_Type -> W
ROTATED = frozenset((11, 12, 13))  # §5.5 encoder choices: Rotate = 1 puts the exponent's top 8 bits in the top byte
MIN_CHUNK_LOG2, MAX_CHUNK_LOG2 = 12, 20
DEFAULT_CHUNK_LOG2 = 18
PARALLEL_MIN_BYTES = 1 << 20  # streams this large (and of 2+ chunks) are coded on several threads
_STATUS = {  # kernel status -> (error class, rule, what)
    1: (FormatError, "R5.5-g", "Plane_Mode other than 0, 1, 2"),
    2: (TruncatedError, "R5.5-h", "a field runs past the end of the chunk"),
    3: (TrailingDataError, "R5.5-i", "bytes after the chunk's last plane"),
    4: (FormatError, "R5.5-j", "First_Symbol > Last_Symbol"),
    5: (FormatError, "R5.5-k", "a code length above 12"),
    6: (FormatError, "R5.5-l", "a non-zero padding nibble after the code lengths"),
    7: (FormatError, "R5.5-m", "over-subscribed code lengths"),
    8: (FormatError, "R5.5-n", "incomplete code lengths"),
    9: (TruncatedError, "R5.5-o", "sub-stream sizes add up to more than the bytes left in the chunk"),
    10: (TruncatedError, "R5.5-p", "a sub-stream was read past its end"),
    11: (TrailingDataError, "R5.5-q", "a whole unused byte at the end of a sub-stream"),
    12: (FormatError, "R5.5-r", "non-zero padding bits at the end of a sub-stream"),
}


def _width(elem_type):
    try:
        return WIDTHS[elem_type]
    except KeyError:
        raise InconsistentError(f"[R5.5-a] float-planes stream with non-float Elem_Type "
                                f"{DTYPE_NAMES.get(elem_type, elem_type)}") from None


def _chunk_count(count, chunk_log2):
    return -(-count >> chunk_log2)


def _groups(chunks, nbytes, jobs=None):
    """Contiguous chunk ranges, one per thread the call may use (``jobs``, None: every core; one range for small
    streams and inside a serial call)."""
    allowed = nbytes >= PARALLEL_MIN_BYTES and parallel.inner_threads_allowed()
    parts = max(1, min(parallel.resolve_jobs(jobs) if allowed else 1, chunks))
    return [(chunks * t // parts, chunks * (t + 1) // parts) for t in range(parts)]


def parse_stream(data, count):
    """(Rotate, Chunk_Log2, chunk offsets in the body (C + 1 int64s), body) after the checks of the stream fields
    ([R5.5-b] to [R5.5-f])."""
    if len(data) < 2:
        raise TruncatedError(f"[R5.5-d] float-planes stream of {len(data)} bytes ends in its 2-byte header")
    flags, chunk_log2 = data[0], data[1]
    if flags & ~1:
        raise FormatError(f"[R5.5-b] float-planes Flags {flags:#04x} has reserved bits set")
    if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
        raise FormatError(f"[R5.5-c] float-planes Chunk_Log2 {chunk_log2} is outside "
                          f"{MIN_CHUNK_LOG2}..{MAX_CHUNK_LOG2}")
    chunks = _chunk_count(count, chunk_log2)
    start = 2 + 4 * chunks
    if len(data) < start:
        raise TruncatedError(f"[R5.5-d] float-planes table of {chunks} chunk sizes needs {4 * chunks} bytes, "
                             f"{len(data) - 2} present")
    offsets = np.zeros(chunks + 1, np.int64)
    np.cumsum(np.frombuffer(data, "<u4", chunks, 2), out=offsets[1:])
    left = len(data) - start
    if offsets[-1] > left:
        raise TruncatedError(f"[R5.5-e] float-planes chunk sizes add up to {offsets[-1]} bytes, {left} present")
    if offsets[-1] < left:
        raise TrailingDataError(f"[R5.5-f] float-planes chunk sizes add up to {offsets[-1]} bytes, {left} present")
    return flags & 1, chunk_log2, offsets, np.frombuffer(data, np.uint8, left, start)


class FloatPlanesCoding:
    """Coding 5 (spec 5.5). ``chunk_log2`` (encoder only, 12..20): elements per chunk, as a power of two;
    ``jobs``: threads one stream's chunks may use (None: every core; see nncodec.kernels.parallel)."""

    coding_id = 5
    name = "float-planes"
    align_log2 = 0

    def __init__(self, chunk_log2=DEFAULT_CHUNK_LOG2, jobs=None):
        if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
            raise EncodeError(f"float-planes chunk_log2 must be in {MIN_CHUNK_LOG2}..{MAX_CHUNK_LOG2}, "
                              f"got {chunk_log2}")
        self.chunk_log2 = chunk_log2
        parallel.resolve_jobs(jobs)  # refuses bad values now, not at the first stream
        self.jobs = jobs

    def encode(self, values, backend=None, elem_type=None):
        """Stored bytes (a memoryview) for a 1-D array of a float element type; ``elem_type`` (a dtype code) says
        which when the array holds bit patterns (bfloat16 in uint16)."""
        values = np.ascontiguousarray(values).reshape(-1)
        code = code_of(values.dtype) if elem_type is None else elem_type
        if code not in WIDTHS or values.dtype.itemsize != WIDTHS[code]:
            raise EncodeError(f"float-planes codes float streams, got {values.dtype}")
        width, rotate = WIDTHS[code], int(code in ROTATED)
        raw = values.view(np.uint8)
        chunks = _chunk_count(values.size, self.chunk_log2)
        head = 2 + 4 * chunks
        groups = _groups(chunks, raw.size, self.jobs)
        # each group writes into its own region, as large as its chunks stored raw (W + 1 bytes more per chunk);
        # np.empty leaves the pages a group does not write untouched (no zero fill, no page faults)
        room = [width * (min(stop << self.chunk_log2, values.size) - (first << self.chunk_log2) + stop - first)
                for first, stop in groups]
        out = np.empty(head + sum(room), np.uint8)
        starts = np.cumsum([head] + room[:-1]).tolist()
        kernel = kernels.module("float_planes", backend)
        sizes = parallel.map_ordered(
            lambda g: kernel.encode_chunks(raw, width, rotate, self.chunk_log2, *groups[g], out[starts[g]:]),
            range(len(groups)), jobs=self.jobs)
        out[:2] = (rotate, self.chunk_log2)
        out[2:head] = np.array([s for group in sizes for s in group], "<u4").view(np.uint8)
        if len(groups) == 1:
            return memoryview(out[:head + sum(sizes[0])])
        parts = [out[:head]] + [out[start:start + sum(s)] for start, s in zip(starts, sizes)]
        return memoryview(np.concatenate(parts))

    def decode(self, data, stream, limits, backend=None):
        """The stream's ``stream.count`` elements as its Elem_Type (spec 5.5 checks, in the spec's order)."""
        width = _width(stream.elem_type)
        rotate, chunk_log2, offsets, body = parse_stream(data, stream.count)
        out = np.empty(stream.count * width, np.uint8)
        kernel = kernels.module("float_planes", backend)
        results = parallel.map_ordered(
            lambda group: kernel.decode_chunks(body, offsets, stream.count, width, rotate, chunk_log2, out, *group),
            _groups(len(offsets) - 1, out.size, self.jobs), jobs=self.jobs)
        for status, chunk in results:
            if status:
                error, rule, what = _STATUS[status]
                raise error(f"[{rule}] float-planes chunk {chunk}: {what}")
        return out.view(numpy_dtype(stream.elem_type))

    def decode_array(self, data, count, dtype, limits=None, backend=None):
        """Stage-level use without a container: ``count`` elements of ``dtype`` from the stored bytes ``data``."""
        stream = Stream(self.coding_id, code_of(dtype), 0, count, len(data), 0)
        (limits or DEFAULT_LIMITS).check("max_elements", count)
        return self.decode(memoryview(data), stream, limits or DEFAULT_LIMITS, backend)
