"""PyTorch state dicts: ``encode_state_dict``/``load_state_dict`` and reading ``.pt``/``.pth`` checkpoints.

torch is imported lazily (when it is absent: BackendUnavailableError, an ImportError, with the pip command). Checkpoints are read with ``torch.load(...,
weights_only=True)``, which refuses arbitrary pickled objects. Names, dtypes and shapes are kept exactly;
bfloat16 travels as ml_dtypes.bfloat16.
"""

import re
from collections.abc import Mapping

import numpy as np

from ..format.dtypes import BFLOAT16, numpy_dtype
from ..errors import EncodeError, NNCodecError
from .optional import require

__all__ = ["tensor_to_numpy", "numpy_to_tensor", "state_dict_arrays", "encode_state_dict", "load_state_dict",
           "read_pt"]


def _torch():
    return require("torch", "nncodec.torch (PyTorch state dicts)", '"nncodec-container[torch]"')


def tensor_to_numpy(tensor):
    """A NumPy array with the tensor's exact dtype, shape and bits (CPU, contiguous)."""
    torch = _torch()
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(numpy_dtype(BFLOAT16))
    try:
        return tensor.numpy()
    except TypeError as exc:
        raise EncodeError(f"unsupported torch dtype {tensor.dtype}: {exc}") from None


def numpy_to_tensor(array, bfloat16=False):
    """A torch tensor with the array's dtype, shape and bits; ``bfloat16=True`` reads uint16 bit patterns."""
    torch = _torch()
    array = np.require(array, requirements="C")  # unlike ascontiguousarray, keeps a 0-d array 0-d
    if bfloat16 or array.dtype == numpy_dtype(BFLOAT16):
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy() if not array.flags.writeable else array)


def state_dict_arrays(state_dict, prefix=""):
    """``{name: array}`` of every tensor in a (possibly nested) state dict; nested keys join with ".".

    Non-tensor entries (epoch counters, optimizer hyper-parameters) are left out.
    """
    torch = _torch()
    arrays = {}
    for key, value in state_dict.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            arrays[name] = tensor_to_numpy(value)
        elif isinstance(value, Mapping):
            arrays.update(state_dict_arrays(value, prefix=f"{name}."))
    return arrays


def encode_state_dict(state_dict, **options):
    """Container bytes of a state dict's tensors (``options`` as for ``nncodec.encode``, ``preset=NAME`` and
    ``quality=``/``sqnr=`` included)."""
    from ..api import encode
    return encode(state_dict_arrays(state_dict), **options)


def load_state_dict(blob, **options):
    """``{name: torch.Tensor}`` from container bytes (or anything ``nncodec.open`` takes), in directory order.

    Dtypes, shapes (0-d included) and values are the encoded ones; names stored as one tensor (tied weights)
    share one tensor, as they shared storage when encoded. All tensors are decoded in one call (the limits bound
    it all)."""
    from ..api import open as open_container
    with open_container(blob, **options) as reader:
        arrays = reader.decode_all(copy=True)
    tensors = {}  # id(array) -> tensor: aliases decode to one array and become one tensor
    for array in arrays.values():
        if id(array) not in tensors:
            tensors[id(array)] = numpy_to_tensor(array)
    return {name: tensors[id(array)] for name, array in arrays.items()}


def read_pt(path):
    """``{name: array}`` of the tensors in a ``.pt``/``.pth`` checkpoint, loaded with ``weights_only=True``.

    A checkpoint that pickles Python objects (a whole model saved with ``torch.save(model)``) is refused with the
    class it names; any other unreadable file raises NNCodecError with torch's first line, never its traceback."""
    torch = require("torch", f"reading {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types (KeyError, RuntimeError, ...) on bad bytes
        raise NNCodecError(_refusal(path, exc)) from None
    if isinstance(loaded, torch.Tensor):
        return {"": tensor_to_numpy(loaded)}
    if not isinstance(loaded, Mapping):
        raise EncodeError(f"{path}: expected a state dict or a tensor, found {type(loaded).__name__}")
    return state_dict_arrays(loaded)


def _refusal(path, exc):
    """Our one-line message for torch.load's refusal ``exc`` (torch's own runs over many lines, with terminal
    escapes, and advises loading untrusted files unsafely)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (f"{path}: the checkpoint pickles a Python object ({found.group(1)}), not only tensors (a whole model "
                "saved with torch.save(model)?); nncodec never unpickles objects: save model.state_dict() instead")
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return f"{path}: not a readable PyTorch checkpoint (torch.load with weights_only=True): {type(exc).__name__}" \
           + (f": {first}" if first else "")
