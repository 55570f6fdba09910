"""Decoded sparse layouts as first-class in-memory objects (spec 4.6-4.9 describe how they are stored).

A 2-D matrix of shape (m, n) (a convolution weight is viewed as (out, in*kh*kw), the im2col view) is held in one
of four structures. Every structure is lossless on any matrix and reproduces it exactly with ``todense()``.
``A @ x`` with a float32 vector (n,) or matrix (n, batch) is computed by :mod:`nncodec.runtime` kernels directly
on the structure, without densifying.

Index arrays are int64 (pointers) or int32 (column indices); ``values``/``omega`` hold the element type of the
matrix. All arrays are C-contiguous and 1-D.
"""

import numpy as np

__all__ = ["SparseMatrix", "CSRMatrix", "CERMatrix", "CSERMatrix", "RelIdxMatrix"]


class SparseMatrix:
    """Common interface: ``shape`` (the matrix view (m, n)), ``dtype``, ``nbytes``, ``todense()``, ``@``.

    ``tensor_shape`` is the shape of the tensor the matrix stands for (e.g. a 4-D conv weight); ``todense()``
    returns that shape, ``todense_matrix()`` the (m, n) view.
    """

    def __init__(self, shape, tensor_shape=None):
        m, n = (int(s) for s in shape)
        if m < 0 or n < 0:
            raise ValueError(f"bad matrix shape {shape!r}")
        self.shape = (m, n)
        self.tensor_shape = tuple(tensor_shape) if tensor_shape is not None else self.shape
        if int(np.prod(self.tensor_shape, dtype=np.int64)) != m * n:
            raise ValueError(f"tensor shape {self.tensor_shape} does not hold {m} x {n} elements")

    @property
    def nbytes(self):
        """Bytes of memory held by the structure's arrays."""
        return sum(a.nbytes for a in self._arrays())

    def todense(self):
        return self.todense_matrix().reshape(self.tensor_shape)

    def __matmul__(self, x):
        from . import runtime
        return runtime.matmul(self, x)

    def _arrays(self):
        raise NotImplementedError

    def todense_matrix(self):
        raise NotImplementedError


class CSRMatrix(SparseMatrix):
    """Compressed sparse row: row ``i`` holds ``values[row_ptr[i]:row_ptr[i+1]]`` at the columns
    ``col_idx[row_ptr[i]:row_ptr[i+1]]`` (strictly increasing within a row); every other element is zero."""

    def __init__(self, shape, row_ptr, col_idx, values, tensor_shape=None):
        super().__init__(shape, tensor_shape)
        self.row_ptr = np.ascontiguousarray(row_ptr, dtype=np.int64)
        self.col_idx = np.ascontiguousarray(col_idx, dtype=np.int32)
        self.values = np.ascontiguousarray(values)
        self.dtype = self.values.dtype

    def _arrays(self):
        return self.row_ptr, self.col_idx, self.values

    def todense_matrix(self):
        m, n = self.shape
        out = np.zeros(m * n, dtype=self.dtype)
        rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(self.row_ptr))
        out[rows * n + self.col_idx] = self.values
        return out.reshape(m, n)


class CERMatrix(SparseMatrix):
    """Compressed Entropy Row (Wiedemann et al.): ``omega`` is the table of distinct values ordered by frequency,
    ``omega[0]`` (the most frequent, usually zero) implicit. Row ``i`` owns the groups
    ``row_ptr[i] .. row_ptr[i+1]-1``; its ``j``-th group (``j`` from 0) holds the columns of value
    ``omega[j + 1]``: ``col_idx[omega_ptr[g]:omega_ptr[g+1]]`` for ``g = row_ptr[i] + j`` (empty groups are kept
    up to the last value present in the row). ``omega_ptr`` has one more entry than there are groups."""

    def __init__(self, shape, omega, row_ptr, omega_ptr, col_idx, tensor_shape=None):
        super().__init__(shape, tensor_shape)
        self.omega = np.ascontiguousarray(omega)
        self.row_ptr = np.ascontiguousarray(row_ptr, dtype=np.int64)
        self.omega_ptr = np.ascontiguousarray(omega_ptr, dtype=np.int64)
        self.col_idx = np.ascontiguousarray(col_idx, dtype=np.int32)
        self.dtype = self.omega.dtype

    def _arrays(self):
        return self.omega, self.row_ptr, self.omega_ptr, self.col_idx

    def group_values(self):
        """Index into ``omega`` of every group (1 + its position within its row)."""
        counts = np.diff(self.row_ptr)
        starts = np.repeat(self.row_ptr[:-1], counts)
        return (np.arange(self.row_ptr[-1], dtype=np.int64) - starts + 1) if len(counts) else np.zeros(0, np.int64)

    def todense_matrix(self):
        m, n = self.shape
        out = np.full(m * n, self.omega[0] if len(self.omega) else 0, dtype=self.dtype)
        _scatter_groups(out, n, self.row_ptr, self.omega_ptr, self.col_idx, self.omega, self.group_values())
        return out.reshape(m, n)


