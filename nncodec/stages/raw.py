"""raw stream coding (spec 5.1): the elements' little-endian bytes, nothing else."""

import numpy as np

from ..format.dtypes import itemsize, numpy_dtype
from ..errors import InconsistentError


class RawCoding:
    coding_id = 0
    name = "raw"
    align_log2 = 6  # §5.1: raw streams are 64-byte aligned so memory-mapped arrays are aligned

    def encode(self, values, backend=None):
        """The bytes of a 1-D little-endian array (already of the stream's element dtype), as a read-only
        memoryview of the array itself (no copy: a streaming writer holds one tensor, not two)."""
        flat = np.ascontiguousarray(values).reshape(-1).view(np.uint8)
        flat.flags.writeable = False
        return memoryview(flat)

    def decode(self, data, stream, limits, backend=None):
        """``data`` as ``stream.count`` elements: a read-only view (zero-copy) when aligned, see :func:`elements`."""
        expected = stream.count * itemsize(stream.elem_type)
        if stream.length != expected:
            raise InconsistentError(f"[R5.1-a] raw stream of {stream.count} elements must be {expected} bytes, "
                                    f"found {stream.length}")
        if stream.elem_type == 1:  # §3.7 bool bytes are 0 or 1
            as_bytes = np.frombuffer(data, dtype=np.uint8, count=stream.count)
            if stream.count and as_bytes.max() > 1:
                raise InconsistentError("[R3.7-a] bool element other than 0 or 1")
        return elements(data, stream)


def elements(data, stream):
    """``stream.count`` elements of ``stream.elem_type`` over the bytes ``data``: a view, or a copy when ``data``
    does not start at a multiple of the element size. Stored and decompressed bytes (raw, zstd, zstd-shuffle)
    become typed arrays only here, so the kernels load naturally aligned elements whatever the stream's alignment
    (spec 5.1: Align_Log2 may be 0, and a container may start at any address)."""
    array = np.frombuffer(data, dtype=numpy_dtype(stream.elem_type), count=stream.count)
    return array.copy() if array.ctypes.data % array.itemsize else array
