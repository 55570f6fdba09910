"""ONNX models: the initializers (weights) of a ``.onnx`` file, through the ``onnx`` package (imported lazily)."""

from ..errors import NNCodecError
from .optional import require

__all__ = ["read_onnx"]


def read_onnx(path):
    """``{initializer name: array}`` of the model at ``path``, in graph order (without onnx:
    BackendUnavailableError, an ImportError, with the install command).

    Initializers stored as external data are read from files next to the model; ``onnx.load`` refuses locations
    outside the model's folder. A file that is not a readable model raises NNCodecError.
    """
    onnx = require("onnx", f"reading {path}")
    from google.protobuf.message import DecodeError
    from onnx import numpy_helper
    try:
        model = onnx.load(path)
        return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    except (onnx.checker.ValidationError, DecodeError) as exc:
        raise NNCodecError(f"{path}: not a readable ONNX model: {exc}") from None
