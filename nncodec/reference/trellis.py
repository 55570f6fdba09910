"""Trellis search for dependent quantization (spec 4.5, encoder side): the level sequence that minimises
``sum (w - x)^2 / step^2 + lam * bits(k)`` over the paths of the four-state machine (Viterbi).

``trellis_levels(w, step, bits, lam)``: ``w`` and ``step`` are float64 arrays of one element per weight (C order),
``bits`` a float64 table of the estimated cost of levels ``-K..K`` (index ``k + K``; larger levels cost
``bits[0 or 2K] + 2 * bit_length(|k| - K)``). Both twins visit candidates in the same order and break ties the
same way (the first strictly smaller cost wins), so they return identical levels.
"""

import math

import numpy as np

__all__ = ["trellis_levels"]

TRANSITION = ((0, 2), (2, 0), (1, 3), (3, 1))
INF = float("inf")


def _candidates(u, dependent):
    """Levels to try for ``u = w / step`` under Q0 (multiples 2k) or Q1 (odd multiples 2k - sgn k), plus 0."""
    if not dependent:
        k = math.floor(u / 2)
        return (k, k + 1, 0)
    odd = 2 * math.floor((u - 1) / 2) + 1  # the odd multiple at or below u
    return tuple((m + 1) // 2 if m > 0 else (m - 1) // 2 for m in (odd, odd + 2)) + (0,)


def _rate(bits, k):
    half = (len(bits) - 1) // 2
    if -half <= k <= half:
        return bits[k + half]
    return bits[0 if k < 0 else -1] + 2 * (abs(k) - half).bit_length()


def trellis_levels(w, step, bits, lam):
    """The int64 levels (one per weight) chosen by the Viterbi search described in the module docstring."""
    n = len(w)
    cost = [0.0, INF, INF, INF]  # the machine starts in state 0
    back_state = np.zeros((n, 4), dtype=np.int8)
    back_level = np.zeros((n, 4), dtype=np.int64)
    bits = [float(b) for b in bits]
    for i in range(n):
        wi, di = float(w[i]), float(step[i])
        u = wi / di
        new = [INF, INF, INF, INF]
        for s in range(4):
            if cost[s] == INF:
                continue
            dependent = s >= 2
            tried = set()
            for k in _candidates(u, dependent):
                if k in tried:
                    continue
                tried.add(k)
                m = 2 * k - ((k > 0) - (k < 0) if dependent else 0)
                diff = (wi - m * di) / di
                c = cost[s] + diff * diff + lam * _rate(bits, k)
                t = TRANSITION[s][k & 1]
                if c < new[t]:
                    new[t] = c
                    back_state[i, t] = s
                    back_level[i, t] = k
        cost = new
    levels = np.zeros(n, dtype=np.int64)
    state = min(range(4), key=lambda s: (cost[s], s))
    for i in range(n - 1, -1, -1):
        levels[i] = back_level[i, state]
        state = back_state[i, state]
    return levels
