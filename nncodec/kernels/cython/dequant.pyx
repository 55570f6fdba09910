# cython: language_level=3
"""Cython twin of nncodec.reference.dequant: one fused pass from levels to floats, no temporaries."""

from libc.math cimport fabs, isinf, signbit
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

import numpy as np

from ..dq_machine import machine
from ...errors import InconsistentError
from ...format.dtypes import numpy_dtype

__all__ = ["uniform", "codebook", "dependent", "to_bfloat16"]

BFLOAT16 = numpy_dtype(11)

ctypedef fused level_t:
    int8_t
    uint8_t
    int16_t
    uint16_t
    int32_t
    uint32_t
    int64_t
    uint64_t

ctypedef fused out_t:
    float
    double
    uint16_t  # bfloat16 bits


cdef inline uint16_t _bfloat16_bits(double x) noexcept nogil:
    # spec 4: binary64 to bfloat16, nearest even, in one rounding. First to binary32 rounding to odd (toward zero,
    # the last bit set when inexact), then to bfloat16 to nearest even: binary32's 16 extra bits over the same
    # exponent range make that the direct rounding. NaN: the quiet NaN 0x7FC0 with its sign.
    cdef double magnitude = fabs(x)
    cdef uint32_t u
    cdef float f
    if magnitude <= 3.4028234663852886e38:  # within binary32's finite range (not NaN)
        f = <float>x  # to nearest even
        memcpy(&u, &f, 4)
        # inexact: truncate (one binary32 toward zero where rounding went away from zero), set the last bit
        u = (u - <uint32_t>(fabs(<double>f) > magnitude)) | <uint32_t>(<double>f != x)
    elif x != x:
        return 0xFFC0 if signbit(x) else 0x7FC0
    else:  # beyond binary32's largest finite: inf stays, the rest truncates to the largest finite (odd)
        u = (0x80000000u if signbit(x) else 0) | (0x7F800000u if isinf(x) else 0x7F7FFFFFu)
    u += 0x7FFF + ((u >> 16) & 1)  # nearest even on the 16 dropped bits (the largest finite rounds up to inf)
    return <uint16_t>(u >> 16)


cdef inline void _store(out_t* slot, double value) noexcept nogil:
    # spec 4.2: the binary64 product rounded once to the output type (bfloat16 held as its bits)
    if out_t is uint16_t:
        slot[0] = _bfloat16_bits(value)
    else:
        slot[0] = <out_t>value


cdef void _uniform(const level_t[::1] lv, const double[::1] steps, Py_ssize_t inner, out_t[::1] out) noexcept nogil:
    # element i uses step (i // inner) % len(steps); inner = product of extents after the axis.
    # spec 4.2: the product is binary64, rounded once to the output type
    cdef Py_ssize_t i, n = lv.shape[0], ns = steps.shape[0], j = 0, k = 0
    for i in range(n):
        _store(&out[i], <double>lv[i] * steps[j])
        k += 1
        if k == inner:
            k = 0
            j += 1
            if j == ns:
                j = 0


cdef int _dependent(const level_t[::1] lv, const double[::1] steps, Py_ssize_t inner, const int[::1] odd,
                    const int[:, ::1] trans, out_t[::1] out) noexcept nogil:
    # spec 4.5: Q0 multiple 2k in the even-table states, Q1 multiple 2k - sgn(k) where odd[state], next =
    # trans[state][k & 1]; the multiple times the step as in 4.2. The tables come from nncodec.dq_machine, so
    # every next state indexes them. Returns 1 if a level has |k| >= 2**62 (its multiple would overflow), else 0.
    cdef int state = 0
    cdef Py_ssize_t i, n = lv.shape[0], ns = steps.shape[0], j = 0, k = 0
    cdef int64_t level, m
    cdef int64_t bound = (<int64_t>1) << 62
    for i in range(n):
        if level_t is uint64_t:
            if lv[i] >= <uint64_t>bound:  # checked before the cast: 2**63 and above would wrap negative
                return 1
        level = <int64_t>lv[i]
        if level >= bound or level <= -bound:
            return 1
        m = 2 * level - (level > 0) + (level < 0) if odd[state] else 2 * level
        _store(&out[i], <double>m * steps[j])
        state = trans[state, level & 1]
        k += 1
        if k == inner:
            k = 0
            j += 1
            if j == ns:
                j = 0
    return 0


