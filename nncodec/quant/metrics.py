"""Distortion measures: one tensor against its reconstruction, and a model's fidelity report (docs/cli.md
"Fidelity", spec Appendix B).

Per tensor, values compared as float64: SQNR ``10 log10(sum w**2 / sum (w - w_hat)**2)`` dB (inf when exact) and
the largest ``|w - w_hat|``. A tensor is *changed* when its decoded values are not the original ones: what
pruning, quantization, a cast or factorization did. The model measures cover exactly the changed tensors, so an
untouched tensor with much energy (a BatchNorm ``running_var``) cannot hide the error of the quantized ones:

- ``sqnr_db``: the energy-weighted SQNR of the changed tensors,
  ``10 log10(sum over them of sum w**2 / sum over them of sum (w - w_hat)**2)``; inf when none changed;
- ``worst_sqnr_db`` and ``worst_tensor``: the lowest per-tensor SQNR and the tensor that has it;
- ``tensors``: one row per tensor (name, dtype, shape, stored bytes when known, SQNR, max abs error, changed).
"""

from collections.abc import Mapping

import numpy as np

from ..errors import EncodeError

__all__ = ["sqnr_db", "max_abs_error", "decibels", "fidelity"]

CHUNK = 1 << 20  # elements compared at a time: memory stays near the two tensors, not four float64 copies


def decibels(signal, noise):
    """``10 log10(signal / noise)`` elementwise: inf when noise is 0 and signal is not."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(np.asarray(signal, dtype=np.float64) / noise)


def _tensor_error(name, original, reconstructed):
    """(signal, noise, max abs error, changed) of one tensor, compared as float64 in chunks."""
    a, b = np.asarray(original), np.asarray(reconstructed)
    if a.shape != b.shape:
        raise EncodeError(f"tensor {name!r}: shapes differ, {a.shape} vs {b.shape}")
    a, b = a.reshape(-1), b.reshape(-1)
    signal = noise = peak = 0.0
    changed = False
    for start in range(0, a.size, CHUNK):
        x = a[start:start + CHUNK].astype(np.float64)
        y = b[start:start + CHUNK].astype(np.float64)
        if np.array_equal(x, y, equal_nan=True):
            signal += float(np.dot(x, x))
            continue
        changed = True
        error = x - y
        signal += float(np.dot(x, x))
        noise += float(np.dot(error, error))
        peak = max(peak, float(np.max(np.abs(error))))
    return signal, noise, peak, changed


def _pairs(original, reconstructed):
    """(name, original, reconstructed) per tensor; a single array is the tensor named ""."""
    if isinstance(original, Mapping) != isinstance(reconstructed, Mapping):
        raise EncodeError("compare a dict with a dict, or an array with an array")
    if not isinstance(original, Mapping):
        original, reconstructed = {"": original}, {"": reconstructed}
    if set(original) != set(reconstructed):
        raise EncodeError(f"tensor names differ: {sorted(set(original) ^ set(reconstructed))}")
    for name in original:
        yield name, original[name], reconstructed[name]


def sqnr_db(original, reconstructed):
    """``10 log10(sum w**2 / sum (w - w_hat)**2)`` over every tensor given, together, as a float; inf when exact.

    For one tensor this is its SQNR; for a model, :func:`fidelity` gives the measures over the changed tensors."""
    signal = noise = 0.0
    for name, a, b in _pairs(original, reconstructed):
        s, n, _, _ = _tensor_error(name, a, b)
        signal, noise = signal + s, noise + n
    return float(decibels(signal, noise)) if noise else float("inf")


def max_abs_error(original, reconstructed):
    """The largest ``|w - w_hat|`` over all tensors (0.0 when there are no weights)."""
    return max((_tensor_error(name, a, b)[2] for name, a, b in _pairs(original, reconstructed)), default=0.0)


def fidelity(original, reconstructed, stored_bytes=None):
    """The fidelity report of ``reconstructed`` against ``original`` (mappings of names to arrays with the same
    names; ``reconstructed`` is read one name at a time, so an open ``nncodec.Reader`` works and memory stays
    near one tensor). ``stored_bytes``, if given, maps names to the bytes each tensor takes in the container.

    Returns a dict: ``sqnr_db`` (energy-weighted over the changed tensors; inf when none changed),
    ``worst_sqnr_db`` and ``worst_tensor`` (the lowest per-tensor SQNR and its name; inf and None when none
    changed), ``max_abs_error`` (over all tensors), ``changed_tensors``, ``changed_weights``, ``tensors``, ``weights``
    and ``rows``: per tensor ``name``, ``dtype``, ``shape``, ``stored_bytes`` (None when unknown), ``sqnr_db``,
    ``max_abs_error``, ``changed``.
    """
    if not isinstance(original, Mapping) or not hasattr(reconstructed, "__getitem__"):
        raise EncodeError("fidelity compares a mapping of names to arrays with one holding the same names")
    missing = [name for name in original if name not in reconstructed]
    if missing:
        raise EncodeError(f"tensors missing from the reconstruction: {sorted(missing)}")
    rows = []
    signal = noise = 0.0
    changed_weights = 0
    for name, array in original.items():
        array = np.asarray(array)
        s, n, peak, changed = _tensor_error(name, array, reconstructed[name])
        if changed:
            signal, noise, changed_weights = signal + s, noise + n, changed_weights + array.size
        rows.append({"name": name, "dtype": str(array.dtype), "shape": list(array.shape),
                     "stored_bytes": None if stored_bytes is None else stored_bytes.get(name),
                     "sqnr_db": float(decibels(s, n)) if changed else float("inf"),
                     "max_abs_error": peak, "changed": changed})
    changed_rows = [row for row in rows if row["changed"]]
    worst = min(changed_rows, key=lambda row: row["sqnr_db"], default=None)
    return {"sqnr_db": float(decibels(signal, noise)) if changed_rows else float("inf"),
            "worst_sqnr_db": worst["sqnr_db"] if worst else float("inf"),
            "worst_tensor": worst["name"] if worst else None,
            "max_abs_error": max((row["max_abs_error"] for row in rows), default=0.0),
            "changed_tensors": len(changed_rows), "changed_weights": changed_weights, "tensors": len(rows),
            "weights": sum(int(np.prod(row["shape"])) for row in rows), "rows": rows}
