# cython: language_level=3
"""Cython twin of nncodec.reference.trellis: the same Viterbi search, candidate order and tie-breaking."""

from libc.math cimport floor, INFINITY
from libc.stdint cimport int64_t, uint8_t

from .bits cimport bit_length

import numpy as np

from ..dq_machine import machine

__all__ = ["trellis_levels"]

DEF MAX_STATES = 32  # the largest State_Count of spec 4.5; a back pointer (state << 2 | candidate) fits a byte


cdef inline double _rate(const double[::1] bits, int64_t half, int64_t k) noexcept nogil:
    # table for -half..half (bits has 2 * half + 1 entries, checked by the caller); escape cost beyond it
    if -half <= k <= half:
        return bits[k + half]
    if k < 0:
        return bits[0] + 2 * bit_length(-k - half)
    return bits[2 * half] + 2 * bit_length(k - half)


cdef inline int _candidates(double u, int odd, int64_t* cand) noexcept nogil:
    # the reference's _candidates: the two nearest levels of the quantizer's grid, then 0, without repeats;
    # returns how many
    cdef int64_t k, below
    cdef int n = 0, q
    cdef int64_t found[3]
    if not odd:
        k = <int64_t>floor(u / 2)
        found[0] = k
        found[1] = k + 1
    else:
        below = 2 * <int64_t>floor((u - 1) / 2) + 1
        found[0] = (below + 1) // 2 if below > 0 else (below - 1) // 2
        found[1] = (below + 3) // 2 if below + 2 > 0 else (below + 1) // 2
    found[2] = 0
    for q in range(3):
        if (n > 0 and cand[0] == found[q]) or (n > 1 and cand[1] == found[q]):
            continue
        cand[n] = found[q]
        n += 1
    return n


cdef void _search(const double[::1] w, const double[::1] step, const double[::1] bits, double lam,
                  const int[::1] odd, const int[:, ::1] trans, uint8_t[:, ::1] back,
                  int64_t[::1] levels) noexcept nogil:
    # back[i, t] = (s << 2) | j: the best path into state t after element i came from state s through candidate j
    # of s's quantizer; the level is recomputed from the candidates when tracing back
    cdef double cost[MAX_STATES]
    cdef double new[MAX_STATES]
    cdef int64_t cand[2][3]
    cdef double d[2][3]
    cdef int ncand[2]
    cdef Py_ssize_t i, n = w.shape[0]
    cdef int s, t, j, q, states = odd.shape[0]
    cdef int64_t k, m, half = (bits.shape[0] - 1) // 2
    cdef double wi, di, u, diff, c
    for s in range(states):
        cost[s] = INFINITY
    cost[0] = 0.0
    for i in range(n):
        wi = w[i]
        di = step[i]
        u = wi / di
        for q in range(2):
            ncand[q] = _candidates(u, q, cand[q])
            for j in range(ncand[q]):
                k = cand[q][j]
                m = 2 * k - ((k > 0) - (k < 0)) if q else 2 * k
                diff = (wi - <double>m * di) / di
                d[q][j] = diff * diff + lam * _rate(bits, half, k)
        for t in range(states):
            new[t] = INFINITY
        for s in range(states):
            if cost[s] == INFINITY:
                continue
            q = odd[s]
            for j in range(ncand[q]):
                c = cost[s] + d[q][j]
                t = trans[s, cand[q][j] & 1]
                if c < new[t]:
                    new[t] = c
                    back[i, t] = <uint8_t>((s << 2) | j)
        for t in range(states):
            cost[t] = new[t]
    s = 0
    for t in range(1, states):
        if cost[t] < cost[s]:
            s = t
    for i in range(n - 1, -1, -1):
        t = back[i, s] >> 2
        q = odd[t]
        _candidates(w[i] / step[i], q, cand[q])
        levels[i] = cand[q][back[i, s] & 3]
        s = t


def trellis_levels(w, step, bits, double lam, states=4):
    """Same contract as nncodec.reference.trellis.trellis_levels."""
    cdef const double[::1] wv = np.ascontiguousarray(w, dtype=np.float64)
    cdef const double[::1] sv = np.ascontiguousarray(step, dtype=np.float64)
    cdef const double[::1] bv = np.ascontiguousarray(bits, dtype=np.float64)
    if sv.shape[0] != wv.shape[0] or bv.shape[0] % 2 != 1:
        raise ValueError("step must match w, and bits must have an odd length")
    odd, transition = machine(states)
    n = wv.shape[0]
    back = np.zeros((n, states), dtype=np.uint8)
    levels = np.zeros(n, dtype=np.int64)
    cdef const int[::1] ov = np.array(odd, dtype=np.intc)
    cdef const int[:, ::1] tv = np.array(transition, dtype=np.intc)
    cdef uint8_t[:, ::1] bk = back
    cdef int64_t[::1] lv = levels
    with nogil:
        _search(wv, sv, bv, lam, ov, tv, bk, lv)
    return levels
