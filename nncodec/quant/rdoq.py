"""Rate-distortion optimised uniform quantization (DeepCABAC, Wiedemann et al.): each level minimises
``importance * (w - k * step)^2 / step^2 + lam * bits(k)`` among the nearest level, the next one towards zero and
0 (``importance`` normalised to mean 1, so ``lam`` keeps its meaning), with ``bits`` from the coder's estimated
rate model (:mod:`nncodec.quant.rate`) refitted on the chosen levels.
The decoder sees plain uniform levels: RDOQ is an encoder choice only."""

from dataclasses import dataclass

import numpy as np

from .base import Quantized, Quantizer, check_float, format_number, spec_value
from .rate import level_bits, level_cost
from .uniform import UniformQuantizer

OPTIONS = ("step", "bits", "sqnr", "axis", "lam")
RATE_PASSES = 2  # refit the rate model on the chosen levels this many times


@dataclass(frozen=True)
class StepLamOptions(Quantizer):
    """The fields, ``config`` and ``from_options`` of the quantizers whose options are ``OPTIONS`` (step, bits,
    sqnr, axis, lam): :class:`RDOQuantizer` and :class:`nncodec.quant.dependent.DependentQuantizer`."""

    step: float | None = None
    bits: int | None = None
    sqnr: float | None = None
    axis: int | None = None
    lam: float = 0.1

    def config(self):
        parts = [f"{name}={format_number(getattr(self, name))}" for name in OPTIONS if getattr(self, name) is not None]
        return f"{self.spec_name}:" + ",".join(parts)

    @classmethod
    def from_options(cls, options, spec):
        types = {"step": float, "bits": int, "sqnr": float, "axis": int, "lam": float}
        values = {key: spec_value(options, key, types[key], spec, OPTIONS) for key in OPTIONS}
        if values["lam"] is None:
            del values["lam"]
        return cls(**values)


@dataclass(frozen=True)
class RDOQuantizer(StepLamOptions, spec_name="rdoq"):
    """Steps exactly as :class:`UniformQuantizer` (one of ``step``, ``bits``, ``sqnr``; ``axis``), then levels
    chosen by rate-distortion cost with Lagrange multiplier ``lam`` (0 gives plain rounding)."""

    def __post_init__(self):
        self.uniform()  # validates step/bits/sqnr/axis
        object.__setattr__(self, "lam", check_float(self.lam, "lam", 0.0))

    def uniform(self):
        return UniformQuantizer(step=self.step, bits=self.bits, sqnr=self.sqnr, axis=self.axis)

    def _quantize(self, w, mask, importance):
        plain = self.uniform().quantize(w, mask=mask, importance=importance)
        if self.lam == 0 or not w.size:
            return plain
        step = plain.element_steps()
        weight = np.ones_like(w) if importance is None else importance / max(float(importance.mean()), 1e-300)
        nearest = plain.levels
        toward_zero = nearest - np.sign(nearest)
        candidates = np.stack([nearest, toward_zero, np.zeros_like(nearest)])
        distortion = weight * (w - candidates * step) ** 2 / step ** 2
        levels = nearest
        for _ in range(RATE_PASSES):
            bits = level_bits(levels)
            cost = distortion + self.lam * level_cost(bits, candidates)
            levels = np.take_along_axis(candidates, np.argmin(cost, axis=0)[None], axis=0)[0]
        if mask is not None:
            levels = np.where(mask, levels, 0)
        return Quantized(levels=levels.astype(np.int64), kind="uniform", steps=plain.steps, axis=plain.axis)
