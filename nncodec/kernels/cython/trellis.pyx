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


cdef inline void _candidates(double u, int odd, int64_t* cand) noexcept nogil:
    # the reference's _candidates: the two nearest levels of the quantizer's grid, then 0
    cdef int64_t below
    if not odd:
        cand[0] = <int64_t>floor(u / 2)
        cand[1] = cand[0] + 1
    else:
        below = 2 * <int64_t>floor((u - 1) / 2) + 1
        cand[0] = (below + 1) // 2 if below > 0 else (below - 1) // 2
        cand[1] = (below + 3) // 2 if below + 2 > 0 else (below + 1) // 2
    cand[2] = 0


cdef void _search(const double[::1] w, const double[::1] step, const double[::1] bits, double lam,
                  const int[::1] odd, const int[:, ::1] trans, const uint8_t[::1] zero, uint8_t[:, ::1] back,
                  int64_t[::1] levels) noexcept nogil:
    # back[i, t] = (s << 2) | j: the best path into state t after element i came from state s through candidate j
    # of s's quantizer; the level is recomputed from the candidates when tracing back
    cdef double cost[MAX_STATES]
    cdef double new[MAX_STATES]
    cdef int quantizer[MAX_STATES]
    cdef int from_state[MAX_STATES][2]   # the two incoming branches of each state, in increasing source state ...
    cdef int branch[MAX_STATES][2]       # ... and their 2 * quantizer + parity, the index into best
    cdef int incoming[MAX_STATES]
    cdef int64_t cand[3]
    cdef double best[4]                  # [2 * quantizer + parity]: the cheapest candidate's cost ...
    cdef int best_j[4]                   # ... and its index in the candidate list
    cdef Py_ssize_t i, n = w.shape[0]
    cdef int s, t, j, q, p, a, b, states = odd.shape[0]
    cdef int64_t k, m, half = (bits.shape[0] - 1) // 2
    cdef double u, diff, d, ca, cb
    cdef uint8_t* row
    for t in range(states):
        incoming[t] = 0
    for s in range(states):  # the tables in local arrays (states <= MAX_STATES, checked by the caller)
        cost[s] = INFINITY
        quantizer[s] = odd[s]
        for p in range(2):  # every state has exactly two incoming branches (nncodec.dq_machine's trellises)
            t = trans[s, p]
            from_state[t][incoming[t]] = s
            branch[t][incoming[t]] = 2 * odd[s] + p
            incoming[t] += 1
    cost[0] = 0.0
    for i in range(n):
        u = w[i] / step[i]
        if zero.shape[0] and zero[i]:  # a forced 0 (even): the only candidate, j = 2 in both quantizers' lists
            d = u * u + lam * _rate(bits, half, 0)
            for q in range(2):
                best[2 * q] = d
                best_j[2 * q] = 2
                best[2 * q + 1] = INFINITY
                best_j[2 * q + 1] = 2
        else:
            for q in range(2):
                best[2 * q] = INFINITY
                best[2 * q + 1] = INFINITY
                _candidates(u, q, cand)
                for j in range(3):
                    k = cand[j]
                    m = 2 * k - ((k > 0) - (k < 0)) if q else 2 * k
                    diff = u - <double>m
                    d = diff * diff + lam * _rate(bits, half, k)
                    p = 2 * q + <int>(k & 1)
                    if d < best[p]:
                        best[p] = d
                        best_j[p] = j
        row = &back[i, 0]
        for t in range(states):
            a = from_state[t][0]
            b = from_state[t][1]
            ca = cost[a] + best[branch[t][0]]
            cb = cost[b] + best[branch[t][1]]
            if cb < ca:
                new[t] = cb
                row[t] = <uint8_t>((b << 2) | best_j[branch[t][1]])
            else:
                new[t] = ca
                row[t] = <uint8_t>((a << 2) | best_j[branch[t][0]])
        for t in range(states):
            cost[t] = new[t]
    s = 0
    for t in range(1, states):
        if cost[t] < cost[s]:
            s = t
    for i in range(n - 1, -1, -1):
        t = back[i, s] >> 2
        _candidates(w[i] / step[i], quantizer[t], cand)
        levels[i] = cand[back[i, s] & 3]
        s = t


def trellis_levels(w, step, bits, double lam, states=4, zero=None):
    """Same contract as nncodec.reference.trellis.trellis_levels."""
    cdef const double[::1] wv = np.ascontiguousarray(w, dtype=np.float64)
    cdef const double[::1] sv = np.ascontiguousarray(step, dtype=np.float64)
    cdef const double[::1] bv = np.ascontiguousarray(bits, dtype=np.float64)
    cdef const uint8_t[::1] zv = np.zeros(0, np.uint8) if zero is None else np.ascontiguousarray(zero, dtype=np.uint8)
    if sv.shape[0] != wv.shape[0] or bv.shape[0] % 2 != 1 or zv.shape[0] not in (0, wv.shape[0]):
        raise ValueError("step and zero must match w, and bits must have an odd length")
    odd, transition = machine(states)  # KeyError for a State_Count outside spec 4.5, so len(odd) <= MAX_STATES
    n = wv.shape[0]
    back = np.zeros((n, states), dtype=np.uint8)
    levels = np.zeros(n, dtype=np.int64)
    cdef const int[::1] ov = np.array(odd, dtype=np.intc)
    cdef const int[:, ::1] tv = np.array(transition, dtype=np.intc)
    cdef uint8_t[:, ::1] bk = back
    cdef int64_t[::1] lv = levels
    with nogil:
        _search(wv, sv, bv, lam, ov, tv, zv, bk, lv)
    return levels
