"""Trellis search for dependent quantization (spec 4.5, encoder side): the level sequence that minimises
``sum (w - x)^2 / step^2 + lam * bits(k)`` over the paths of the state machine of ``states`` states (Viterbi).

``trellis_levels(w, step, bits, lam, states=4)``: ``w`` and ``step`` are float64 arrays of one element per weight
(C order), ``bits`` a float64 table of the estimated cost of levels ``-K..K`` (index ``k + K``; larger levels cost
``bits[0 or 2K] + 2 * bit_length(|k| - K)``), ``states`` a State_Count of spec 4.5 (4, 8, 16 or 32).

Each element has at most three candidate levels per quantizer (the two nearest points of its grid, then 0), each
with the cost ``d = diff^2 + lam * bits(k)``; a path from state ``s`` through candidate ``k`` costs
``cost[s] + d``. Both twins visit states in increasing order and candidates in that order, and keep the first
strictly smaller cost, so they return identical levels.
"""

import math

import numpy as np

from ..dq_machine import machine

__all__ = ["trellis_levels"]

INF = float("inf")


def _candidates(u, odd):
    """Levels to try for ``u = w / step`` under Q0 (multiples 2k) or Q1 (odd multiples 2k - sgn k), plus 0; a
    level already listed is not repeated."""
    if not odd:
        k = math.floor(u / 2)
        found = (k, k + 1, 0)
    else:
        below = 2 * math.floor((u - 1) / 2) + 1  # the odd multiple at or below u
        found = tuple((m + 1) // 2 if m > 0 else (m - 1) // 2 for m in (below, below + 2)) + (0,)
    return tuple(dict.fromkeys(found))


def _rate(bits, k):
    half = (len(bits) - 1) // 2
    if -half <= k <= half:
        return bits[k + half]
    return bits[0 if k < 0 else -1] + 2 * (abs(k) - half).bit_length()


def _branches(wi, di, odd, bits, lam):
    """``[(k, d)]``: each candidate level under one quantizer and its distortion-plus-rate cost."""
    u = wi / di
    out = []
    for k in _candidates(u, odd):
        m = 2 * k - ((k > 0) - (k < 0)) if odd else 2 * k
        diff = (wi - m * di) / di
        out.append((k, diff * diff + lam * _rate(bits, k)))
    return out


def trellis_levels(w, step, bits, lam, states=4):
    """The int64 levels (one per weight) chosen by the Viterbi search described in the module docstring."""
    odd, transition = machine(states)
    n = len(w)
    cost = [0.0] + [INF] * (states - 1)  # the machine starts in state 0
    back_state = np.zeros((n, states), dtype=np.int8)
    back_level = np.zeros((n, states), dtype=np.int64)
    bits = [float(b) for b in bits]
    for i in range(n):
        branches = [_branches(float(w[i]), float(step[i]), q, bits, lam) for q in (0, 1)]
        new = [INF] * states
        for s in range(states):
            if cost[s] == INF:
                continue
            for k, d in branches[odd[s]]:
                c = cost[s] + d
                t = transition[s][k & 1]
                if c < new[t]:
                    new[t] = c
                    back_state[i, t] = s
                    back_level[i, t] = k
        cost = new
    levels = np.zeros(n, dtype=np.int64)
    state = min(range(states), key=lambda s: (cost[s], s))
    for i in range(n - 1, -1, -1):
        levels[i] = back_level[i, state]
        state = back_state[i, state]
    return levels
