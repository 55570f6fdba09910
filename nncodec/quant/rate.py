"""A static rate model for integer levels: the estimated bits each level costs an adaptive entropy coder.

Estimated as ``-log2`` of the level's smoothed frequency in a set of levels (what an arithmetic coder such as CABAC
approaches, and what Huffman code lengths round), tabulated for ``-K..K``; the twins of the trellis search read the
table, and levels outside it cost the table's end plus an Exp-Golomb-like escape.
"""

import numpy as np

__all__ = ["level_bits", "level_cost", "MAX_TABLE"]

MAX_TABLE = 64  # K at most: levels beyond it are rare in quantized weights and priced by the escape rule


def level_bits(levels, smoothing=0.5):
    """float64 table of ``2K + 1`` bit costs for levels ``-K..K`` (index ``k + K``), K = min(max|level|, 64) + 1."""
    levels = np.asarray(levels, dtype=np.int64).reshape(-1)
    half = min(int(np.abs(levels).max(initial=0)), MAX_TABLE) + 1
    clipped = np.clip(levels, -half, half) + half
    counts = np.bincount(clipped, minlength=2 * half + 1).astype(np.float64) + smoothing
    return -np.log2(counts / counts.sum())


def level_cost(bits, levels):
    """The bits the table gives each level (escape rule beyond the table, as in ``reference.trellis``)."""
    half = (len(bits) - 1) // 2
    levels = np.asarray(levels, dtype=np.int64)
    inside = np.clip(levels, -half, half)
    cost = bits[inside + half].astype(np.float64)
    beyond = np.abs(levels) > half
    if beyond.any():
        extra = np.abs(levels[beyond]) - half
        cost[beyond] += 2 * np.floor(np.log2(extra) + 1)
    return cost
