"""Distortion measures over one tensor or a whole model (a dict of tensors, compared by name)."""

from collections.abc import Mapping

import numpy as np

from ..errors import EncodeError

__all__ = ["sqnr_db", "max_abs_error", "decibels"]


def decibels(signal, noise):
    """``10 log10(signal / noise)`` elementwise: inf when noise is 0 and signal is not."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(np.asarray(signal, dtype=np.float64) / noise)


def _pairs(original, reconstructed):
    if isinstance(original, Mapping) != isinstance(reconstructed, Mapping):
        raise EncodeError("compare a dict with a dict, or an array with an array")
    if not isinstance(original, Mapping):
        original, reconstructed = {"": original}, {"": reconstructed}
    if set(original) != set(reconstructed):
        raise EncodeError(f"tensor names differ: {sorted(set(original) ^ set(reconstructed))}")
    for name in original:
        a = np.asarray(original[name], dtype=np.float64)
        b = np.asarray(reconstructed[name], dtype=np.float64)
        if a.shape != b.shape:
            raise EncodeError(f"tensor {name!r}: shapes differ, {a.shape} vs {b.shape}")
        yield a, b


def sqnr_db(original, reconstructed):
    """``10 log10(sum w**2 / sum (w - w_hat)**2)`` over all tensors together, as a float; inf when exact."""
    signal = noise = 0.0
    for a, b in _pairs(original, reconstructed):
        signal += np.sum(a * a)
        noise += np.sum((a - b) * (a - b))
    if noise == 0:
        return float("inf")
    return float(decibels(signal, noise))


def max_abs_error(original, reconstructed):
    """The largest ``|w - w_hat|`` over all tensors (0.0 when there are no weights)."""
    return max((float(np.max(np.abs(a - b))) for a, b in _pairs(original, reconstructed) if a.size), default=0.0)
