"""Shared part of the integer stream codings (spec 5.3): elem type <-> int64 mapping and range checks.

A concrete coding sets ``coding_id``, ``name`` and ``kernel`` (the kernel module name under
``nncodec.kernels.reference`` and ``nncodec.kernels.cython``); the kernel module provides ``encode(values: int64[::1], **params) -> bytes`` and
``decode(data, count, limits) -> int64 ndarray``.
"""

import numpy as np

from .. import kernels
from ..format.dtypes import code_of, integer_range, is_integer_code, numpy_dtype
from ..errors import EncodeError, InconsistentError
from ..format.limits import DEFAULT_LIMITS
from ..format.records import Stream

UINT64 = 9


class IntegerCoding:
    coding_id = None
    name = None
    kernel = None
    align_log2 = 0

    def __init__(self, **params):
        self.params = params

    def encode(self, values, backend=None):
        """Stored bytes for a 1-D integer or bool array (the stream's element dtype)."""
        values = np.asarray(values)
        if values.dtype.kind not in "biu":
            raise EncodeError(f"{self.name} codes integer streams, got {values.dtype}")
        if values.dtype == np.uint64:
            as_int64 = values.astype("<u8", copy=False).view(np.int64)
        else:
            as_int64 = values.astype(np.int64)
        as_int64 = np.ascontiguousarray(as_int64.reshape(-1))
        return kernels.module(self.kernel, backend).encode(as_int64, **self.params)

    def decode(self, data, stream, limits, backend=None):
        """The stream's elements as its Elem_Type, after the checks of spec 5.3."""
        if not is_integer_code(stream.elem_type):
            raise InconsistentError(f"[R5.3-a] {self.name} stream with non-integer Elem_Type {stream.elem_type}")
        values = kernels.module(self.kernel, backend).decode(data, stream.count, limits)
        if stream.elem_type == UINT64:
            return values.view(np.uint64)
        lo, hi = integer_range(stream.elem_type)
        if values.size and (int(values.min()) < lo or int(values.max()) > hi):
            raise InconsistentError(f"[R5.3-b] {self.name} stream decodes values outside [{lo}, {hi}]")
        return values.astype(numpy_dtype(stream.elem_type), copy=False)

    def decode_array(self, data, count, dtype=np.int64, limits=None, backend=None):
        """Stage-level use without a container: ``count`` elements of ``dtype`` from the stored bytes ``data``."""
        stream = Stream(self.coding_id, code_of(dtype), 0, count, len(data), 0)
        (limits or DEFAULT_LIMITS).check("max_elements", count)
        return self.decode(memoryview(data), stream, limits or DEFAULT_LIMITS, backend)
