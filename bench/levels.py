"""Quantized levels of real weights and their zeroth-order entropy: the inputs and the bound of the entropy benchmarks."""

import numpy as np

MIN_WEIGHTS = 1000


def quantize(weights, bits):
    """Uniform symmetric levels of one float tensor: ``round(w / delta)`` with ``delta = max|w| / 2**(bits-1)``."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    if peak == 0.0:
        return np.zeros(w.size, dtype=np.int64)
    delta = peak / 2 ** (bits - 1)
    return np.round(w / delta).astype(np.int64)


def quantized_levels(npz_path, bits):
    """``{name: int64 levels}`` for every tensor of ``npz_path`` with at least 1000 weights, in file order."""
    with np.load(npz_path, allow_pickle=False) as z:
        return {name: quantize(z[name], bits) for name in z.files if z[name].size >= MIN_WEIGHTS}


def tensor_h0_bits(levels):
    """Zeroth-order empirical entropy of one array of levels, in bits for the whole array (no side information)."""
    _, counts = np.unique(levels, return_counts=True)
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())


def h0_bits(levels):
    """Sum over tensors of each tensor's zeroth-order empirical entropy in bits (``levels``: name -> array)."""
    return sum(tensor_h0_bits(a) for a in levels.values())
