"""Named encode presets: documented sets of ``nncodec.encode`` keyword arguments, plus a quality knob.

A preset is data (this module sits below the encoder and imports only ``errors``, so that the encoder can
resolve ``nncodec.encode(weights, preset=...)``): :func:`preset_options` turns (name, quality or SQNR) into encode keywords, and the choice is
recorded in the container's metadata under ``nncodec.preset`` (a JSON object: name, quality, sqnr, options), so
``nncodec info`` shows how a file was made. Decoding never needs it: every stage is in the directory.

``quality`` runs from 0 (smallest) to 100 (most faithful); each preset maps it to its own parameters (the mapping
is in the table below and in docs/cli.md). ``sqnr`` (dB) is a direct target for presets whose quantizer takes one.
"""

import json

from .errors import EncodeError

__all__ = ["PRESETS", "PRESET_KEY", "DEFAULT_QUALITY", "preset_options", "preset_record", "describe_presets",
           "preset_encoding"]

PRESET_KEY = "nncodec.preset"
DEFAULT_QUALITY = 75


def _lossless(quality, sqnr):
    return {"compress": "auto", "entropy": "auto"}


def _fp16(quality, sqnr):
    return {"cast": "float16", "compress": "auto"}


def _bf16(quality, sqnr):
    return {"cast": "bfloat16", "compress": "auto"}


def _deep_compression(quality, sqnr):
    # Han et al. 2016: prune below quality x std (their rule), share weights with a linearly initialised k-means
    # codebook, store positions as a relative-index stream with filler zeros, Huffman-code gaps and indices.
    # quality 0 -> 4 entries, threshold 1.2 std; 100 -> 256 entries, 0.2 std.
    k = 2 ** (2 + round(6 * quality / 100))
    threshold = round(1.2 - quality / 100, 3)
    return {"prune": f"std:quality={threshold}", "quantize": f"kmeans:k={k},init=linear", "entropy": "huffman",
            "compress": "auto", "layout": {"*.bias": "dense", "*": "relidx"}}


def _deepcabac(quality, sqnr):
    # Wiedemann et al. 2020 (DeepCABAC) with NNC's dependent quantization and NNC's allocation: one step for the
    # whole model (scope=model), the largest whose reconstruction reaches the target SQNR over all quantized
    # weights together; levels CABAC-coded. quality q targets 10 + 0.4 q dB (75 -> 40 dB).
    target = sqnr if sqnr is not None else 10 + 0.4 * quality
    return {"quantize": f"dq:sqnr={target:g},scope=model", "entropy": "cabac", "compress": "auto"}


def _runtime(quality, sqnr):
    # Sparse, few distinct values, cheap to decode (Wiedemann et al. 2019: CER/CSER want low entropy matrices):
    # magnitude pruning (quality 0 -> 90 %, 100 -> 40 %) then a small k-means codebook, stored in the CER layout
    # (nncodec.runtime computes on it directly: decode(..., materialize=False)); integer streams entropy-coded where
    # that saves >= 3 %, float streams raw.
    sparsity = round(0.9 - 0.5 * quality / 100, 3)
    k = 2 ** (2 + round(3 * quality / 100))
    return {"prune": f"magnitude:{sparsity}", "quantize": f"kmeans:k={k}", "entropy": "auto", "compress": "none",
            "layout": {"*.bias": "dense", "*": "cer"}}


PRESETS = {
    "lossless": ("bit-exact; floats zstd over byte planes where it saves >= 3 %, else raw (memory-mappable)",
                 _lossless, False),
    "fp16": ("float32/64 tensors stored as float16 (round to nearest even), widened on decode", _fp16, False),
    "bf16": ("float32/64 tensors stored as bfloat16, widened on decode", _bf16, False),
    "deep-compression": ("prune (std rule) + k-means codebook + Huffman (Deep Compression's pipeline)",
                         _deep_compression, True),
    "deepcabac": ("dependent (trellis) quantization, one step for the model at a target SQNR + CABAC (DeepCABAC / NNC)",
                  _deepcabac, True),
    "runtime": ("magnitude pruning + small k-means codebook in the CER layout nncodec.runtime computes on",
                _runtime, True),
}
SQNR_PRESETS = ("deepcabac",)


def preset_options(name, quality=None, sqnr=None):
    """The ``nncodec.encode`` keywords of preset ``name`` at ``quality`` (0..100) or ``sqnr`` (dB).

    Raises EncodeError for an unknown name, a quality outside 0..100, a quality or SQNR given to a preset without
    that knob, or both knobs at once.
    """
    if name not in PRESETS:
        raise EncodeError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    _, build, has_quality = PRESETS[name]
    if quality is not None and sqnr is not None:
        raise EncodeError("give --quality or --sqnr, not both")
    if quality is not None:
        if not has_quality:
            raise EncodeError(f"preset {name!r} has no quality knob (it is fixed)")
        if not 0 <= quality <= 100:
            raise EncodeError(f"quality must be in 0..100, got {quality}")
    if sqnr is not None and name not in SQNR_PRESETS:
        raise EncodeError(f"preset {name!r} takes no SQNR target; presets with one: {', '.join(SQNR_PRESETS)}")
    if sqnr is not None and not 0 < sqnr <= 200:
        raise EncodeError(f"sqnr must be in (0, 200] dB, got {sqnr}")
    return build(DEFAULT_QUALITY if quality is None else quality, sqnr)


def preset_record(name, quality=None, sqnr=None, options=None):
    """The ``nncodec.preset`` metadata value: JSON with the preset, its knob and the final encode options."""
    _, _, has_quality = PRESETS[name]
    if has_quality and quality is None and sqnr is None:
        quality = DEFAULT_QUALITY
    return json.dumps({"name": name, "quality": quality, "sqnr": sqnr,
                       "options": options if options is not None else preset_options(name, quality, sqnr)},
                      sort_keys=True)


def describe_presets():
    """[(name, description, quality knob?)] in a stable order, for help texts and docs."""
    return [(name, text, has_quality) for name, (text, _, has_quality) in PRESETS.items()]


RECORDED_OPTIONS = ("quantize", "prune", "entropy", "compress", "cast", "lossless", "keep_small", "chunk_elements",
                    "zstd_level", "layout")


def preset_encoding(name, quality=None, sqnr=None, metadata=None, overrides=None):
    """(encode keywords, metadata) for encoding with preset ``name`` (see :func:`preset_options`): ``overrides``
    (encode keywords) replace the preset's, and the stage options used are recorded in the metadata under
    ``nncodec.preset``. ``nncodec.encode(weights, preset=name, ...)`` calls this."""
    options = {**preset_options(name, quality, sqnr), **(overrides or {})}
    recorded = {k: v for k, v in options.items() if k in RECORDED_OPTIONS and v is not None}
    meta = dict(metadata or {})
    meta[PRESET_KEY] = preset_record(name, quality, sqnr, recorded)
    return options, meta
