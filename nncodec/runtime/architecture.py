"""The sequential-model description stored in a container's metadata (spec/runtime-architecture.md).

The JSON comes from an untrusted file, so it is parsed strictly: UTF-8, no duplicate keys, no NaN/Infinity, no
unknown fields, integers in stated ranges, bounded size and depth, and every weight's shape checked against the
shapes the layers produce. Failures raise :class:`~nncodec.errors.DecodeError` subclasses only.
"""

import json
import math
from dataclasses import dataclass

from ..errors import FormatError, InconsistentError, LimitExceededError, UnsupportedFeatureError

__all__ = ["FORMAT", "METADATA_KEY", "LAYER_TYPES", "Architecture", "parse_architecture", "architecture_json",
           "MAX_JSON_BYTES", "MAX_LAYERS", "MAX_EXTENT", "MAX_SAMPLE_ELEMENTS"]

FORMAT = "nncodec.sequential/1"
METADATA_KEY = "nncodec.architecture"
MAX_JSON_BYTES = 1 << 20        # a description is a few hundred bytes per layer
MAX_LAYERS = 4096
MAX_EXTENT = 1 << 20            # any one dimension, kernel, stride or padding
MAX_SAMPLE_ELEMENTS = 1 << 26   # elements of one sample's activation after any layer (256 MiB of float32)

# layer type -> (required fields, optional fields with their defaults); "type" is implied.
LAYER_TYPES = {
    "linear": (("weight",), {"bias": None}),
    "conv2d": (("weight",), {"bias": None, "stride": 1, "padding": 0}),
    "relu": ((), {}),
    "maxpool2d": (("kernel",), {"stride": None}),
    "avgpool2d": (("kernel",), {"stride": None}),
    "flatten": ((), {}),
    "softmax": ((), {}),
}
_NAMES = ("weight", "bias")
_TOP = ("format", "input_shape", "layers")


@dataclass(frozen=True)
class Architecture:
    """A validated description: ``input_shape`` of one sample and ``layers``, each a dict with every field."""

    input_shape: tuple
    layers: tuple

    def weight_names(self):
        """Names of the tensors the layers use, in order."""
        return [layer[k] for layer in self.layers for k in _NAMES if layer.get(k) is not None]


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise FormatError(f"architecture JSON repeats a key in {keys}")
    return dict(pairs)


def _no_constant(name):
    raise FormatError(f"architecture JSON contains {name}, which is not JSON")


def _integer(value, what, low):
    if type(value) is not int or not low <= value <= MAX_EXTENT:
        raise FormatError(f"{what} must be an integer in {low}..{MAX_EXTENT}, got {value!r}")
    return value


