"""``.safetensors`` files: our own reader and writer of its simple layout, and the ``safetensors`` package's.

Layout (huggingface/safetensors README): an 8-byte little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``, then the data; the
offsets are relative to the data start, the tensors cover it contiguously with no holes. Our reader checks all of
that before it touches the data and returns zero-copy views of a memory map (``copy=True`` for owned arrays).
"""

import json
import mmap

import numpy as np

from ..format.dtypes import BFLOAT16, code_of, numpy_dtype
from ..errors import EncodeError, FormatError, InconsistentError, LimitExceededError, TruncatedError

__all__ = ["read_safetensors", "write_safetensors", "read_safetensors_package", "SAFETENSORS_DTYPES", "header_bytes",
           "safetensors_dtype"]

MAX_HEADER_BYTES = 100_000_000  # the package's own cap
MAX_NDIM = 32  # NumPy 1.x's (2.x allows 64) and nncodec's (spec 3.5, R3.5-b)
MAX_SPAN = 2**63 - 1  # NumPy's bound on itemsize x the product of the non-zero extents, even of an empty array
SAFETENSORS_DTYPES = {"BOOL": "|b1", "U8": "|u1", "I8": "|i1", "U16": "<u2", "I16": "<i2", "U32": "<u4",
                      "I32": "<i4", "U64": "<u8", "I64": "<i8", "F16": "<f2", "BF16": None, "F32": "<f4",
                      "F64": "<f8", "F8_E4M3": numpy_dtype(14), "F8_E5M2": numpy_dtype(15)}
_NAMES = {np.dtype(v): k for k, v in SAFETENSORS_DTYPES.items() if v is not None}


def _dtype(name, tensor):
    if not isinstance(name, str) or name not in SAFETENSORS_DTYPES:
        raise FormatError(f"safetensors: tensor {tensor!r} has unsupported dtype {name!r}")
    return numpy_dtype(BFLOAT16) if name == "BF16" else np.dtype(SAFETENSORS_DTYPES[name])


def parse_safetensors(buffer):
    """(metadata, [(name, dtype, shape, begin, end)] in header order, data start) of a safetensors buffer, after
    checking the header length, the JSON, every entry's dtype, shape and size, and that the entries tile the data.
    Raises DecodeError subclasses only."""
    if len(buffer) < 8:
        raise TruncatedError(f"safetensors: {len(buffer)} bytes is shorter than the 8-byte header length")
    n = int.from_bytes(buffer[:8], "little")
    if n > MAX_HEADER_BYTES:
        raise LimitExceededError(f"safetensors: header of {n} bytes exceeds {MAX_HEADER_BYTES}",
                                 limit="safetensors_header", declared=n, maximum=MAX_HEADER_BYTES)
    if n > len(buffer) - 8:
        raise TruncatedError(f"safetensors: the header declares {n} bytes, {len(buffer) - 8} are present")
    try:
        header = json.loads(bytes(buffer[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"safetensors: the header is not UTF-8 JSON: {exc}") from None
    except RecursionError:  # "[[[[..." nested deeper than Python's json can follow
        raise FormatError("safetensors: the header's JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise FormatError("safetensors: the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError("safetensors: __metadata__ must map str to str")
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(f"safetensors: tensor {name!r} needs exactly dtype, shape and data_offsets")
        dtype = _dtype(info["dtype"], name)
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
                and isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise FormatError(f"safetensors: tensor {name!r} has a malformed shape or data_offsets")
        size = span = dtype.itemsize
        for d in shape:
            size *= d
            span *= d or 1
        if len(shape) > MAX_NDIM or span > MAX_SPAN:  # e.g. shape [0, 2**70]: no bytes, yet no array can hold it
            raise LimitExceededError(f"safetensors: tensor {name!r} has shape {shape}: NumPy arrays hold at most "
                                     f"{MAX_NDIM} dimensions and {MAX_SPAN} bytes ignoring zero extents",
                                     limit="safetensors_shape")
        begin, end = offsets
        if not 0 <= begin <= end or end - begin != size:
            raise InconsistentError(f"safetensors: tensor {name!r} spans [{begin}, {end}) but needs {size} bytes")
        entries.append((name, dtype, tuple(shape), begin, end))
    position = 0
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != position:
            raise InconsistentError(f"safetensors: tensor {name!r} starts at {begin}, expected {position} "
                                    f"(no holes, no overlaps)")
        position = end
    data_start = 8 + n
    if position != len(buffer) - data_start:
        raise InconsistentError(f"safetensors: the tensors cover {position} data bytes, the file has "
                                f"{len(buffer) - data_start}")
    return metadata, entries, data_start


def read_safetensors(path, copy=True):
    """``({name: array}, metadata)`` from the ``.safetensors`` file at ``path`` with our own reader; arrays are
    owned copies, or read-only views of a memory map with ``copy=False``. Header order is kept."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    view = memoryview(buffer)
    metadata, entries, start = parse_safetensors(view)
    arrays = {}
    for name, dtype, shape, begin, end in entries:
        array = np.frombuffer(view[start + begin:start + end], dtype=dtype).reshape(shape)
        arrays[name] = array.copy() if copy else array
    return arrays, metadata


def write_safetensors(path, arrays, metadata=None):
    """Write ``{name: array}`` (and str -> str ``metadata``) to ``path`` in safetensors layout, in the given order;
    the header is padded with spaces to a multiple of 8 bytes, as the package does."""
    header, offset, parts = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, array in arrays.items():
        array = np.asarray(array)
        try:
            code = code_of(array.dtype)
        except TypeError as exc:
            raise EncodeError(f"tensor {name!r}: {exc}") from None
        kind = "BF16" if code == BFLOAT16 else _NAMES[array.dtype.newbyteorder("<") if array.dtype.itemsize > 1
                                                       else array.dtype]
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<") if code != BFLOAT16 else None)
        header[name] = {"dtype": kind, "shape": list(array.shape), "data_offsets": [offset, offset + data.nbytes]}
        offset += data.nbytes
        parts.append(data)
    with open(path, "wb") as f:
        f.write(header_bytes(header))
        for data in parts:
            f.write(data.reshape(-1).view(np.uint8))


def header_bytes(header):
    """The 8-byte length and the JSON ``header``, padded with spaces to a multiple of 8 bytes, as the package does."""
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def safetensors_dtype(dtype):
    """The safetensors dtype name of a NumPy dtype (the inverse of the reader's; EncodeError when it has none)."""
    for name in SAFETENSORS_DTYPES:
        if _dtype(name, None) == np.dtype(dtype):
            return name
    raise EncodeError(f"safetensors has no dtype for {np.dtype(dtype)}")


def read_safetensors_package(path):
    """``{name: array}`` through the ``safetensors`` package (ImportError when it is not installed)."""
    from safetensors.numpy import load_file
    return load_file(path)
