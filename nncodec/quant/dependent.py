"""Dependent (trellis-coded) quantization, as NNR's ``dq_flag``: two interleaved quantizers on the grid of
multiples of a step, chosen per weight by a state machine of spec 4.5 (4, 8, 16 or 32 states), the level sequence
found by a Viterbi search minimising ``(w - x)^2 / step^2 + lam * bits(k)`` (kernels ``reference/trellis.py`` and
its Cython twin). The decoder (the ``dq`` stage) runs the state machine once, with no search."""

import math
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from .. import kernels
from ..kernels import parallel
from ..kernels.dq_machine import STATE_COUNTS
from ..errors import EncodeError
from .base import Quantized, check_float, spec_value
from .rate import level_bits
from .rdoq import OPTIONS, StepLamOptions
from .uniform import UniformQuantizer, check_scope, scope_option

RATE_PASSES = 1         # trellis searches, each with the rate model refitted on the previous levels: a second
                        # pass changed the CRNN's size by 0.01% and its SQNR by 0.0003 dB for 55% more encode time
SQNR_SAMPLE = 1 << 16   # weights (a strided sample) used to fit the step scale to an SQNR target
SQNR_EVALUATIONS = 12   # at most, per SQNR fit (largest_scale); 3-5 are typical
SCALE_RESOLUTION = 2.0 ** -9    # octaves: the bracket an SQNR fit ends with (as fine as 10 bisections of [0.5, 2])
DB_PER_OCTAVE = 6.02    # SQNR lost per doubling of the step at high rate: the fit's model of SQNR(scale)
SQNR_TOLERANCE_DB = 0.01  # an SQNR fit also ends at a scale that reaches the target by at most this much
FIRST_SCALE = 0.6       # the fit's first probe: dq's scale came out at 0.57-0.60 on the CRNN at 20-45 dB
BASE_SUBSAMPLE = 4      # model_step: every 4th sampled weight fits the uniform step that centres the bracket ...
BASE_SUBSAMPLE_FROM = 1 << 18  # ... when the sample has at least this many weights
MAX_ABS_QUOTIENT = 2.0 ** 52
DEFAULT_STATES = 16    # bench_rd.py --states: at equal SQNR 0.3-0.7% fewer bytes than 4 states (8: 0.2-0.4%, 32:
                       # 0.4-0.9%) for 1.25x the encode time (32: 2x); the decoder's work is the same


