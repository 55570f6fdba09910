"""NumPy ``.npz`` archives and ``.npy`` files, read and written without pickle.

Each member's header is checked against the bytes it has before its array is read (a header alone cannot make
the reader allocate), and a malformed file raises NNCodecError. Names are zip member names, never keyword
arguments, so a tensor may be called ``file`` or ``allow_pickle``.
"""

import math
import tokenize
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy

from ..format.dtypes import code_of
from ..errors import EncodeError, NNCodecError

__all__ = ["read_npz", "read_npy", "write_npz"]

SUFFIX = ".npy"
# what NumPy's .npy and zip readers raise on malformed bytes (headers are parsed with tokenize and ast)
_MALFORMED = (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, NotImplementedError, SyntaxError,
              RecursionError, tokenize.TokenError)


def _read_array(fp, size):
    """The array of the ``size``-byte .npy stream ``fp`` (at its start), after checking that its header declares
    exactly the bytes that follow it; the header is read twice (checked, then by NumPy's reader)."""
    version = npy.read_magic(fp)
    shape, _, dtype = (npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0)(fp)
    present = size - fp.tell()
    if dtype.hasobject:
        raise ValueError("it holds Python objects (dtype object), which nncodec does not read")
    if math.prod(shape) * dtype.itemsize != present:
        raise ValueError(f"the header declares {dtype} {list(shape)}, {present} data bytes follow it")
    fp.seek(0)
    return npy.read_array(fp, allow_pickle=False)


def _reason(exc):
    """Why a file was refused, in our words: NumPy's messages may advise loading the file with
    ``allow_pickle=True``, which nncodec never does."""
    if isinstance(exc, zipfile.BadZipFile):
        return "it is not a zip file (numpy.savez writes a zip of .npy members)"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first if "pickle" not in first else "reading it would take pickle, which nncodec never uses"


def read_npz(path):
    """``{name: array}`` of every member ``name.npy`` of the ``.npz`` at ``path``, in archive order."""
    with open(path, "rb") as f:
        try:
            with zipfile.ZipFile(f) as archive:
                arrays = {}
                for info in archive.infolist():
                    name = info.filename.removesuffix(SUFFIX)
                    if name == info.filename or name in arrays:
                        raise ValueError(f"member {info.filename!r} is not one array's .npy (or comes twice)")
                    with archive.open(info) as member:
                        arrays[name] = _read_array(member, info.file_size)
                return arrays
        except _MALFORMED as exc:
            raise NNCodecError(f"{path}: not a readable .npz archive of arrays: {_reason(exc)}") from None


def read_npy(path):
    """The array of the ``.npy`` file at ``path``."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        try:
            return _read_array(f, size)
        except _MALFORMED as exc:
            raise NNCodecError(f"{path}: not a readable .npy array: {_reason(exc)}") from None


def write_npz(path, arrays):
    """Write ``{name: array}`` to ``path`` as an uncompressed ``.npz``: member ``name + ".npy"`` per array, so
    ``np.load(path)[name]`` reads it back. Dtypes outside spec 3.7 are refused, and so are names no member can
    hold (a NUL ends a zip name) or that ``np.load`` would confuse (``x`` beside ``x.npy``)."""
    for name, array in arrays.items():
        if "\0" in name or name.endswith(SUFFIX) and name[:-len(SUFFIX)] in arrays:
            raise EncodeError(f"tensor {name!r} cannot be an .npz member name")
        try:
            code_of(np.asarray(array).dtype)
        except TypeError as exc:
            raise EncodeError(f"tensor {name!r}: {exc}") from None
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(name + SUFFIX, "w", force_zip64=True) as member:
                npy.write_array(member, np.asanyarray(array), allow_pickle=False)
