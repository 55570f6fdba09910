"""Rate-distortion sweeps: encode a model at many settings and report size against error (and a user score)."""

import numpy as np

from .api import decode, encode
from .errors import EncodeError
from .quant.metrics import max_abs_error, sqnr_db

__all__ = ["rd_sweep", "default_settings"]


def default_settings():
    """Encode configurations spanning about 10 to 50 dB of weight SQNR: per-channel uniform quantization at a
    target SQNR every 5 dB, and k-means codebooks of 4 to 256 entries (Deep Compression's weight sharing)."""
    settings = [{"quantize": f"uniform:sqnr={db},axis=0", "entropy": "auto"} for db in range(10, 55, 5)]
    settings += [{"quantize": f"kmeans:k={k}", "entropy": "auto"} for k in (4, 16, 64, 256)]
    return settings


def rd_sweep(weights, evaluate=None, settings=None, progress=None, **common):
    """Encode ``weights`` with every configuration of ``settings`` (default: :func:`default_settings`), each merged
    over ``common`` encode options, and return one row per configuration, sorted by size:

    ``config`` (the encode keyword arguments: ``nncodec.encode(weights, **row["config"])`` gives the same bytes),
    ``bytes``, ``bits_per_weight`` (over every element of every tensor), ``sqnr_db`` (over all tensors together),
    ``max_abs_error``, and ``score`` = ``evaluate(decoded_weights)`` when ``evaluate`` is given.
    ``progress``, if given, is called as ``progress(done, total, config)`` after each configuration.
    """
    if not hasattr(weights, "items"):
        raise EncodeError("rd_sweep takes a mapping of names to arrays")
    weights = {name: np.asarray(array) for name, array in weights.items()}
    elements = sum(array.size for array in weights.values())
    settings = default_settings() if settings is None else list(settings)
    rows = []
    for i, setting in enumerate(settings):
        config = {**common, **setting}
        blob = encode(weights, **config)
        decoded = decode(blob)
        row = {
            "config": config,
            "bytes": len(blob),
            "bits_per_weight": 8.0 * len(blob) / elements if elements else 0.0,
            "sqnr_db": sqnr_db(weights, decoded),
            "max_abs_error": max_abs_error(weights, decoded),
        }
        if evaluate is not None:
            row["score"] = float(evaluate(decoded))
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(settings), config)
    rows.sort(key=lambda r: r["bytes"])
    return rows
