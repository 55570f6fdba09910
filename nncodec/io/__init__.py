"""Framework I/O: read weights from .npz, .npy, .safetensors, .pt/.pth, .onnx and .nnc files and Hugging Face
checkpoint directories, and write .npz, .safetensors or .nnc; stream checkpoints into containers and back
(``encode_checkpoint``, ``decode_checkpoint``). Optional packages (torch, onnx) are imported only when such a file
is read.

A tool: may import anything in nncodec (``api``, ``presets``).
"""

import os

from ..errors import NNCodecError
from .npz import read_npy, read_npz, write_npz
from .checkpoint import decode_checkpoint, encode_checkpoint, open_checkpoint
from .safetensors import read_safetensors, write_safetensors

__all__ = ["read_weights", "write_weights", "open_checkpoint", "encode_checkpoint", "decode_checkpoint",
           "READ_SUFFIXES", "WRITE_SUFFIXES"]

READ_SUFFIXES = (".npz", ".npy", ".safetensors", ".pt", ".pth", ".onnx", ".nnc")
WRITE_SUFFIXES = (".npz", ".safetensors")


def _suffix(path):
    return os.path.splitext(str(path))[1].lower()


def read_weights(path, **options):
    """``{name: array}`` from ``path``, chosen by its suffix (``options`` go to nncodec.load for .nnc files); a
    directory is a Hugging Face checkpoint (:func:`open_checkpoint`), read whole into owned arrays."""
    if os.path.isdir(path):
        with open_checkpoint(path) as checkpoint:
            return {name: array.copy() for name, array in checkpoint.tensors()}
    suffix = _suffix(path)
    if suffix == ".npz":
        return read_npz(path)
    if suffix == ".npy":
        return {"": read_npy(path)}
    if suffix == ".safetensors":
        return read_safetensors(path)[0]
    if suffix in (".pt", ".pth"):
        from .torch_io import read_pt
        return read_pt(path)
    if suffix == ".onnx":
        from .onnx import read_onnx
        return read_onnx(path)
    if suffix == ".nnc":
        from ..api import load
        arrays = load(path, **options)
        return arrays if isinstance(arrays, dict) else {"": arrays}
    raise NNCodecError(f"cannot read weights from {path!r}: use one of {', '.join(READ_SUFFIXES)} or a checkpoint "
                       f"directory")


def write_weights(path, arrays, metadata=None):
    """Write ``{name: array}`` to ``path`` as .npz or .safetensors (by suffix)."""
    suffix = _suffix(path)
    if suffix == ".npz":
        return write_npz(path, arrays)
    if suffix == ".safetensors":
        return write_safetensors(path, arrays, metadata)
    raise NNCodecError(f"cannot write weights to {path!r}: use one of {', '.join(WRITE_SUFFIXES)}")
