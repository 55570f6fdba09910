"""Rate-distortion sweeps: encode a model at many settings and report size against error (and a user score)."""

import numpy as np

from ..decoder.reader import decode
from .model import encode
from ..errors import EncodeError
from ..format.dtypes import code_of, is_float_code
from ..quant.metrics import fidelity

__all__ = ["rd_sweep", "default_settings", "RD_MEASURES"]

RD_MEASURES = ("sqnr_db", "worst_sqnr_db", "worst_tensor", "changed_tensors", "max_abs_error")


def _is_float(array):
    """Whether ``array`` holds floats of a format dtype (bfloat16 and float8 too, whose NumPy kind is not "f")."""
    try:
        return is_float_code(code_of(np.asarray(array).dtype))
    except TypeError:
        return False


def default_settings(weights):
    """Encode configurations spanning about 10 to 50 dB of SQNR over the tensors they change (the measure of
    ``nncodec.quant.metrics.fidelity``; on the CRNN of BENCHMARKS.md 9.0 to 51.1 dB) for ``weights``.

    Uniform and dependent quantization with one step shared by every quantized tensor (equal steps give equal
    rate-distortion slopes, which beats per-channel SQNR targets at equal size: BENCHMARKS.md section 2), the step
    running from 2x down to 2**-6.5x the weights' RMS in half-octaves (about 3 dB apart), CABAC-coded; plus k-means
    codebooks of 4 to 256 entries (Deep Compression's weight sharing). The tensors left lossless (1-D and small
    ones: biases, norms) are coded with ``compress="auto"`` rather than stored raw.
    """
    quantizable = [np.asarray(a, dtype=np.float64) for a in weights.values()
                   if _is_float(a) and np.ndim(a) >= 2 and np.size(a) >= 1024]
    values = np.concatenate([a.ravel() for a in quantizable]) if quantizable else np.zeros(0)
    rms = float(np.sqrt(np.mean(values * values))) if values.size else 1.0
    settings = []
    for k in range(2, 16):
        step = float(np.float32(rms * 2.0 ** (1 - k / 2)))
        settings.append({"quantize": f"uniform:step={step:.9g}", "entropy": "cabac", "compress": "auto"})
        settings.append({"quantize": f"dq:step={step / 2:.9g}", "entropy": "cabac", "compress": "auto"})
    settings += [{"quantize": f"kmeans:k={k}", "entropy": "auto", "compress": "auto"} for k in (4, 16, 64, 256)]
    return settings


def rd_sweep(weights, evaluate=None, settings=None, progress=None, **common):
    """Encode ``weights`` with every configuration of ``settings`` (default: ``default_settings(weights)``), each merged
    over ``common`` encode options, and return one row per configuration, sorted by size:

    ``config`` (the encode keyword arguments: ``nncodec.encode(weights, **row["config"])`` gives the same bytes),
    ``bytes``, ``bits_per_weight`` (over every element of every tensor), the fidelity measures of
    ``nncodec.quant.metrics.fidelity``: ``sqnr_db`` (energy-weighted over the tensors the configuration changed),
    ``worst_sqnr_db``, ``worst_tensor``, ``changed_tensors``, ``max_abs_error``; and ``score`` =
    ``evaluate(decoded_weights)`` when ``evaluate`` is given.
    ``progress``, if given, is called as ``progress(done, total, config)`` after each configuration.
    """
    if not hasattr(weights, "items"):
        raise EncodeError("rd_sweep takes a mapping of names to arrays")
    weights = {name: np.asarray(array) for name, array in weights.items()}
    elements = sum(array.size for array in weights.values())
    settings = default_settings(weights) if settings is None else list(settings)
    rows = []
    for i, setting in enumerate(settings):
        config = {**common, **setting}
        blob = encode(weights, **config)
        decoded = decode(blob)
        measures = fidelity(weights, decoded)
        row = {"config": config, "bytes": len(blob), "bits_per_weight": 8.0 * len(blob) / elements if elements else 0.0,
               **{key: measures[key] for key in RD_MEASURES}}
        if evaluate is not None:
            row["score"] = float(evaluate(decoded))
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(settings), config)
    rows.sort(key=lambda r: r["bytes"])
    return rows
