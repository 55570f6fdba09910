"""NumPy ``.npz`` archives, read and written without pickle."""

import zipfile

import numpy as np

from ..dtypes import code_of
from ..errors import EncodeError, NNCodecError

__all__ = ["read_npz", "write_npz"]


def read_npz(path):
    """``{name: array}`` of every member of the ``.npz`` at ``path`` (``allow_pickle=False``: object arrays fail)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise NNCodecError(f"{path}: not a readable .npz without pickle: {exc}") from None


def write_npz(path, arrays):
    """Write ``{name: array}`` to ``path`` as an uncompressed ``.npz``; dtypes outside spec 3.7 are refused."""
    for name, array in arrays.items():
        try:
            code_of(np.asarray(array).dtype)
        except TypeError as exc:
            raise EncodeError(f"tensor {name!r}: {exc}") from None
    with open(path, "wb") as f:
        np.savez(f, **arrays)
