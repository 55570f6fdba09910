"""The quantizer contract: :class:`Quantized` results, the :class:`Quantizer` base and spec-string parsing.

A quantizer maps float64 weights to integer levels plus what the decoder needs to rebuild them: step sizes for the
``uniform`` dequantization stage, or a float32 table for the ``codebook`` lookup stage. ``reconstruct()`` computes
exactly what the decoder computes, so error bounds stated here hold for decoded weights.

Spec strings are ``name`` or ``name:item,item,...`` where an item is ``key=value`` (or, for pruners, one bare value):
``uniform:bits=4,axis=0``, ``kmeans:k=32``, ``magnitude:0.9,scope=global``.

Rate-aware quantizers (RDOQ, trellis) will need the entropy coder's rate model; they will take it as an extra
keyword argument of :meth:`Quantizer.quantize`, which the base passes through to ``_quantize``.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import EncodeError
from .model_scope import resolve_for_tensor

__all__ = ["Quantized", "Quantizer", "parse_quantizer", "split_spec", "spec_value", "format_number",
           "resolve_axis", "channel_matrix", "from_channel_matrix", "nearest_index", "MAX_ABS_WEIGHT"]

MAX_ABS_WEIGHT = 2.0 ** 126  # float32 range with headroom: steps up to 2*max|w| must still be finite float32
KINDS = ("uniform", "codebook", "dq")


@dataclass(frozen=True, eq=False)
class Quantized:
    """Integer levels and the parameters that turn them back into floats.

    ``levels`` is int64 with the weights' shape. ``kind == "uniform"``: ``steps`` is float32, shape ``(1,)`` when
    ``axis`` is None, else ``(shape[axis],)``; ``codebook`` is None. ``kind == "codebook"``: ``codebook`` is a
    float32 1-D table that every level indexes; ``steps`` and ``axis`` are None. ``kind == "dq"``: as uniform, and
    ``states`` is the State_Count of the machine (spec 4.5: 4, 8, 16 or 32).
    """

    levels: np.ndarray
    kind: str
    steps: np.ndarray | None = None
    axis: int | None = None
    codebook: np.ndarray | None = None
    states: int = 4

    def __post_init__(self):
        if self.kind not in KINDS:
            raise EncodeError(f"Quantized.kind must be one of {KINDS}, got {self.kind!r}")
        if self.levels.dtype != np.int64:
            raise EncodeError(f"Quantized.levels must be int64, got {self.levels.dtype}")
        if self.kind in ("uniform", "dq"):
            expected = 1 if self.axis is None else self.levels.shape[self.axis]
            if self.steps is None or self.steps.dtype != np.float32 or self.steps.shape != (expected,):
                raise EncodeError(f"uniform Quantized needs float32 steps of shape ({expected},)")
        elif self.codebook is None or self.codebook.dtype != np.float32 or self.codebook.ndim != 1:
            raise EncodeError("codebook Quantized needs a float32 1-D codebook")

    def reconstruct(self):
        """float64 weights as the decoder computes them: ``float64(level) * float64(step)`` (step broadcast along
        ``axis``) or ``float64(codebook[level])``."""
        if self.kind == "codebook":
            return self.codebook.astype(np.float64)[self.levels]
        if self.kind == "dq":  # spec 4.5: the state machine gives each level its multiple of the step
            from .. import kernels
            return kernels.module("dequant").dependent(self.levels, self.steps, self.axis, np.float64, self.states)
        return self.levels.astype(np.float64) * self.element_steps()

    def element_steps(self):
        """float64 array of the levels' shape: the step each element uses (uniform and dq kinds)."""
        steps = self.steps.astype(np.float64)
        if self.axis is None:
            return np.full(self.levels.shape, steps[0])
        shape = [1] * self.levels.ndim
        shape[self.axis] = steps.size
        return np.broadcast_to(steps.reshape(shape), self.levels.shape)


_QUANTIZERS = {}