class CSERMatrix(SparseMatrix):
    """Compressed Shared Elements Row (Wiedemann et al.): as CER, but every group names its value explicitly,
    ``omega[omega_idx[g]]`` (``omega_idx[g] >= 1``), and rows hold only the groups of values they contain."""

    def __init__(self, shape, omega, row_ptr, omega_idx, omega_ptr, col_idx, tensor_shape=None):
        super().__init__(shape, tensor_shape)
        self.omega = np.ascontiguousarray(omega)
        self.row_ptr = np.ascontiguousarray(row_ptr, dtype=np.int64)
        self.omega_idx = np.ascontiguousarray(omega_idx, dtype=np.int32)
        self.omega_ptr = np.ascontiguousarray(omega_ptr, dtype=np.int64)
        self.col_idx = np.ascontiguousarray(col_idx, dtype=np.int32)
        self.dtype = self.omega.dtype

    def _arrays(self):
        return self.omega, self.row_ptr, self.omega_idx, self.omega_ptr, self.col_idx

    def todense_matrix(self):
        m, n = self.shape
        out = np.full(m * n, self.omega[0] if len(self.omega) else 0, dtype=self.dtype)
        _scatter_groups(out, n, self.row_ptr, self.omega_ptr, self.col_idx, self.omega, self.omega_idx)
        return out.reshape(m, n)


class RelIdxMatrix(SparseMatrix):
    """Deep Compression's relative-index stream over the row-major elements: entry ``t`` sits ``gaps[t] + 1``
    positions after entry ``t - 1`` (the first at position ``gaps[0]``), with value ``values[t]`` (a filler entry
    has value zero); ``row_ptr[i]`` is the first entry at or after row ``i``'s start (decoded side index that lets
    kernels work row by row)."""

    def __init__(self, shape, gap_bits, gaps, values, row_ptr, tensor_shape=None):
        super().__init__(shape, tensor_shape)
        self.gap_bits = int(gap_bits)
        self.gaps = np.ascontiguousarray(gaps, dtype=np.int32)
        self.values = np.ascontiguousarray(values)
        self.row_ptr = np.ascontiguousarray(row_ptr, dtype=np.int64)
        self.dtype = self.values.dtype

    def _arrays(self):
        return self.gaps, self.values, self.row_ptr

    def positions(self):
        """Flat row-major position of every entry."""
        return np.cumsum(self.gaps.astype(np.int64) + 1) - 1

    def todense_matrix(self):
        m, n = self.shape
        out = np.zeros(m * n, dtype=self.dtype)
        out[self.positions()] = self.values
        return out.reshape(m, n)


def _scatter_groups(out, n, row_ptr, omega_ptr, col_idx, omega, group_value_index):
    """Write omega[group value] at every listed column of every group (shared by CER and CSER)."""
    groups = len(omega_ptr) - 1
    if groups <= 0:
        return
    group_rows = np.repeat(np.arange(len(row_ptr) - 1, dtype=np.int64), np.diff(row_ptr))
    per_group = np.diff(omega_ptr)
    rows = np.repeat(group_rows, per_group)
    vals = np.repeat(omega[np.asarray(group_value_index, dtype=np.int64)], per_group)
    out[rows * n + col_idx] = vals
