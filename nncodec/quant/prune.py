"""Pruning masks (True = keep) for a dict of named weight tensors, and the pruner spec strings.

Counts use Python's ``round`` (half to even): ``magnitude_masks(w, 0.5)`` on 5 weights removes 2. Ties in
magnitude are broken by position (C order; across tensors, by the dict's order), so masks are deterministic.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import EncodeError
from .base import check_float, check_int, format_number, split_spec, spec_value

__all__ = ["magnitude_masks", "saliency_masks", "std_masks", "structured_masks", "parse_prune",
           "MagnitudePruner", "SaliencyPruner", "StdPruner", "RowPruner", "SCOPES"]

SCOPES = ("layer", "global")


def magnitude_masks(weights, sparsity, scope="layer"):
    """Remove the ``round(sparsity * n)`` smallest-|w| weights of each tensor (``scope="layer"``; ``sparsity`` may
    be a dict name -> fraction, absent names keep everything), or of all tensors together under one threshold
    (``scope="global"``, ``round(sparsity * total)`` removed)."""
    if scope not in SCOPES:
        raise EncodeError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    magnitudes = {name: np.abs(np.asarray(w, dtype=np.float64)).reshape(-1) for name, w in weights.items()}
    if scope == "global":
        if isinstance(sparsity, Mapping):
            raise EncodeError("global pruning takes one sparsity, not a dict")
        removed = _smallest(np.concatenate(list(magnitudes.values()) or [np.zeros(0)]),
                            _fraction(sparsity, "sparsity"))
        masks, start = {}, 0
        for name, m in magnitudes.items():
            masks[name] = ~removed[start:start + m.size].reshape(np.shape(weights[name]))
            start += m.size
        return masks
    fractions = sparsity if isinstance(sparsity, Mapping) else dict.fromkeys(weights, sparsity)
    unknown = sorted(set(fractions) - set(weights))
    if unknown:
        raise EncodeError(f"sparsity given for unknown tensors: {unknown}")
    return {name: ~_smallest(m, _fraction(fractions.get(name, 0.0), f"sparsity of {name!r}"))
            .reshape(np.shape(weights[name])) for name, m in magnitudes.items()}


def saliency_masks(weights, importance, sparsity):
    """Remove the ``round(sparsity * n)`` weights of smallest saliency ``importance * w**2`` from each tensor that has
    an importance array (Optimal Brain Damage's diagonal estimate of the loss increase); tensors without one keep
    everything. ``importance`` maps names to non-negative arrays of the weights' shapes."""
    fraction = _fraction(sparsity, "sparsity")
    masks = {}
    for name, w in weights.items():
        if name not in importance:
            continue
        w = np.asarray(w, dtype=np.float64)
        weight = np.asarray(importance[name], dtype=np.float64)
        if weight.shape != w.shape:
            raise EncodeError(f"importance of {name!r} has shape {weight.shape}, the weights {w.shape}")
        masks[name] = ~_smallest((weight * w * w).reshape(-1), fraction).reshape(w.shape)
    return masks


def std_masks(weights, quality):
    """Deep Compression's rule: keep ``|w| >= quality * std(w)`` per tensor (population std)."""
    quality = check_float(quality, "quality", 0.0)
    masks = {}
    for name, w in weights.items():
        w = np.asarray(w, dtype=np.float64)
        masks[name] = np.abs(w) >= quality * (np.std(w) if w.size else 0.0)
    return masks


def structured_masks(weights, sparsity, axis=0):
    """Remove the ``round(sparsity * channels)`` channels (indices along ``axis``, rows for ``axis=0``) of smallest
    L2 norm from each tensor with at least 2 dimensions (ties to the lower index); tensors with fewer dimensions
    (biases, scalars) keep everything."""
    sparsity = _fraction(sparsity, "sparsity")
    masks = {}
    for name, w in weights.items():
        w = np.asarray(w, dtype=np.float64)
        if w.ndim < 2:
            masks[name] = np.ones(w.shape, dtype=bool)
            continue
        if not -w.ndim <= axis < w.ndim:
            raise EncodeError(f"tensor {name!r}: axis {axis} is out of range for shape {w.shape}")
        moved = np.moveaxis(w, axis, 0)
        norms = np.sqrt(np.sum(moved.reshape(moved.shape[0], -1) ** 2, axis=1)) if moved.size else \
            np.zeros(moved.shape[0])
        removed = _smallest(norms, sparsity)
        keep_shape = [1] * w.ndim
        keep_shape[axis] = w.shape[axis]
        masks[name] = np.broadcast_to(~removed.reshape(keep_shape), w.shape).copy()
    return masks


def _fraction(value, name):
    return check_float(value, name, 0.0, 1.0)


def _smallest(magnitudes, fraction):
    """bool array marking the ``round(fraction * n)`` smallest entries (ties to the lower index)."""
    removed = np.zeros(magnitudes.size, dtype=bool)
    removed[np.argsort(magnitudes, kind="stable")[:round(fraction * magnitudes.size)]] = True
    return removed


@dataclass(frozen=True)
class MagnitudePruner:
    """``magnitude:<sparsity>[,scope=global]``: :func:`magnitude_masks`."""

    sparsity: float
    scope: str = "layer"

    def __post_init__(self):
        object.__setattr__(self, "sparsity", _fraction(self.sparsity, "sparsity"))
        if self.scope not in SCOPES:
            raise EncodeError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")

    def __call__(self, weights):
        return magnitude_masks(weights, self.sparsity, self.scope)

    def config(self):
        return f"magnitude:{format_number(self.sparsity)}" + ("" if self.scope == "layer" else f",scope={self.scope}")


@dataclass(frozen=True)
class SaliencyPruner:
    """``saliency:<sparsity>``: :func:`saliency_masks`; needs ``importance`` (``nncodec.encode(importance=...)``)."""

    sparsity: float
    needs_importance = True

    def __post_init__(self):
        object.__setattr__(self, "sparsity", _fraction(self.sparsity, "sparsity"))

    def __call__(self, weights, importance):
        if not importance:
            raise EncodeError("saliency pruning needs per-weight importance: encode(..., importance={name: array})")
        return saliency_masks(weights, importance, self.sparsity)

    def config(self):
        return f"saliency:{format_number(self.sparsity)}"


@dataclass(frozen=True)
class StdPruner:
    """``std:quality=<q>``: :func:`std_masks`."""

    quality: float

    def __post_init__(self):
        object.__setattr__(self, "quality", check_float(self.quality, "quality", 0.0))

    def __call__(self, weights):
        return std_masks(weights, self.quality)

    def config(self):
        return f"std:quality={format_number(self.quality)}"


@dataclass(frozen=True)
class RowPruner:
    """``rows:<sparsity>[,axis=<a>]``: :func:`structured_masks`."""

    sparsity: float
    axis: int = 0

    def __post_init__(self):
        object.__setattr__(self, "sparsity", _fraction(self.sparsity, "sparsity"))
        check_int(self.axis, "axis", -64, 63)

    def __call__(self, weights):
        return structured_masks(weights, self.sparsity, self.axis)

    def config(self):
        return f"rows:{format_number(self.sparsity)}" + ("" if self.axis == 0 else f",axis={self.axis}")


PRUNERS = ("magnitude", "saliency", "std", "rows")


def parse_prune(spec):
    """The pruner (a callable ``weights dict -> masks dict`` with ``config()``) for ``magnitude:0.5``,
    ``magnitude:0.9,scope=global``, ``saliency:0.5`` (also takes the importance dict), ``std:quality=0.7`` or
    ``rows:0.25[,axis=1]``; a pruner is returned as is.
    Raises EncodeError with the expected form on anything else."""
    if isinstance(spec, (MagnitudePruner, SaliencyPruner, StdPruner, RowPruner)):
        return spec
    if not isinstance(spec, str):
        raise EncodeError(f"a pruner is a spec string such as 'magnitude:0.5', got {spec!r}")
    name, positional, options = split_spec(spec)
    if name not in PRUNERS:
        raise EncodeError(f"unknown pruner {name!r} in {spec!r}; choose one of {', '.join(PRUNERS)}")
    if name == "std":
        if positional:
            raise EncodeError(f"pruner spec {spec!r}: write std:quality=<q>")
        quality = spec_value(options, "quality", float, spec, ("quality",))
        if quality is None:
            raise EncodeError(f"pruner spec {spec!r} needs quality=<q>, e.g. std:quality=0.7")
        return StdPruner(quality)
    if len(positional) != 1:
        raise EncodeError(f"pruner spec {spec!r} needs one sparsity, e.g. {name}:0.5")
    try:
        sparsity = float(positional[0])
    except ValueError:
        raise EncodeError(f"pruner spec {spec!r}: sparsity {positional[0]!r} is not a number") from None
    if name == "magnitude":
        scope = spec_value(options, "scope", str, spec, ("scope",))
        return MagnitudePruner(sparsity, scope or "layer")
    if name == "saliency":
        if options:
            raise EncodeError(f"pruner spec {spec!r}: saliency takes no options, e.g. saliency:0.5")
        return SaliencyPruner(sparsity)
    axis = spec_value(options, "axis", int, spec, ("axis",))
    if axis is None and "axis" in options:
        raise EncodeError(f"pruner spec {spec!r}: rows needs an integer axis")
    return RowPruner(sparsity, 0 if axis is None else axis)