@dataclass(frozen=True)
class DependentQuantizer(StepLamOptions, spec_name="dq"):
    """Steps as :class:`UniformQuantizer` (``step``, ``bits`` or ``sqnr``, optional ``axis``) define the union grid;
    ``lam`` weighs rate against normalised squared error; ``states`` is the machine's State_Count (spec 4.5). With
    ``sqnr``, the uniform steps are scaled by the factor whose trellis result on a strided sample reaches the
    target. ``scope="model"`` (with ``sqnr``, no ``axis``): one step for every tensor the quantizer applies to in
    an encode call (:mod:`nncodec.quant.model_scope`, :meth:`model_step`)."""

    states: int = DEFAULT_STATES
    scope: str = "tensor"

    def __post_init__(self):
        check_scope(self.scope, self.sqnr, self.axis)
        self._uniform()
        object.__setattr__(self, "lam", check_float(self.lam, "lam", 0.0))
        if self.states not in STATE_COUNTS:
            raise EncodeError(f"dq: states={self.states!r} is not one of {', '.join(map(str, STATE_COUNTS))}")

    def config(self):
        extra = ([] if self.states == DEFAULT_STATES else [f"states={self.states}"]) + scope_option(self.scope)
        return ",".join([super().config()] + extra)

    @classmethod
    def from_options(cls, options, spec):
        allowed = OPTIONS + ("states", "scope")
        states = spec_value(options, "states", int, spec, allowed)
        scope = spec_value(options, "scope", str, spec, allowed)
        quantizer = super().from_options({k: v for k, v in options.items() if k not in ("states", "scope")}, spec)
        extra = {k: v for k, v in (("states", states), ("scope", scope)) if v is not None}
        return replace(quantizer, **extra) if extra else quantizer

    def _uniform(self):
        return UniformQuantizer(step=self.step, bits=self.bits, sqnr=self.sqnr, axis=self.axis)

    def _quantize(self, w, mask, importance):
        plain = self._uniform().quantize(w, mask=mask, importance=importance)
        values = w if mask is None else np.where(mask, w, 0.0)
        # a pruned weight must stay exactly 0 (level 0 reconstructs to 0 in any state): the search is told, so the
        # states after it follow the level the decoder will see
        zero = None if mask is None else ~np.asarray(mask, dtype=bool).reshape(-1)
        steps = self._fit_scale(values, plain, zero) if self.sqnr is not None and w.size else plain.steps
        grid = Quantized(plain.levels, "uniform", steps, plain.axis)
        step = grid.element_steps().reshape(-1)
        flat = values.reshape(-1)
        if flat.size and np.max(np.abs(flat) / step) > MAX_ABS_QUOTIENT:
            raise EncodeError("dq: the step is too small for these weights")
        levels = self._search(flat, step, zero).reshape(w.shape)
        return Quantized(levels=levels, kind="dq", steps=steps, axis=plain.axis, states=self.states)

    def _search(self, flat, step, zero=None):
        """Levels for the flat weights on the per-weight float64 steps, the rate model refitted each pass; 0 where
        the boolean ``zero`` is set."""
        search = kernels.module("trellis").trellis_levels
        levels = np.rint(flat / (2 * step)).astype(np.int64)  # first rate model: Q0 alone
        for _ in range(RATE_PASSES):
            levels = search(flat, step, level_bits(levels), self.lam, self.states, zero)
        return levels

    def _trellis_noise(self, values, step, zero):
        """The squared error (a float) of the trellis's reconstruction of the float64 ``values`` on the float64
        per-value ``step``s, 0 where ``zero`` is set."""
        levels = self._search(values, step, zero)
        x = kernels.module("dequant").dependent(levels, np.ones(1, np.float32), None, np.float64, self.states) * step
        return float(np.sum((values - x) ** 2))

    def _fit_scale(self, values, plain, zero=None):
        """float32 steps: the uniform SQNR steps times the largest scale in [0.5, 2] whose trellis result on a
        strided sample (with its forced zeros) reaches the target (:func:`largest_scale`)."""
        flat = values.reshape(-1)
        stride = max(1, flat.size // SQNR_SAMPLE)
        sample = flat[::stride]
        sample_zero = None if zero is None else zero[::stride]
        base = plain.element_steps().reshape(-1)[::stride]
        signal = np.sum(sample * sample)

        def sqnr_at(scale):
            step = (base * scale).astype(np.float32).astype(np.float64)
            return _sqnr(signal, self._trellis_noise(sample, step, sample_zero))

        low = largest_scale(sqnr_at, self.sqnr)
        return (plain.steps.astype(np.float64) * low).astype(np.float32)

    def model_step(self, pieces, jobs=None):
        """The float32 step (a Python float) shared by a model whose kept weights, sampled, are the float64 1-D
        ``pieces``: the uniform model step times the largest scale in [0.5, 2] (:func:`largest_scale`, float32
        steps, as :meth:`_fit_scale`) whose trellis levels, searched on each piece as on its tensor,
        reach ``sqnr`` over all pieces together. The pieces are searched on up to ``jobs`` threads (the sum of
        their errors, in piece order, does not depend on it)."""
        # the uniform step only centres the bracket: on a large sample a quarter of it is plenty (the rounding runs
        # serially); a small one is used whole
        stride = BASE_SUBSAMPLE if sum(piece.size for piece in pieces) >= BASE_SUBSAMPLE_FROM else 1
        base = self._uniform().model_step([piece[::stride] for piece in pieces])
        signal = sum(float(np.sum(piece * piece)) for piece in pieces)
        pieces = [piece for piece in pieces if piece.size]

        def piece_noise(piece, step):
            # a 0 in a piece is a pruned weight (or a 0 weight, for which level 0 is as good): forced 0
            return self._trellis_noise(piece, np.full(piece.size, step), piece == 0)

        def sqnr_at(scale):
            step = float(np.float32(base * scale))
            return _sqnr(signal, sum(parallel.map_ordered(partial(piece_noise, step=step), pieces, jobs, cost=len)))

        low = largest_scale(sqnr_at, self.sqnr)
        return float(np.float32(base * low))


def largest_scale(sqnr_at, target):
    """The largest scale in [0.5, 2] found to reach ``target`` dB, ``sqnr_at(scale)`` giving the SQNR of a scale;
    0.5 if no scale tested reaches it. A safeguarded Newton search on log2(scale), from ``FIRST_SCALE``: each probe
    goes where ``DB_PER_OCTAVE`` puts the target, nudged half of ``SCALE_RESOLUTION`` to the side that closes the
    bracket, or to the bracket's middle when that lands outside it; it ends at a scale that reaches the target by
    at most ``SQNR_TOLERANCE_DB``, when the bracket (a scale that reaches the target, one that does not) is
    ``SCALE_RESOLUTION`` octaves wide, or after ``SQNR_EVALUATIONS`` probes."""
    low, high = -1.0, 1.0   # log2 of the scale: low reaches the target (assumed until a probe says so), high not
    x = math.log2(FIRST_SCALE)
    for _ in range(SQNR_EVALUATIONS):
        margin = sqnr_at(2.0 ** x) - target
        if margin >= 0:
            low = x
        else:
            high = x
        if high - low <= SCALE_RESOLUTION or 0 <= margin <= SQNR_TOLERANCE_DB:
            break
        guess = x + margin / DB_PER_OCTAVE + (SCALE_RESOLUTION if margin >= 0 else -SCALE_RESOLUTION) / 2
        x = guess if low < guess < high else (low + high) / 2
    return 2.0 ** low


def _sqnr(signal, noise):
    """``10 log10(signal / noise)`` in dB; infinite when there is no noise (an all-zero sample included)."""
    return np.inf if noise == 0 else 10 * np.log10(signal / noise)