def _fields(obj, required, optional, what):
    if not isinstance(obj, dict):
        raise FormatError(f"{what} must be a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(required) - set(optional))
    missing = [k for k in required if k not in obj]
    if unknown or missing:
        raise FormatError(f"{what}: unknown fields {unknown}, missing fields {missing}")
    return {**optional, **obj}


def _layer(obj, i):
    if not isinstance(obj, dict) or "type" not in obj:
        raise FormatError(f"layer {i} must be a JSON object with a \"type\"")
    kind = obj["type"]
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise UnsupportedFeatureError(f"layer {i} has unknown type {kind!r} (known: {', '.join(LAYER_TYPES)})")
    required, optional = LAYER_TYPES[kind]
    layer = _fields(obj, ("type",) + required, optional, f"layer {i} ({kind})")
    # null stands for a member's default only where that default is "none" (bias, a pooling stride)
    nullable = {key for key, default in optional.items() if default is None}
    for key in _NAMES:
        if key in layer and (layer[key] is not None or key not in nullable) and (
                not isinstance(layer[key], str) or not layer[key]):
            raise FormatError(f"layer {i} ({kind}): {key} must be a non-empty tensor name")
    for key, low in (("stride", 1), ("padding", 0), ("kernel", 1)):
        if key in layer and (layer[key] is not None or key not in nullable):
            _integer(layer[key], f"layer {i} ({kind}) {key}", low)
    if kind in ("maxpool2d", "avgpool2d") and layer["stride"] is None:
        layer["stride"] = layer["kernel"]
    return layer


def parse_architecture(text):
    """Validate a description given as JSON text (str or UTF-8 bytes) or as an already-parsed dict."""
    if isinstance(text, dict):
        try:
            text = json.dumps(text, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise FormatError(f"architecture is not JSON-serialisable: {exc}") from None
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("architecture JSON is not UTF-8") from None
    if not isinstance(text, str):
        raise FormatError(f"architecture must be JSON text, got {type(text).__name__}")
    if len(text.encode("utf-8")) > MAX_JSON_BYTES:
        raise LimitExceededError(f"architecture JSON is over {MAX_JSON_BYTES} bytes", "max_json_bytes",
                                 len(text.encode("utf-8")), MAX_JSON_BYTES)
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"architecture is not valid JSON: {exc}") from None
    top = _fields(obj, _TOP, {}, "architecture")
    if top["format"] != FORMAT:
        raise UnsupportedFeatureError(f"architecture format {top['format']!r} is not {FORMAT!r}")
    shape = top["input_shape"]
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3:
        raise FormatError(f"input_shape must be a list of 1 to 3 integers, got {shape!r}")
    shape = tuple(_integer(d, "an input_shape extent", 1) for d in shape)
    _check_elements(shape, "input_shape")
    layers = top["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        raise FormatError(f"layers must be a list of 1 to {MAX_LAYERS} layers")
    return Architecture(shape, tuple(_layer(obj, i) for i, obj in enumerate(layers)))


def architecture_json(architecture):
    """Canonical JSON text of a description (dict, text or :class:`Architecture`), validated first."""
    if not isinstance(architecture, Architecture):
        architecture = parse_architecture(architecture)
    layers = [{k: v for k, v in layer.items() if v is not None} for layer in architecture.layers]
    return json.dumps({"format": FORMAT, "input_shape": list(architecture.input_shape), "layers": layers},
                      separators=(",", ":"))


def _check_elements(shape, what):
    if math.prod(shape) > MAX_SAMPLE_ELEMENTS:
        raise LimitExceededError(f"{what} {shape} has over {MAX_SAMPLE_ELEMENTS} elements per sample",
                                 "max_sample_elements", math.prod(shape), MAX_SAMPLE_ELEMENTS)


def _pooled(extent, kernel, stride, padding, what):
    if extent + 2 * padding < kernel:
        raise InconsistentError(f"{what}: window {kernel} is larger than the padded input extent "
                                f"{extent + 2 * padding}")
    return (extent + 2 * padding - kernel) // stride + 1


def output_shapes(architecture, weight_shapes):
    """Per layer, the shape of one sample after it; checks every weight's shape (``weight_shapes``: name ->
    tensor shape) against its input. Raises InconsistentError on any mismatch or missing tensor."""
    shape, shapes = architecture.input_shape, []
    for i, layer in enumerate(architecture.layers):
        kind, what = layer["type"], f"layer {i} ({layer['type']})"
        for key in _NAMES:
            if layer.get(key) is not None and layer[key] not in weight_shapes:
                raise InconsistentError(f"{what}: tensor {layer[key]!r} is not in the container")
        w = tuple(weight_shapes[layer["weight"]]) if "weight" in layer else None
        if w is not None and (not w or min(w) < 1):
            raise InconsistentError(f"{what}: weight shape {w} has an empty extent")
        if kind == "linear":
            if len(shape) != 1 or len(w) != 2 or w[1] != shape[0]:
                raise InconsistentError(f"{what}: weight {w} does not take an input of shape {shape}")
            shape = (w[0],)
        elif kind == "conv2d":
            if len(shape) != 3 or len(w) != 4 or w[1] != shape[0]:
                raise InconsistentError(f"{what}: weight {w} does not take an input of shape {shape}")
            padded = tuple(e + 2 * layer["padding"] for e in shape[1:])
            _check_elements((shape[0],) + padded, f"{what} padded input")
            shape = (w[0],) + tuple(_pooled(e, k, layer["stride"], layer["padding"], what)
                                    for e, k in zip(shape[1:], w[2:]))
            _check_elements((w[1] * w[2] * w[3],) + shape[1:], f"{what} im2col matrix")
        elif kind in ("maxpool2d", "avgpool2d"):
            if len(shape) != 3:
                raise InconsistentError(f"{what} needs a (C, H, W) input, got {shape}")
            shape = (shape[0],) + tuple(_pooled(e, layer["kernel"], layer["stride"], 0, what) for e in shape[1:])
        elif kind == "flatten":
            shape = (math.prod(shape),)
        elif kind == "softmax" and len(shape) != 1:
            raise InconsistentError(f"{what} needs a flat input, got {shape}")
        if layer.get("bias") is not None and tuple(weight_shapes[layer["bias"]]) != (shape[0],):
            raise InconsistentError(f"{what}: bias shape {tuple(weight_shapes[layer['bias']])} is not "
                                    f"({shape[0]},)")
        _check_elements(shape, f"{what} output")
        shapes.append(shape)
    return shapes
