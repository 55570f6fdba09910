# cython: language_level=3
"""Cython twin of nncodec.reference.dequant: one fused pass from levels to floats, no temporaries."""

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t

import numpy as np

from ..errors import InconsistentError

__all__ = ["uniform", "codebook", "dependent"]

ctypedef fused level_t:
    int8_t
    uint8_t
    int16_t
    uint16_t
    int32_t
    uint32_t
    int64_t


cdef void _uniform_f32(const level_t[::1] lv, const double[::1] steps, Py_ssize_t inner, float[::1] out) noexcept nogil:
    # element i uses step (i // inner) % len(steps); inner = product of extents after the axis
    cdef Py_ssize_t i, n = lv.shape[0], ns = steps.shape[0], j = 0, k = 0
    for i in range(n):
        out[i] = <float>(<double>lv[i] * steps[j])
        k += 1
        if k == inner:
            k = 0
            j += 1
            if j == ns:
                j = 0


cdef void _uniform_f64(const level_t[::1] lv, const double[::1] steps, Py_ssize_t inner, double[::1] out) noexcept nogil:
    cdef Py_ssize_t i, n = lv.shape[0], ns = steps.shape[0], j = 0, k = 0
    for i in range(n):
        out[i] = <double>lv[i] * steps[j]
        k += 1
        if k == inner:
            k = 0
            j += 1
            if j == ns:
                j = 0


cdef int _gather(const level_t[::1] idx, const double[::1] table, double[::1] out) noexcept nogil:
    # returns the first bad position + 1, or 0 when every index is inside the table
    cdef Py_ssize_t i, n = idx.shape[0], size = table.shape[0]
    cdef long long v
    for i in range(n):
        v = <long long>idx[i]
        if v < 0 or v >= size:
            return <int>(i + 1) if i < 2147483646 else 2147483647
        out[i] = table[v]
    return 0


def _flat(levels):
    if levels.dtype == np.uint64:  # not a fused type: widen through int64 (values were range-checked upstream)
        levels = levels.astype(np.int64)
    return np.ascontiguousarray(levels).reshape(-1)


def uniform(levels, steps, axis, out_dtype):
    """Same contract as nncodec.reference.dequant.uniform."""
    out_dtype = np.dtype(out_dtype)
    flat = _flat(levels)
    steps64 = np.ascontiguousarray(steps, dtype=np.float64)
    if axis is None:
        inner = max(flat.shape[0], 1)
    else:
        inner = 1
        for extent in levels.shape[axis + 1:]:
            inner *= extent
        inner = max(inner, 1)
    if out_dtype == np.float32:
        out32 = np.empty(flat.shape[0], dtype=np.float32)
        _run_u32(flat, steps64, inner, out32)
        return out32.reshape(levels.shape)
    out64 = np.empty(flat.shape[0], dtype=np.float64)
    _run_u64(flat, steps64, inner, out64)
    return out64.reshape(levels.shape).astype(out_dtype, copy=False)


def codebook(indices, entries, out_dtype):
    """Same contract as nncodec.reference.dequant.codebook."""
    flat = _flat(indices)
    table = np.ascontiguousarray(entries, dtype=np.float64)
    out = np.empty(flat.shape[0], dtype=np.float64)
    if _run_g(flat, table, out):
        raise InconsistentError(f"[R4.3-c] codebook index outside 0..{table.shape[0] - 1}")
    return out.reshape(indices.shape).astype(out_dtype, copy=False)


def _run_u32(const level_t[::1] lv, const double[::1] steps, Py_ssize_t inner, float[::1] out):
    with nogil:
        _uniform_f32(lv, steps, inner, out)


def _run_u64(const level_t[::1] lv, const double[::1] steps, Py_ssize_t inner, double[::1] out):
    with nogil:
        _uniform_f64(lv, steps, inner, out)


def _run_g(const level_t[::1] idx, const double[::1] table, double[::1] out):
    cdef int bad
    with nogil:
        bad = _gather(idx, table, out)
    return bad


cdef int _dependent(const int64_t[::1] lv, int64_t[::1] out) noexcept nogil:
    # spec 4.5: four states, Q0 = 2k, Q1 = 2k - sgn(k); next = TRANSITION[state][k & 1].
    # Returns 1 if a level has |k| >= 2**62 (its multiple would overflow), else 0.
    cdef int state = 0
    cdef Py_ssize_t i
    cdef int64_t k
    cdef int64_t bound = (<int64_t>1) << 62
    cdef int trans[4][2]
    trans[0][0] = 0; trans[0][1] = 2
    trans[1][0] = 2; trans[1][1] = 0
    trans[2][0] = 1; trans[2][1] = 3
    trans[3][0] = 3; trans[3][1] = 1
    for i in range(lv.shape[0]):
        k = lv[i]
        if k >= bound or k <= -bound:
            return 1
        if state < 2:
            out[i] = 2 * k
        else:
            out[i] = 2 * k - (k > 0) + (k < 0)
        state = trans[state][k & 1]
    return 0


def dependent(levels, steps, axis, out_dtype):
    """Same contract as nncodec.reference.dequant.dependent."""
    flat = np.ascontiguousarray(levels.reshape(-1), dtype=np.int64)
    multiples = np.empty(flat.shape[0], dtype=np.int64)
    cdef const int64_t[::1] lv = flat
    cdef int64_t[::1] out = multiples
    cdef int bad
    with nogil:
        bad = _dependent(lv, out)
    if bad:
        raise InconsistentError("[R4.5-a] dq level magnitude reaches 2**62")
    return uniform(multiples.reshape(levels.shape), steps, axis, out_dtype)
