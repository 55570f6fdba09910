"""NumPy ``.npz`` archives, read and written without pickle."""

import numpy as np

from ..dtypes import code_of
from ..errors import EncodeError

__all__ = ["read_npz", "write_npz"]


def read_npz(path):
    """``{name: array}`` of every member of the ``.npz`` at ``path`` (``allow_pickle=False``: object arrays fail)."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def write_npz(path, arrays):
    """Write ``{name: array}`` to ``path`` as an uncompressed ``.npz``; dtypes outside spec 3.7 are refused."""
    for name, array in arrays.items():
        try:
            code_of(np.asarray(array).dtype)
        except TypeError as exc:
            raise EncodeError(f"tensor {name!r}: {exc}") from None
    with open(path, "wb") as f:
        np.savez(f, **arrays)