cdef int _gather(const level_t[::1] idx, const double[::1] table, double[::1] out) noexcept nogil:
    # returns the first bad position + 1, or 0 when every index is inside the table
    cdef Py_ssize_t i, n = idx.shape[0], size = table.shape[0]
    cdef long long v
    for i in range(n):
        if level_t is uint64_t:
            if idx[i] >= <uint64_t>size:
                return <int>(i + 1) if i < 2147483646 else 2147483647
        v = <long long>idx[i]
        if v < 0 or v >= size:
            return <int>(i + 1) if i < 2147483646 else 2147483647
        out[i] = table[v]
    return 0


cdef void _to_bfloat16(const double[::1] values, uint16_t[::1] out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(values.shape[0]):
        out[i] = _bfloat16_bits(values[i])


def to_bfloat16(values):
    """Same contract as nncodec.reference.dequant.to_bfloat16."""
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    out = np.empty(flat.shape[0], dtype=np.uint16)
    cdef const double[::1] src = flat
    cdef uint16_t[::1] dst = out
    with nogil:
        _to_bfloat16(src, dst)
    return out.view(BFLOAT16).reshape(np.shape(values))


def _run_uniform(const level_t[::1] lv, const double[::1] steps, Py_ssize_t inner, out_t[::1] out):
    with nogil:
        _uniform(lv, steps, inner, out)


def _run_dependent(const level_t[::1] lv, const double[::1] steps, Py_ssize_t inner, const int[::1] odd,
                   const int[:, ::1] trans, out_t[::1] out):
    cdef int bad
    with nogil:
        bad = _dependent(lv, steps, inner, odd, trans, out)
    return bad


def _run_gather(const level_t[::1] idx, const double[::1] table, double[::1] out):
    cdef int bad
    with nogil:
        bad = _gather(idx, table, out)
    return bad


def _flat(levels):
    return np.ascontiguousarray(levels).reshape(-1)


def _steps_and_inner(levels, steps, axis):
    """float64 steps and the run length of one step in C order (the product of extents after the axis)."""
    inner = levels.size if axis is None else int(np.prod(levels.shape[axis + 1:], dtype=np.int64))
    return np.ascontiguousarray(steps, dtype=np.float64), max(inner, 1)


def _to_floats(kernel, levels, steps, axis, out_dtype, *tables):
    """Run a fused level -> float kernel (``tables``: the dq machine's); float16 output goes through binary64 and
    one rounding, as in the spec; bfloat16 output is written as bits by the kernel."""
    out_dtype = np.dtype(out_dtype)
    flat = _flat(levels)
    steps64, inner = _steps_and_inner(levels, steps, axis)
    kernel_dtype = {np.dtype(np.float32): np.float32, BFLOAT16: np.uint16}.get(out_dtype, np.float64)
    out = np.empty(flat.shape[0], dtype=kernel_dtype)
    if kernel(flat, steps64, inner, *tables, out):  # only the dq kernel can fail (returns 1)
        raise InconsistentError("[R4.5-a] dq level magnitude reaches 2**62")
    if out_dtype == BFLOAT16:
        return out.view(BFLOAT16).reshape(levels.shape)
    return out.reshape(levels.shape).astype(out_dtype, copy=False)


def uniform(levels, steps, axis, out_dtype):
    """Same contract as nncodec.reference.dequant.uniform."""
    return _to_floats(_run_uniform, levels, steps, axis, out_dtype)


def dependent(levels, steps, axis, out_dtype, states=4):
    """Same contract as nncodec.reference.dequant.dependent."""
    odd, transition = machine(states)
    return _to_floats(_run_dependent, levels, steps, axis, out_dtype, np.array(odd, dtype=np.intc),
                      np.array(transition, dtype=np.intc))


def codebook(indices, entries, out_dtype):
    """Same contract as nncodec.reference.dequant.codebook."""
    flat = _flat(indices)
    table = np.ascontiguousarray(entries, dtype=np.float64)
    out = np.empty(flat.shape[0], dtype=np.float64)
    if _run_gather(flat, table, out):
        raise InconsistentError(f"[R4.3-c] codebook index outside 0..{table.shape[0] - 1}")
    if np.dtype(out_dtype) == BFLOAT16:
        return to_bfloat16(out).reshape(indices.shape)
    return out.reshape(indices.shape).astype(out_dtype, copy=False)
