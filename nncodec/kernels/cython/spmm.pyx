# cython: language_level=3
"""Cython twin of nncodec.reference.spmm: the same products, GIL released, rows split over ``threads`` OpenMP
threads when the module was built with OpenMP (``PARALLEL``), else run on one thread.

Bounds checks are off: every ``nncodec.sparse`` structure is validated once, when it is built (pointers
non-decreasing from 0 to the entry count, column indices below n, value indices inside omega), and its products
check the shapes of ``x`` and ``out`` on every call, so every index below is in range.
"""

from cython.parallel cimport prange, threadid
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t

import numpy as np

__all__ = ["PARALLEL", "csr_matmul", "csr8_matmul", "cer_matmul", "cser_matmul", "relidx_matmul"]

cdef extern from *:
    """
    #ifdef _OPENMP
    #define NNCODEC_OPENMP 1
    #else
    #define NNCODEC_OPENMP 0
    #endif
    """
    int NNCODEC_OPENMP

PARALLEL = bool(NNCODEC_OPENMP)

# Column indices (and relidx gaps) are uint16 when they fit (half the memory traffic), else int32 when they fit,
# else int64 (extents up to max_elements, spec 6); group pointers int32 when the entry count allows, else int64.
ctypedef fused col_t:
    int64_t
    int32_t
    uint16_t

ctypedef fused ptr_t:
    int32_t
    int64_t

# CSER value indices: int32 when the table allows, else int64.
ctypedef fused vidx_t:
    int32_t
    int64_t


cdef inline float _dot(const col_t* cols, const float* values, Py_ssize_t start, Py_ssize_t stop,
                       const float* x) noexcept nogil:
    # four partial sums break the floating-point add dependency chain (the result stays within the
    # recursive-summation bound the tests check)
    cdef float s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t k = start
    while k + 4 <= stop:
        s0 += values[k] * x[cols[k]]
        s1 += values[k + 1] * x[cols[k + 1]]
        s2 += values[k + 2] * x[cols[k + 2]]
        s3 += values[k + 3] * x[cols[k + 3]]
        k += 4
    while k < stop:
        s0 += values[k] * x[cols[k]]
        k += 1
    return (s0 + s1) + (s2 + s3)


cdef inline float _gather_sum(const col_t* cols, Py_ssize_t start, Py_ssize_t stop, const float* x) noexcept nogil:
    cdef float s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t k = start
    while k + 4 <= stop:
        s0 += x[cols[k]]
        s1 += x[cols[k + 1]]
        s2 += x[cols[k + 2]]
        s3 += x[cols[k + 3]]
        k += 4
    while k < stop:
        s0 += x[cols[k]]
        k += 1
    return (s0 + s1) + (s2 + s3)


def csr_matmul(const int64_t[::1] row_ptr, const col_t[::1] col_idx, const float[::1] values,
               const float[:, ::1] x, float[:, ::1] out, int threads):
    cdef Py_ssize_t m = out.shape[0], b = out.shape[1], i, k, j
    cdef float v
    cdef const float* xr
    cdef float* yr
    if m == 0 or b == 0:
        return
    if x.shape[0] == 0 or col_idx.shape[0] == 0:  # no entries: every product is zero
        out[:, :] = 0
        return
    with nogil:
        if b == 1:
            for i in prange(m, schedule="guided", num_threads=threads):
                out[i, 0] = _dot(&col_idx[0], &values[0], row_ptr[i], row_ptr[i + 1], &x[0, 0])
        else:
            # row-major x: each entry streams one contiguous row of x into the output row
            for i in prange(m, schedule="guided", num_threads=threads):
                yr = &out[i, 0]
                for j in range(b):
                    yr[j] = 0
                for k in range(row_ptr[i], row_ptr[i + 1]):
                    v = values[k]
                    xr = &x[col_idx[k], 0]
                    for j in range(b):
                        yr[j] = yr[j] + v * xr[j]


cdef inline float _dot_codes(const col_t* cols, const uint8_t* codes, const float* table, Py_ssize_t start,
                             Py_ssize_t stop, const float* x) noexcept nogil:
    # as _dot, with each value looked up in the (L1-resident) table by its 8-bit code
    cdef float s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t k = start
    while k + 4 <= stop:
        s0 += table[codes[k]] * x[cols[k]]
        s1 += table[codes[k + 1]] * x[cols[k + 1]]
        s2 += table[codes[k + 2]] * x[cols[k + 2]]
        s3 += table[codes[k + 3]] * x[cols[k + 3]]
        k += 4
    while k < stop:
        s0 += table[codes[k]] * x[cols[k]]
        k += 1
    return (s0 + s1) + (s2 + s3)


