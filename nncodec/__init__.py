"""nncodec: compressed, specified, safe containers for neural-network weights.

``encode``/``decode`` convert between arrays and container bytes, ``save``/``load`` do the same with files, and
``open`` gives a lazy reader that decodes one tensor at a time. The format is specified in ``spec/``.

The array-handling names are imported on first use (PEP 562), so that ``import nncodec`` alone, and commands
that read only a directory (``nncodec info``), do not pay for NumPy's start-up.
"""

import importlib

from . import errors
from .kernels import available_backends, default_backend as backend
from .errors import (BackendUnavailableError, ChecksumError, DecodeError, EncodeError, FormatError,
                     InconsistentError, LimitExceededError, NNCodecError, TrailingDataError, TruncatedError,
                     UnknownStageError, UnsupportedFeatureError, UnsupportedVersionError)
from .format.limits import DecodeLimits

__version__ = "0.1.0"

_LAZY = {"encode": "api", "decode": "api", "save": "api", "load": "api", "open": "api", "Reader": "api",
         "BFloat16": "format.dtypes", "rd_sweep": "encoder.rd", "Writer": "encoder.writer"}

__all__ = [
    "encode", "decode", "save", "load", "open", "Reader", "Writer", "DecodeLimits", "BFloat16", "backend", "rd_sweep",
    "available_backends", "errors", "NNCodecError", "EncodeError", "DecodeError", "FormatError",
    "UnsupportedVersionError", "UnsupportedFeatureError", "TruncatedError", "TrailingDataError",
    "InconsistentError", "ChecksumError", "LimitExceededError", "UnknownStageError", "BackendUnavailableError",
    "__version__",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
