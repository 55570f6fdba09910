"""Uniform scalar quantization: ``level = nearest integer to w / step``, one float32 step per tensor or per channel.

Levels are ``np.rint(w / step)`` (round half to even) computed with the float32-rounded step, then moved by one
wherever the decoder's reconstruction ``float64(level) * float64(step)`` would miss ``w`` by more than ``step / 2``
(the quotient ``w / step`` is itself rounded). Because a float32 step has 24 significant bits and
``|level| <= MAX_ABS_LEVEL = 2**24``, that product is exact in float64, so ``|w - reconstruction| <= step / 2``
holds exactly for every kept weight, and level 0 is exactly 0.0.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import EncodeError
from .base import (Quantized, Quantizer, channel_matrix, check_float, check_int, format_number,
                   from_channel_matrix, resolve_axis, spec_value)
from .metrics import decibels

__all__ = ["UniformQuantizer", "uniform_levels", "sqnr_step_bracket", "MAX_ABS_LEVEL", "SQNR_STEP_RTOL"]

MAX_ABS_LEVEL = 2 ** 24      # keeps float64(level) * float64(float32 step) exact (24 + 24 < 53 bits)
SQNR_STEP_RTOL = 1e-4        # the sqnr search stops when the failing step is within this factor of the passing one
SMALLEST_STEP = float(np.nextafter(np.float32(0), np.float32(1)))  # steps derived from tiny weights stay > 0
ZERO_CHANNEL_STEP = 1.0      # any positive step would do for a channel whose levels are all 0
OPTIONS = ("step", "bits", "sqnr", "axis", "scope")
SCOPES = ("tensor", "model")


@dataclass(frozen=True)
class UniformQuantizer(Quantizer, spec_name="uniform"):
    """Exactly one of: ``step`` (fixed), ``bits`` (``step = max|w| / (2**(bits-1) - 1)`` over the kept weights, in float32, one
    ulp larger where rounding would break the bound, so levels lie in ``±(2**(bits-1) - 1)``) or ``sqnr`` (the largest step whose reconstruction of the kept weights
    reaches ``sqnr`` dB, per channel when ``axis`` is set; ``importance`` weights this SQNR). ``axis`` None means
    one step per tensor, else one per index along ``axis``. A channel with no nonzero kept weight gets step 1.0
    and levels 0 (with ``bits``/``sqnr``). ``scope="model"`` (with ``sqnr``, no ``axis``): one step for every
    tensor the quantizer applies to in an encode call, found by :mod:`nncodec.quant.model_scope`; quantizing a
    single tensor directly treats it as the whole model."""

    step: float | None = None
    bits: int | None = None
    sqnr: float | None = None
    axis: int | None = None
    scope: str = "tensor"

    def __post_init__(self):
        check_scope(self.scope, self.sqnr, self.axis)
        given = [name for name in ("step", "bits", "sqnr") if getattr(self, name) is not None]
        if len(given) != 1:
            raise EncodeError(f"UniformQuantizer needs exactly one of step, bits, sqnr; got {given or 'none'}")
        if self.step is not None:
            step = check_float(self.step, "step", 0.0, low_open=True)
            if not 0 < np.float32(step) < np.inf:
                raise EncodeError(f"step {self.step!r} is not a positive finite float32")
            object.__setattr__(self, "step", step)
        if self.bits is not None:
            check_int(self.bits, "bits", 2, 24)
        if self.sqnr is not None:
            object.__setattr__(self, "sqnr", check_float(self.sqnr, "sqnr", 0.0, low_open=True))
        if self.axis is not None:
            check_int(self.axis, "axis", -64, 63)

    def _quantize(self, w, mask, importance):
        axis = resolve_axis(self.axis, w.ndim)
        values = channel_matrix(w, axis)
        keep = None if mask is None else channel_matrix(mask, axis)
        if keep is not None:
            values = np.where(keep, values, 0.0)  # pruned weights: level 0, no part in steps or SQNR
        if self.step is not None:
            steps = np.full(values.shape[0], self.step, dtype=np.float32)
        elif self.bits is not None:
            steps = _steps_for_bits(values, self.bits)
        else:
            weights = None if importance is None else channel_matrix(importance, axis)
            steps, _ = _search_sqnr_steps(values, keep, weights, self.sqnr)
        levels = uniform_levels(values, steps)
        return Quantized(levels=from_channel_matrix(levels, w.shape, axis), kind="uniform", steps=steps, axis=axis)

    def config(self):
        parts = [f"{name}={format_number(getattr(self, name))}" for name in OPTIONS
                 if name != "scope" and getattr(self, name) is not None]
        return "uniform:" + ",".join(parts + scope_option(self.scope))

    @classmethod
    def from_options(cls, options, spec):
        types = {"step": float, "bits": int, "sqnr": float, "axis": int, "scope": str}
        values = {key: spec_value(options, key, types[key], spec, OPTIONS) for key in OPTIONS}
        if values["scope"] is None:
            del values["scope"]
        return cls(**values)

    def model_step(self, pieces, jobs=None):
        """The float32 step (a Python float) shared by a model whose kept weights, sampled, are the float64 1-D
        ``pieces``: the largest (up to ``SQNR_STEP_RTOL``) whose rounding of all pieces together reaches ``sqnr``.
        Rounding is cheap: it runs on the calling thread whatever ``jobs`` allows."""
        values = np.concatenate([np.zeros(0)] + list(pieces))[None, :]
        steps, _ = _search_sqnr_steps(values, None, None, self.sqnr)
        return float(steps[0])


def check_scope(scope, sqnr, axis):
    """EncodeError unless ``scope`` is one of ``SCOPES`` and ``scope="model"`` comes with ``sqnr`` and no ``axis``."""
    if scope not in SCOPES:
        raise EncodeError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if scope == "model" and (sqnr is None or axis is not None):
        raise EncodeError("scope=model shares one step among all tensors: it needs sqnr=T and takes no axis")


def scope_option(scope):
    """The config items for ``scope``: none for the default (per tensor), ``["scope=model"]`` otherwise."""
    return [] if scope == "tensor" else [f"scope={scope}"]


def uniform_levels(values, steps):
    """int64 levels of the 2-D ``values`` (one row per channel) for float32 ``steps`` (one per row):
    nearest integers to ``value / step`` as the decoder reconstructs them; EncodeError past ``MAX_ABS_LEVEL``."""
    step = steps.astype(np.float64)[:, None]
    with np.errstate(over="ignore"):
        quotient = values / step
    if quotient.size and np.max(np.abs(quotient)) > MAX_ABS_LEVEL:
        raise EncodeError(f"step too small: levels would exceed ±{MAX_ABS_LEVEL}; use a larger step or fewer bits")
    levels = np.rint(quotient)
    error = values - levels * step
    levels += error > step / 2
    levels -= error < -step / 2
    return levels.astype(np.int64)


def _steps_for_bits(values, bits):
    peak = np.abs(values).max(axis=1, initial=0.0)
    top = 2 ** (bits - 1) - 1
    steps = np.maximum(peak / top, SMALLEST_STEP).astype(np.float32)
    # where float32 rounding made the step so small that the peak's level would pass top (coarse subnormals),
    # go one ulp up
    with np.errstate(divide="ignore", invalid="ignore"):
        too_small = peak / steps.astype(np.float64) >= top + 0.5
    steps = np.where(too_small, np.nextafter(steps, np.float32(np.inf)), steps)
    return np.where(peak > 0, steps, np.float32(ZERO_CHANNEL_STEP)).astype(np.float32)


def sqnr_step_bracket(w, target_db, axis=None, mask=None, importance=None):
    """``(steps, failing_steps)``: the float32 steps :class:`UniformQuantizer` picks for ``sqnr=target_db``, and
    for each channel a step at most ``SQNR_STEP_RTOL`` larger that misses the target (equal to ``steps`` for
    channels without nonzero kept weights). SQNR is not monotone in the step at fine scales, so "largest" means
    largest up to this bracket."""
    w = np.asarray(w, dtype=np.float64)
    axis = resolve_axis(axis, w.ndim)
    keep = None if mask is None else channel_matrix(np.asarray(mask, dtype=bool), axis)
    weights = None if importance is None else channel_matrix(np.asarray(importance, dtype=np.float64), axis)
    values = channel_matrix(w, axis)
    if keep is not None:
        values = np.where(keep, values, 0.0)
    return _search_sqnr_steps(values, keep, weights, float(target_db))


def _channel_sqnr_db(values, weights, steps):
    levels = uniform_levels(values, steps)
    error = values - levels * steps.astype(np.float64)[:, None]
    return decibels((weights * values * values).sum(axis=1), (weights * error * error).sum(axis=1))


def _search_sqnr_steps(values, keep, importance, target_db):
    """Bisection on log(step), per channel, between a step that provably reaches the target and one that
    provably misses it. ``values`` has its pruned weights (``keep`` False) already set to 0."""
    weights = np.ones_like(values) if keep is None else keep.astype(np.float64)
    if importance is not None:  # a channel whose kept weights all have importance 0 is measured unweighted
        weighted = weights * importance
        weights = np.where(weighted.sum(axis=1, keepdims=True) > 0, weighted, weights)
    peak = np.abs(values).max(axis=1, initial=0.0)
    signal = (weights * values * values).sum(axis=1)
    active = signal > 0
    # all levels 0 gives 0 dB, a miss; channels with nothing to measure take this step (or 1.0 when all zero)
    high = _float32_toward(np.where(peak > 0, 2 * peak, ZERO_CHANNEL_STEP), +1)
    # every kept error is <= step/2, so noise <= sum(weights) * step**2 / 4: this step reaches the target
    # (0.999: margin for rounding when an error lands exactly on step/2)
    provable = 0.999 * 2 * np.sqrt(signal / np.maximum(weights.sum(axis=1), 1e-300) / 10 ** (target_db / 10))
    low = np.maximum(_float32_toward(np.maximum(provable, SMALLEST_STEP), -1),
                     _float32_toward(peak / MAX_ABS_LEVEL, +1))  # the level limit, rounded so it holds
    low = np.where(active, low, high)
    if np.any(active & ~(_channel_sqnr_db(values, weights, low) >= target_db)):
        raise EncodeError(f"SQNR target {format_number(target_db)} dB is unreachable with levels within "
                          f"±{MAX_ABS_LEVEL}")
    while True:
        middle = _float32_toward(np.sqrt(low.astype(np.float64) * high.astype(np.float64)), 0)
        open_ = (high > low * (1 + SQNR_STEP_RTOL)) & (middle > low) & (middle < high)
        if not open_.any():
            return low, high
        passes = _channel_sqnr_db(values, weights, np.where(open_, middle, low)) >= target_db
        low = np.where(open_ & passes, middle, low)
        high = np.where(open_ & ~passes, middle, high)


def _float32_toward(x, direction):
    """float32 values nearest to ``x``, moved one ulp so they are <= x (direction -1) or >= x (+1)."""
    rounded = np.asarray(x, dtype=np.float64).astype(np.float32)
    if direction < 0:
        return np.where(rounded > x, np.nextafter(rounded, np.float32(0)), rounded)
    if direction > 0:
        return np.where(rounded < x, np.nextafter(rounded, np.float32(math.inf)), rounded)
    return rounded