def csr8_matmul(const int64_t[::1] row_ptr, const col_t[::1] col_idx, const uint8_t[::1] codes,
                const float[::1] table, const float[:, ::1] x, float[:, ::1] out, int threads):
    """CSR whose values are ``table[codes[k]]``: 1 byte per value instead of 4 (uint16 columns: 3 bytes per
    entry in all), for matrices with at most 256 distinct values."""
    cdef Py_ssize_t m = out.shape[0], b = out.shape[1], i, k, j
    cdef float v
    cdef const float* xr
    cdef float* yr
    if m == 0 or b == 0:
        return
    if x.shape[0] == 0 or col_idx.shape[0] == 0:
        out[:, :] = 0
        return
    with nogil:
        if b == 1:
            for i in prange(m, schedule="guided", num_threads=threads):
                out[i, 0] = _dot_codes(&col_idx[0], &codes[0], &table[0], row_ptr[i], row_ptr[i + 1], &x[0, 0])
        else:
            for i in prange(m, schedule="guided", num_threads=threads):
                yr = &out[i, 0]
                for j in range(b):
                    yr[j] = 0
                for k in range(row_ptr[i], row_ptr[i + 1]):
                    v = table[codes[k]]
                    xr = &x[col_idx[k], 0]
                    for j in range(b):
                        yr[j] = yr[j] + v * xr[j]


cdef void _grouped(const int64_t[::1] row_ptr, const vidx_t* group_value, const ptr_t[::1] omega_ptr,
                   const col_t[::1] col_idx, const float[::1] omega, const float[:, ::1] x, float[:, ::1] out,
                   float[:, ::1] scratch, int threads) noexcept nogil:
    # group_value NULL means CER (the j-th group of a row has value index j + 1), else CSER's omega_idx.
    cdef Py_ssize_t m = out.shape[0], b = out.shape[1], i, g, k, j
    cdef float acc, gsum, w
    cdef const float* xr
    cdef float* yr
    cdef float* sr
    if b == 1:
        for i in prange(m, schedule="guided", num_threads=threads):
            acc = 0
            for g in range(row_ptr[i], row_ptr[i + 1]):
                gsum = _gather_sum(&col_idx[0], omega_ptr[g], omega_ptr[g + 1], &x[0, 0])
                if group_value == NULL:
                    w = omega[g - row_ptr[i] + 1]
                else:
                    w = omega[group_value[g]]
                acc = acc + w * gsum
            out[i, 0] = acc
    else:
        for i in prange(m, schedule="guided", num_threads=threads):
            yr = &out[i, 0]
            sr = &scratch[threadid(), 0]
            for j in range(b):
                yr[j] = 0
            for g in range(row_ptr[i], row_ptr[i + 1]):
                for j in range(b):
                    sr[j] = 0
                for k in range(omega_ptr[g], omega_ptr[g + 1]):
                    xr = &x[col_idx[k], 0]
                    for j in range(b):
                        sr[j] = sr[j] + xr[j]
                if group_value == NULL:
                    w = omega[g - row_ptr[i] + 1]
                else:
                    w = omega[group_value[g]]
                for j in range(b):
                    yr[j] = yr[j] + w * sr[j]


def cer_matmul(const int64_t[::1] row_ptr, const ptr_t[::1] omega_ptr, const col_t[::1] col_idx,
               const float[::1] omega, const float[:, ::1] x, float[:, ::1] out, int threads):
    if out.shape[0] == 0 or out.shape[1] == 0:
        return
    if x.shape[0] == 0 or col_idx.shape[0] == 0:
        out[:, :] = 0
        return
    cdef float[:, ::1] scratch = np.empty((max(threads, 1), out.shape[1]), dtype=np.float32)
    cdef const int32_t* no_values = NULL
    with nogil:
        _grouped(row_ptr, no_values, omega_ptr, col_idx, omega, x, out, scratch, threads)


def cser_matmul(const int64_t[::1] row_ptr, const vidx_t[::1] omega_idx, const ptr_t[::1] omega_ptr,
                const col_t[::1] col_idx, const float[::1] omega, const float[:, ::1] x, float[:, ::1] out,
                int threads):
    if out.shape[0] == 0 or out.shape[1] == 0:
        return
    if x.shape[0] == 0 or col_idx.shape[0] == 0:
        out[:, :] = 0
        return
    cdef float[:, ::1] scratch = np.empty((max(threads, 1), out.shape[1]), dtype=np.float32)
    cdef const vidx_t* idx = &omega_idx[0]
    with nogil:
        _grouped(row_ptr, idx, omega_ptr, col_idx, omega, x, out, scratch, threads)


def relidx_matmul(const int64_t[::1] row_ptr, const int64_t[::1] first_col, const col_t[::1] gaps,
                  const float[::1] values, const float[:, ::1] x, float[:, ::1] out, int threads):
    cdef Py_ssize_t m = out.shape[0], b = out.shape[1], i, k, j, col
    cdef float acc, v
    cdef const float* xr
    cdef float* yr
    if m == 0 or b == 0:
        return
    with nogil:
        if b == 1:
            for i in prange(m, schedule="guided", num_threads=threads):
                acc = 0
                col = first_col[i]
                for k in range(row_ptr[i], row_ptr[i + 1]):
                    if k > row_ptr[i]:
                        col = col + gaps[k] + 1
                    acc = acc + values[k] * x[col, 0]
                out[i, 0] = acc
        else:
            for i in prange(m, schedule="guided", num_threads=threads):
                yr = &out[i, 0]
                for j in range(b):
                    yr[j] = 0
                col = first_col[i]
                for k in range(row_ptr[i], row_ptr[i + 1]):
                    if k > row_ptr[i]:
                        col = col + gaps[k] + 1
                    v = values[k]
                    xr = &x[col, 0]
                    for j in range(b):
                        yr[j] = yr[j] + v * xr[j]
