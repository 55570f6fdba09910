"""Element types of the format (spec 3.7) and their NumPy equivalents.

bfloat16, float8_e4m3fn and float8_e5m2 map to the ``ml_dtypes`` types of those names (a required dependency):
decoders always return them. On the way in, bfloat16 data may also be ``uint16`` bit patterns wrapped in
:class:`BFloat16`.
"""

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .identifiers import DTYPE_NAMES, itemsize

__all__ = ["DTYPE_CODES", "DTYPE_NAMES", "code_of", "numpy_dtype", "itemsize", "is_number_dtype", "is_integer_code",
           "integer_range", "is_float_code", "BFloat16", "as_array", "bfloat16_to_float32", "float32_to_bfloat16"]

# code -> little-endian numpy dtype used to hold the bytes (names and sizes: nncodec.identifiers)
_NUMPY = {
    1: np.dtype("|b1"), 2: np.dtype("|i1"), 3: np.dtype("|u1"), 4: np.dtype("<i2"), 5: np.dtype("<u2"),
    6: np.dtype("<i4"), 7: np.dtype("<u4"), 8: np.dtype("<i8"), 9: np.dtype("<u8"), 10: np.dtype("<f2"),
    11: np.dtype(ml_dtypes.bfloat16), 12: np.dtype("<f4"), 13: np.dtype("<f8"),
    14: np.dtype(ml_dtypes.float8_e4m3fn), 15: np.dtype(ml_dtypes.float8_e5m2),
}

DTYPE_CODES = {name: code for code, name in DTYPE_NAMES.items()}
BFLOAT16 = DTYPE_CODES["bfloat16"]
_INTEGER_CODES = frozenset(range(1, 10))
_FLOAT_CODES = frozenset((10, 11, 12, 13, 14, 15))
_ML_DTYPES = {_NUMPY[code]: code for code in (11, 14, 15)}  # NumPy kind "V": recognised before void is refused


@dataclass(frozen=True)
class BFloat16:
    """Marks a ``uint16`` array as holding bfloat16 bit patterns (input only: decoding gives ml_dtypes.bfloat16)."""

    bits: np.ndarray

    def __post_init__(self):
        if np.asarray(self.bits).dtype != np.uint16:
            raise TypeError("BFloat16 wraps a uint16 array of bfloat16 bit patterns")


def numpy_dtype(code):
    """The little-endian NumPy dtype that holds elements of ``code``."""
    return _NUMPY[code]


def is_number_dtype(dtype):
    """Whether arrays of NumPy ``dtype`` hold numbers (bool, integers, floats, bfloat16, float8) that convert to
    floats."""
    return dtype.kind in "biuf" or dtype in _ML_DTYPES


def is_integer_code(code):
    """True for bool and the integer dtypes (the ones entropy coders accept, spec 5.3)."""
    return code in _INTEGER_CODES


def is_float_code(code):
    """True for the float dtypes (float16, bfloat16, float32, float64, float8_e4m3fn, float8_e5m2)."""
    return code in _FLOAT_CODES


def integer_range(code):
    """(min, max) of an integer dtype code, as Python ints."""
    if code == 1:
        return 0, 1
    info = np.iinfo(numpy_dtype(code))
    return int(info.min), int(info.max)


def code_of(dtype):
    """The format's dtype code for a NumPy dtype; raises TypeError for unsupported dtypes."""
    dtype = np.dtype(dtype)
    if dtype in _ML_DTYPES:
        return _ML_DTYPES[dtype]
    if dtype.kind == "V" or dtype.names is not None:
        raise TypeError(f"unsupported dtype {dtype}")
    name = dtype.newbyteorder("=").name if dtype.byteorder not in "=|" else dtype.name
    if name in DTYPE_CODES and _NUMPY[DTYPE_CODES[name]] not in _ML_DTYPES:
        return DTYPE_CODES[name]
    raise TypeError(f"unsupported dtype {dtype} (supported: {', '.join(DTYPE_CODES)})")


def as_array(value):
    """Normalise a user tensor to (dtype code, C-contiguous little-endian array holding its elements)."""
    if isinstance(value, BFloat16):
        arr = np.asarray(value.bits)
        return BFLOAT16, np.asarray(arr, dtype="<u2", order="C")
    arr = np.asarray(value)
    code = code_of(arr.dtype)
    target = numpy_dtype(code) if code != BFLOAT16 else arr.dtype
    return code, np.asarray(arr, dtype=target, order="C")


def bfloat16_to_float32(values):
    """float32 values of bfloat16 data (an ml_dtypes bfloat16 array or uint16 bit patterns): exact."""
    bits = np.asarray(values).view(np.uint16).astype(np.uint32) << 16
    return bits.view(np.float32)


def float32_to_bfloat16(values):
    """uint16 bit patterns of float32 ``values`` rounded to bfloat16 (nearest, ties to even; NaN stays NaN)."""
    values = np.asarray(values, dtype=np.float32)
    bits = values.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(values)
    rounded[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded
