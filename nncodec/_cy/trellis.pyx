# cython: language_level=3
"""Cython twin of nncodec.reference.trellis: the same Viterbi search, candidate order and tie-breaking."""

from libc.math cimport floor, INFINITY
from libc.stdint cimport int8_t, int64_t

from .bits cimport bit_length

import numpy as np

__all__ = ["trellis_levels"]


cdef inline double _rate(const double[::1] bits, int64_t half, int64_t k) noexcept nogil:
    # table for -half..half (bits has 2 * half + 1 entries, checked by the caller); escape cost beyond it
    if -half <= k <= half:
        return bits[k + half]
    if k < 0:
        return bits[0] + 2 * bit_length(-k - half)
    return bits[2 * half] + 2 * bit_length(k - half)


cdef void _search(const double[::1] w, const double[::1] step, const double[::1] bits, double lam,
                  int8_t[:, ::1] back_state, int64_t[:, ::1] back_level, int64_t[::1] levels) noexcept nogil:
    cdef int trans[4][2]
    trans[0][0] = 0; trans[0][1] = 2
    trans[1][0] = 2; trans[1][1] = 0
    trans[2][0] = 1; trans[2][1] = 3
    trans[3][0] = 3; trans[3][1] = 1
    cdef double cost[4]
    cdef double new[4]
    cdef int64_t cand[3]
    cdef Py_ssize_t i, n = w.shape[0]
    cdef int s, t, j, q, dependent, ncand
    cdef int64_t k, m, odd, half = (bits.shape[0] - 1) // 2
    cdef double wi, di, u, diff, c
    cost[0] = 0.0
    cost[1] = INFINITY
    cost[2] = INFINITY
    cost[3] = INFINITY
    for i in range(n):
        wi = w[i]
        di = step[i]
        u = wi / di
        for t in range(4):
            new[t] = INFINITY
        for s in range(4):
            if cost[s] == INFINITY:
                continue
            dependent = s >= 2
            if not dependent:
                k = <int64_t>floor(u / 2)
                cand[0] = k
                cand[1] = k + 1
            else:
                odd = 2 * <int64_t>floor((u - 1) / 2) + 1
                cand[0] = (odd + 1) // 2 if odd > 0 else (odd - 1) // 2
                cand[1] = (odd + 3) // 2 if odd + 2 > 0 else (odd + 1) // 2
            cand[2] = 0
            ncand = 3
            for j in range(ncand):
                k = cand[j]
                # skip a candidate already tried (same order as the reference's set)
                q = 0
                while q < j:
                    if cand[q] == k:
                        break
                    q += 1
                if q < j:
                    continue
                if dependent:
                    m = 2 * k - ((k > 0) - (k < 0))
                else:
                    m = 2 * k
                diff = (wi - <double>m * di) / di
                c = cost[s] + diff * diff + lam * _rate(bits, half, k)
                t = trans[s][k & 1]
                if c < new[t]:
                    new[t] = c
                    back_state[i, t] = s
                    back_level[i, t] = k
        for t in range(4):
            cost[t] = new[t]
    s = 0
    for t in range(1, 4):
        if cost[t] < cost[s]:
            s = t
    for i in range(n - 1, -1, -1):
        levels[i] = back_level[i, s]
        s = back_state[i, s]


def trellis_levels(w, step, bits, double lam):
    """Same contract as nncodec.reference.trellis.trellis_levels."""
    cdef const double[::1] wv = np.ascontiguousarray(w, dtype=np.float64)
    cdef const double[::1] sv = np.ascontiguousarray(step, dtype=np.float64)
    cdef const double[::1] bv = np.ascontiguousarray(bits, dtype=np.float64)
    if sv.shape[0] != wv.shape[0] or bv.shape[0] % 2 != 1:
        raise ValueError("step must match w, and bits must have an odd length")
    n = wv.shape[0]
    back_state = np.zeros((n, 4), dtype=np.int8)
    back_level = np.zeros((n, 4), dtype=np.int64)
    levels = np.zeros(n, dtype=np.int64)
    cdef int8_t[:, ::1] bs = back_state
    cdef int64_t[:, ::1] bl = back_level
    cdef int64_t[::1] lv = levels
    with nogil:
        _search(wv, sv, bv, lam, bs, bl, lv)
    return levels
