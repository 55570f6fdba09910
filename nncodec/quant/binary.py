"""Binary (XNOR-Net, Rastegari et al. 2016) and ternary (TWN, Li & Liu 2016) weights with one scale per channel.

Both return ``kind="uniform"`` results whose levels are in {-1, 0, 1} and whose per-channel step is the scale,
so the ordinary uniform dequantization stage decodes them. A channel with no nonzero kept weight gets step 1.0
and levels 0. Pruned weights (mask False) get level 0 and reconstruct to 0.0, so a masked binary tensor is in
effect ternary {-a, 0, a}; its scale is computed over the kept weights only.
"""

from dataclasses import dataclass

import numpy as np

from .base import (Quantized, Quantizer, channel_matrix, check_float, check_int, format_number,
                   from_channel_matrix, resolve_axis, spec_value)

__all__ = ["BinaryQuantizer", "TernaryQuantizer"]

ZERO_CHANNEL_STEP = 1.0


@dataclass(frozen=True)
class BinaryQuantizer(Quantizer, spec_name="binary"):
    """Levels ``+1`` for ``w >= 0`` and ``-1`` for ``w < 0``; the scale of a channel (along ``axis``, or the whole
    tensor when None) is its mean ``|w|`` over kept weights, weighted by ``importance`` when given: the scale
    that minimizes the (weighted) squared error of ``a * sign(w)``."""

    axis: int | None = 0

    def __post_init__(self):
        if self.axis is not None:
            check_int(self.axis, "axis", -64, 63)

    def _quantize(self, w, mask, importance):
        axis, values, chosen, weights = _channels(w, mask, importance, self.axis)
        signs = np.where(values >= 0, 1, -1)
        return _scaled(w.shape, axis, np.where(chosen, signs, 0), np.abs(values), chosen, weights)

    def config(self):
        return "binary" if self.axis == 0 else f"binary:axis={self.axis}"

    @classmethod
    def from_options(cls, options, spec):
        axis = spec_value(options, "axis", int, spec, ("axis",))
        return cls(axis=axis) if "axis" in options else cls()


@dataclass(frozen=True)
class TernaryQuantizer(Quantizer, spec_name="ternary"):
    """Per channel (along ``axis``, or the whole tensor when None): threshold
    ``delta = threshold_factor * mean|w|`` over kept weights; levels ``sign(w)`` where ``|w| > delta``, else 0;
    scale = mean ``|w|`` over the weights above the threshold (weighted by ``importance`` when given), the
    squared-error-optimal scale for that support."""

    axis: int | None = 0
    threshold_factor: float = 0.7

    def __post_init__(self):
        if self.axis is not None:
            check_int(self.axis, "axis", -64, 63)
        object.__setattr__(self, "threshold_factor", check_float(self.threshold_factor, "threshold", 0.0))

    def _quantize(self, w, mask, importance):
        axis, values, kept, weights = _channels(w, mask, importance, self.axis)
        magnitude = np.abs(values)
        count = kept.sum(axis=1, keepdims=True)
        mean = np.where(kept, magnitude, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
        above = kept & (magnitude > self.threshold_factor * mean)
        return _scaled(w.shape, axis, np.where(above, np.sign(values), 0), magnitude, above, weights)

    def config(self):
        parts = ([] if self.axis == 0 else [f"axis={self.axis}"]) + \
            ([] if self.threshold_factor == 0.7 else [f"threshold={format_number(self.threshold_factor)}"])
        return "ternary" + (":" + ",".join(parts) if parts else "")

    @classmethod
    def from_options(cls, options, spec):
        allowed = ("axis", "threshold")
        axis = spec_value(options, "axis", int, spec, allowed)
        threshold = spec_value(options, "threshold", float, spec, allowed)
        given = {"axis": axis} if "axis" in options else {}
        if threshold is not None:
            given["threshold_factor"] = threshold
        return cls(**given)


def _channels(w, mask, importance, axis):
    """(axis, channel-matrix values, kept, weights) with kept all True without a mask and weights all 1 without
    importance."""
    axis = resolve_axis(axis, w.ndim)
    values = channel_matrix(w, axis)
    kept = np.ones(values.shape, dtype=bool) if mask is None else channel_matrix(mask, axis)
    weights = np.ones(values.shape) if importance is None else channel_matrix(importance, axis)
    return axis, values, kept, weights


def _scaled(shape, axis, signs, magnitude, chosen, weights):
    """Quantized with levels ``signs`` and per-row scale = weighted mean of ``magnitude`` over ``chosen``
    (unweighted for a row whose chosen weights have no importance)."""
    weights = np.where(chosen, weights, 0.0)
    weights = np.where(weights.sum(axis=1, keepdims=True) > 0, weights, chosen.astype(np.float64))
    total = weights.sum(axis=1)
    scale = (weights * magnitude).sum(axis=1) / np.maximum(total, 1e-300)
    steps = np.where(scale > 0, scale, ZERO_CHANNEL_STEP).astype(np.float32)
    steps = np.where(steps > 0, steps, np.nextafter(np.float32(0), np.float32(1)))  # scales below float32 range
    levels = np.where(scale[:, None] > 0, signs, 0).astype(np.int64)
    return Quantized(levels=from_channel_matrix(levels, shape, axis), kind="uniform", steps=steps, axis=axis)
