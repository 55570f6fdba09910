"""nncodec: compressed, specified, safe containers for neural-network weights.

``encode``/``decode`` convert between arrays and container bytes, ``save``/``load`` do the same with files, and
``open`` gives a lazy reader that decodes one tensor at a time. The format is specified in ``spec/``.
"""

from . import errors
from ._backend import available_backends, default_backend as backend
from .api import Reader, decode, encode, load, open, save
from .dtypes import BFloat16
from .errors import (BackendUnavailableError, ChecksumError, DecodeError, EncodeError, FormatError,
                     InconsistentError, LimitExceededError, NNCodecError, TrailingDataError, TruncatedError,
                     UnknownStageError, UnsupportedFeatureError, UnsupportedVersionError)
from .limits import DecodeLimits
from .rd import rd_sweep
from .writer import Writer

__version__ = "0.1.0"

__all__ = [
    "encode", "decode", "save", "load", "open", "Reader", "Writer", "DecodeLimits", "BFloat16", "backend", "rd_sweep",
    "available_backends", "errors", "NNCodecError", "EncodeError", "DecodeError", "FormatError",
    "UnsupportedVersionError", "UnsupportedFeatureError", "TruncatedError", "TrailingDataError",
    "InconsistentError", "ChecksumError", "LimitExceededError", "UnknownStageError", "BackendUnavailableError",
    "__version__",
]