class Quantizer:
    """Base of the quantizers. Subclasses are frozen dataclasses (so equal parameters compare equal), declare
    ``class X(Quantizer, spec_name="x")`` to be found by :func:`parse_quantizer`, and implement ``_quantize``,
    ``config`` and ``from_options``."""

    spec_name = None

    def __init_subclass__(cls, spec_name=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if spec_name is not None:
            cls.spec_name = spec_name
            _QUANTIZERS[spec_name] = cls

    def quantize(self, w, mask=None, importance=None):
        """:class:`Quantized` for float weights ``w`` (any shape). ``mask`` (bool, True = keep) forces pruned
        weights to a level that reconstructs to exactly 0.0; ``importance`` (non-negative, same shape) weights
        each weight's squared error where the algorithm can use it. Raises EncodeError on non-finite weights,
        weights beyond ``MAX_ABS_WEIGHT`` or mismatched shapes."""
        w = np.asarray(w, dtype=np.float64)
        if w.size and not np.all(np.isfinite(w)):
            raise EncodeError("weights must be finite (found NaN or infinity)")
        if w.size and np.max(np.abs(w)) > MAX_ABS_WEIGHT:
            raise EncodeError(f"weights must be at most 2**126 in magnitude, found {np.max(np.abs(w)):g}")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != np.bool_ or mask.shape != w.shape:
                raise EncodeError(f"mask must be a bool array of shape {w.shape}, got {mask.dtype} {mask.shape}")
        if importance is not None:
            importance = np.asarray(importance, dtype=np.float64)
            if importance.shape != w.shape:
                raise EncodeError(f"importance must have shape {w.shape}, got {importance.shape}")
            if importance.size and not (np.all(np.isfinite(importance)) and importance.min() >= 0):
                raise EncodeError("importance must be finite and non-negative")
        if getattr(self, "scope", "tensor") == "model":  # alone, a tensor is its own model (quant.model_scope)
            return resolve_for_tensor(self, w, mask).quantize(w, mask=mask, importance=importance)
        return self._quantize(w, mask, importance)

    def _quantize(self, w, mask, importance):
        raise NotImplementedError

    def config(self):
        """The spec string that :func:`parse_quantizer` turns back into an equal quantizer."""
        raise NotImplementedError

    @classmethod
    def from_options(cls, options, spec):
        """The quantizer for a parsed spec's ``key=value`` options (strings); EncodeError on bad options."""
        raise NotImplementedError


def parse_quantizer(spec):
    """The :class:`Quantizer` a spec string names (a Quantizer is returned as is); EncodeError otherwise."""
    if isinstance(spec, Quantizer):
        return spec
    if not isinstance(spec, str):
        raise EncodeError(f"a quantizer is a spec string such as 'uniform:bits=8' or a Quantizer, got {spec!r}")
    name, positional, options = split_spec(spec)
    if name not in _QUANTIZERS:
        raise EncodeError(f"unknown quantizer {name!r} in {spec!r}; choose one of {', '.join(sorted(_QUANTIZERS))}")
    if positional:
        raise EncodeError(f"quantizer spec {spec!r}: options are key=value, found {positional[0]!r}")
    return _QUANTIZERS[name].from_options(options, spec)


def split_spec(spec):
    """``(name, [bare values], {key: value})`` for ``name[:item,...]``; EncodeError on empty or repeated parts."""
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    if not name:
        raise EncodeError(f"spec {spec!r} has no name before ':'")
    positional, options = [], {}
    for item in rest.split(",") if rest.strip() else []:
        key, eq, value = (part.strip() for part in item.partition("="))
        if not key or (eq and not value):
            raise EncodeError(f"spec {spec!r}: empty item {item!r} (write key=value, separated by commas)")
        if not eq:
            positional.append(key)
        elif key.lower() in options:
            raise EncodeError(f"spec {spec!r} repeats option {key!r}")
        else:
            options[key.lower()] = value
    return name, positional, options


def spec_value(options, key, convert, spec, allowed):
    """``convert(options[key])`` (None when absent); EncodeError for keys outside ``allowed`` or bad values."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise EncodeError(f"spec {spec!r}: unknown option {unknown[0]!r}; expected one of {', '.join(allowed)}")
    if key not in options:
        return None
    text = options[key]
    if convert is int and text.lower() == "none":
        return None
    try:
        return convert(text)
    except ValueError:
        what = {int: "an integer", float: "a number"}.get(convert, "a valid value")
        raise EncodeError(f"spec {spec!r}: {key}={text!r} is not {what}") from None


def format_number(x):
    """The shortest text that converts back to ``x``: integral floats lose their ``.0``."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def check_float(value, name, low=None, high=None, low_open=False):
    """``float(value)`` if finite and within the bounds, else EncodeError naming the parameter."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise EncodeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (low is not None and (x < low or (low_open and x == low))) or \
            (high is not None and x > high):
        bounds = f"{'>' if low_open else '>='} {low}" if high is None else f"in [{low}, {high}]"
        raise EncodeError(f"{name} must be a finite number {bounds}, got {value!r}")
    return x


def check_int(value, name, low, high):
    """``value`` if it is an int in ``[low, high]``, else EncodeError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise EncodeError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def resolve_axis(axis, ndim):
    """The non-negative channel axis for an ``ndim``-D tensor, None for per tensor (0-d tensors have no
    channels, so they are always per tensor); EncodeError if ``axis`` is out of range."""
    if axis is None or ndim == 0:
        return None
    if not -ndim <= axis < ndim:
        raise EncodeError(f"channel axis {axis} is out of range for a {ndim}-D tensor")
    return axis % ndim


def channel_matrix(a, axis):
    """``a`` as a 2-D array with one row per channel along ``axis`` (one row in total when axis is None)."""
    if axis is None:
        return a.reshape(1, a.size)
    moved = np.moveaxis(a, axis, 0)
    return moved.reshape(moved.shape[0], math.prod(moved.shape[1:]))


def from_channel_matrix(m, shape, axis):
    """Inverse of :func:`channel_matrix` for a tensor of ``shape``."""
    if axis is None:
        return m.reshape(shape)
    moved_shape = (shape[axis],) + shape[:axis] + shape[axis + 1:]
    return np.moveaxis(m.reshape(moved_shape), 0, axis)


def nearest_index(table, x):
    """int64 index of the entry of the sorted, distinct float64 ``table`` nearest to each ``x`` (ties to the lower
    index), decided by comparing float64 distances directly."""
    x = np.asarray(x, dtype=np.float64)
    upper = np.minimum(insertion_points(table, x), table.size - 1)
    lower = np.maximum(upper - 1, 0)
    take_lower = np.abs(x - table[lower]) <= np.abs(x - table[upper])
    return np.where(take_lower, lower, upper).astype(np.int64)


BUCKETS_PER_ENTRY = 16


def insertion_points(table, x):
    """``np.searchsorted(table, x)`` for a sorted, distinct ``table``, faster for many unsorted ``x``: equal-width
    buckets over [table[0], table[-1]] give each x a starting point (the insertion point of its bucket's left
    edge), and exact comparisons then step it to the true insertion point."""
    buckets = BUCKETS_PER_ENTRY * table.size
    with np.errstate(divide="ignore", over="ignore"):
        scale = buckets / (table[-1] - table[0]) if table.size > 1 else math.inf
    if not math.isfinite(scale) or x.size < buckets:
        return np.searchsorted(table, x)
    bucket_starts = np.searchsorted(table, table[0] + np.arange(buckets) / scale)
    position = bucket_starts[np.clip((x - table[0]) * scale, 0, buckets - 1).astype(np.intp)]
    flat_x, flat_position = x.reshape(-1), position.reshape(-1)
    for step, moves in ((1, lambda p, v: (p < table.size) & (table[np.minimum(p, table.size - 1)] < v)),
                        (-1, lambda p, v: (p > 0) & (table[p - 1] >= v))):
        pending = np.flatnonzero(moves(flat_position, flat_x))
        while pending.size:
            flat_position[pending] += step
            pending = pending[moves(flat_position[pending], flat_x[pending])]
    return position
