"""Trellis search for dependent quantization (spec 4.5, encoder side): the level sequence that minimises
``sum (w - x)^2 / step^2 + lam * bits(k)`` over the paths of the state machine of ``states`` states (Viterbi).

``trellis_levels(w, step, bits, lam, states=4, zero=None)``: ``w`` and ``step`` are float64 arrays of one element
per weight (C order), ``bits`` a float64 table of the estimated cost of levels ``-K..K`` (index ``k + K``; larger
levels cost ``bits[0 or 2K] + 2 * bit_length(|k| - K)``), ``states`` a State_Count of spec 4.5 (4, 8, 16 or 32),
``zero`` None or a boolean array of one element per weight: where True the level must be 0 (a pruned weight), and
the search plans the states that follow with it, instead of zeroing the level after the search (which would change
the state sequence the decoder walks, and so the reconstruction of every later weight).

At each element, with ``u = w / step``, a quantizer has three candidate levels (the two nearest points of its grid,
then 0; only 0 where ``zero`` is set), each costing ``d = (u - m)^2 + lam * bits(k)`` (``m`` the level's multiple of the step); of those with
the same parity the cheapest goes on (the first on a tie). Every state has two incoming branches (from a state
``s`` with a level parity ``p``): a state keeps the branch of smaller ``cost[s] + d``, the one from the smaller
``s`` on a tie (add-compare-select). Both twins follow these rules, so they return identical levels.
"""

import math

import numpy as np

from ..dq_machine import machine

__all__ = ["trellis_levels"]

INF = float("inf")


def _candidates(u, odd):
    """Levels to try for ``u = w / step`` under Q0 (multiples 2k) or Q1 (odd multiples 2k - sgn k), plus 0."""
    if not odd:
        k = math.floor(u / 2)
        return k, k + 1, 0
    below = 2 * math.floor((u - 1) / 2) + 1  # the odd multiple at or below u
    return tuple((m + 1) // 2 if m > 0 else (m - 1) // 2 for m in (below, below + 2)) + (0,)


def _rate(bits, k):
    half = (len(bits) - 1) // 2
    if -half <= k <= half:
        return bits[k + half]
    return bits[0 if k < 0 else -1] + 2 * (abs(k) - half).bit_length()


def _cheapest_by_parity(u, odd, bits, lam, forced_zero):
    """``{parity: (k, d)}``: under one quantizer, the cheapest candidate level of each parity and its cost, for
    the weight ``u`` in steps (only level 0 if ``forced_zero``)."""
    best = {}
    for k in (0,) if forced_zero else _candidates(u, odd):
        m = 2 * k - ((k > 0) - (k < 0)) if odd else 2 * k
        diff = u - m
        d = diff * diff + lam * _rate(bits, k)
        if k & 1 not in best or d < best[k & 1][1]:
            best[k & 1] = (k, d)
    return best


def _incoming(transition):
    """For each state, its two incoming branches ``(s, parity)``, in increasing ``s``."""
    incoming = [[] for _ in transition]
    for s, targets in enumerate(transition):
        for parity, t in enumerate(targets):
            incoming[t].append((s, parity))
    return incoming


def trellis_levels(w, step, bits, lam, states=4, zero=None):
    """The int64 levels (one per weight) chosen by the Viterbi search described in the module docstring."""
    odd, transition = machine(states)
    incoming = _incoming(transition)
    n = len(w)
    cost = [0.0] + [INF] * (states - 1)  # the machine starts in state 0
    back_state = np.zeros((n, states), dtype=np.int8)
    back_level = np.zeros((n, states), dtype=np.int64)
    bits = [float(b) for b in bits]
    for i in range(n):
        u = float(w[i]) / float(step[i])
        forced_zero = zero is not None and bool(zero[i])
        cheapest = [_cheapest_by_parity(u, q, bits, lam, forced_zero) for q in (0, 1)]
        new = [INF] * states
        for t in range(states):
            for s, parity in incoming[t]:
                if parity not in cheapest[odd[s]]:  # a forced 0 has no odd level
                    continue
                k, d = cheapest[odd[s]][parity]
                c = cost[s] + d
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
