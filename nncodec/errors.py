"""The nncodec error hierarchy.

Every failure the library reports is an :class:`NNCodecError`. Decoders raise only :class:`DecodeError`
subclasses on malformed input (spec section 7); anything else escaping a decoder is a bug.
"""

__all__ = [
    "NNCodecError", "EncodeError", "DecodeError", "FormatError", "UnsupportedVersionError",
    "UnsupportedFeatureError", "TruncatedError", "TrailingDataError", "InconsistentError",
    "ChecksumError", "LimitExceededError", "UnknownStageError", "BackendUnavailableError",
]


class NNCodecError(Exception):
    """Root of every error nncodec raises on purpose."""


class EncodeError(NNCodecError, ValueError):
    """The encoder was given weights or options it cannot honour."""


class DecodeError(NNCodecError, ValueError):
    """The input is not a valid container or stream (spec section 7)."""


class FormatError(DecodeError):
    """A field has a value the format forbids (bad magic, reserved bits set, bad enum, bad code lengths)."""


class UnsupportedVersionError(FormatError):
    """The container's Format_Major is not one this decoder implements."""


class UnsupportedFeatureError(DecodeError):
    """A stage, coding or combine identifier this decoder does not implement (maybe from a newer minor version)."""


class TruncatedError(DecodeError):
    """Fewer bytes are present than the format declares or needs."""


class TrailingDataError(DecodeError):
    """Bytes follow the end the format declares."""


class InconsistentError(DecodeError):
    """Fields disagree with each other: counts, lengths, shapes, types or ranges."""


class ChecksumError(DecodeError):
    """A CRC-32 does not match the bytes it covers."""


class LimitExceededError(DecodeError):
    """A declared size exceeds a :class:`~nncodec.DecodeLimits` limit.

    ``limit`` names the limit, ``declared`` is the value found and ``maximum`` the limit's value.
    """

    def __init__(self, message, limit=None, declared=None, maximum=None):
        super().__init__(message)
        self.limit = limit
        self.declared = declared
        self.maximum = maximum

    def __reduce__(self):
        return (type(self), (self.args[0], self.limit, self.declared, self.maximum))


class UnknownStageError(NNCodecError, KeyError):
    """A stage or coding name given by the caller is not registered."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class BackendUnavailableError(NNCodecError, ImportError):
    """The requested backend cannot be used (e.g. the Cython extensions were not built)."""
