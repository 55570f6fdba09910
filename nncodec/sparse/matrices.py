"""Decoded sparse layouts as first-class in-memory objects (spec 4.6-4.9 describe how they are stored).

A 2-D matrix of shape (m, n) (a convolution weight is viewed as (out, in*kh*kw), the im2col view) is held in one
of four structures. Every structure is lossless on any matrix and reproduces it exactly with ``todense()``.
``A @ x`` with a float32 vector (n,) or matrix (n, batch) is computed by :mod:`nncodec.runtime` kernels directly
on the structure, without densifying. Factored weights (spec 3.5.3) have two more: ``LowRankMatrix`` (U V) and
``SparsePlusLowRank`` (S + U V, S one of the four or a dense array).

Index arrays (pointers, columns, gaps, value indices) are int64, which holds every extent the format admits
(up to ``max_elements``, spec 6); ``values``/``omega`` hold the element type of the matrix. All arrays are
C-contiguous and 1-D. A structure holds only what its streams store (plus pointers over their entries and rows),
never anything in proportion to m x n; ``todense()`` allocates m x n and, when the structure carries ``limits``
(a :class:`~nncodec.limits.DecodeLimits`, set by the decoder), checks that against ``max_output_bytes`` first.
"""

import functools
import math

import numpy as np

__all__ = ["SparseMatrix", "CSRMatrix", "CERMatrix", "CSERMatrix", "RelIdxMatrix", "LowRankMatrix",
           "SparsePlusLowRank", "matrix_view", "value_table", "csr_from_dense", "cer_from_dense", "cser_from_dense", "relidx_from_dense"]


class SparseMatrix:
    """Common interface: ``shape`` (the matrix view (m, n)), ``dtype``, ``nbytes``, ``todense()``, ``@``.

    ``tensor_shape`` is the shape of the tensor the matrix stands for (e.g. a 4-D conv weight); ``todense()``
    returns that shape, ``todense_matrix()`` the (m, n) view. ``limits`` (None: unchecked) is the
    :class:`~nncodec.limits.DecodeLimits` whose ``max_output_bytes`` bounds the dense array, checked before it
    is allocated (``LimitExceededError``).
    """

    limits = None

    def __init__(self, shape, tensor_shape=None):
        m, n = (int(s) for s in shape)
        if m < 0 or n < 0:
            raise ValueError(f"bad matrix shape {shape!r}")
        self.shape = (m, n)
        self.tensor_shape = tuple(int(s) for s in tensor_shape) if tensor_shape is not None else self.shape
        if math.prod(self.tensor_shape) != m * n:
            raise ValueError(f"tensor shape {self.tensor_shape} does not hold {m} x {n} elements")

    @property
    def nbytes(self):
        """Bytes of memory held by the structure's arrays."""
        return sum(a.nbytes for a in self._arrays())

    def todense(self):
        return self.todense_matrix().reshape(self.tensor_shape)

    def todense_matrix(self):
        """The (m, n) dense matrix, after checking its bytes against ``limits.max_output_bytes``."""
        if self.limits is not None:
            self.limits.check("max_output_bytes", self.shape[0] * self.shape[1] * np.dtype(self.dtype).itemsize)
        if self.shape[0] * self.shape[1] == 0:  # nothing to place: no per-row work for an empty matrix
            return np.zeros(self.shape, dtype=self.dtype)
        return self._dense_matrix()

    def __matmul__(self, x):
        from . import operators
        return operators.matmul(self, x)

    def _arrays(self):
        raise NotImplementedError

    def _dense_matrix(self):
        raise NotImplementedError


class CSRMatrix(SparseMatrix):
    """Compressed sparse row: row ``i`` holds ``values[row_ptr[i]:row_ptr[i+1]]`` at the columns
    ``col_idx[row_ptr[i]:row_ptr[i+1]]`` (strictly increasing within a row); every other element is zero."""

    def __init__(self, shape, row_ptr, col_idx, values, tensor_shape=None):
        super().__init__(shape, tensor_shape)
        self.row_ptr = np.ascontiguousarray(row_ptr, dtype=np.int64)
        self.col_idx = np.ascontiguousarray(col_idx, dtype=np.int64)
        self.values = np.ascontiguousarray(values)
        self.dtype = self.values.dtype

    def _arrays(self):
        return self.row_ptr, self.col_idx, self.values

    def _dense_matrix(self):
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
        self.col_idx = np.ascontiguousarray(col_idx, dtype=np.int64)
        self.dtype = self.omega.dtype

    def _arrays(self):
        return self.omega, self.row_ptr, self.omega_ptr, self.col_idx

    def group_values(self):
        """Index into ``omega`` of every group (1 + its position within its row)."""
        counts = np.diff(self.row_ptr)
        starts = np.repeat(self.row_ptr[:-1], counts)
        return (np.arange(self.row_ptr[-1], dtype=np.int64) - starts + 1) if len(counts) else np.zeros(0, np.int64)

    def _dense_matrix(self):
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
        self.omega_idx = np.ascontiguousarray(omega_idx, dtype=np.int64)
        self.omega_ptr = np.ascontiguousarray(omega_ptr, dtype=np.int64)
        self.col_idx = np.ascontiguousarray(col_idx, dtype=np.int64)
        self.dtype = self.omega.dtype

    def _arrays(self):
        return self.omega, self.row_ptr, self.omega_idx, self.omega_ptr, self.col_idx

    def _dense_matrix(self):
        m, n = self.shape
        out = np.full(m * n, self.omega[0] if len(self.omega) else 0, dtype=self.dtype)
        _scatter_groups(out, n, self.row_ptr, self.omega_ptr, self.col_idx, self.omega, self.omega_idx)
        return out.reshape(m, n)


class RelIdxMatrix(SparseMatrix):
    """Deep Compression's relative-index stream over the row-major elements: entry ``t`` sits ``gaps[t] + 1``
    positions after entry ``t - 1`` (the first at position ``gaps[0]``), with value ``values[t]`` (a filler entry
    has value zero). ``row_ptr[i]``, the first entry at or after row ``i``'s start (a side index that lets kernels
    work row by row), is computed on first use: m + 1 entries that no stream stores, so the decoder never builds
    it."""

    def __init__(self, shape, gap_bits, gaps, values, tensor_shape=None):
        super().__init__(shape, tensor_shape)
        self.gap_bits = int(gap_bits)
        self.gaps = np.ascontiguousarray(gaps, dtype=np.int64)
        self.values = np.ascontiguousarray(values)
        self.dtype = self.values.dtype

    def _arrays(self):
        return self.gaps, self.values

    def positions(self):
        """Flat row-major position of every entry."""
        return np.cumsum(self.gaps + 1) - 1

    @functools.cached_property
    def row_ptr(self):
        m, n = self.shape
        return np.searchsorted(self.positions(), np.arange(m + 1, dtype=np.int64) * n).astype(np.int64)

    def _dense_matrix(self):
        m, n = self.shape
        out = np.zeros(m * n, dtype=self.dtype)
        out[self.positions()] = self.values
        return out.reshape(m, n)


class LowRankMatrix(SparseMatrix):
    """A factored matrix ``U @ V`` (spec 3.5.3, product composite): ``U`` (m, k) and ``V`` (k, n), both of the
    matrix's element type. ``todense()`` forms the product in float64 and rounds it once to ``dtype``, as the
    decoder does; ``@`` computes ``U @ (V @ x)`` without forming it."""

    def __init__(self, U, V, tensor_shape=None):
        U, V = np.ascontiguousarray(U), np.ascontiguousarray(V)
        if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[0] or U.dtype != V.dtype:
            raise ValueError(f"factors {U.dtype}{U.shape} @ {V.dtype}{V.shape} do not make a matrix")
        super().__init__((U.shape[0], V.shape[1]), tensor_shape)
        self.U, self.V = U, V
        self.dtype = U.dtype

    @property
    def rank(self):
        return self.U.shape[1]

    def _arrays(self):
        return self.U, self.V

    def _dense_matrix(self):
        if self.limits is not None:  # the product's multiply-adds, as the decoder counts them
            self.limits.check("max_product_macs", self.U.shape[0] * self.U.shape[1] * self.V.shape[1])
        return binary64_product(self.U, self.V, np.empty(self.shape, dtype=self.dtype))


class SparsePlusLowRank(SparseMatrix):
    """``S + U @ V`` (spec 3.5.3, sum of a sparse part and a product): ``S`` is the sparse part as stored, a
    :class:`SparseMatrix` of its layout or a dense ndarray (any shape holding m x n elements), ``lowrank`` a
    :class:`LowRankMatrix` of the same matrix shape and dtype. ``todense()`` is ``S + round(U @ V)`` in
    ``dtype``, as the decoder computes it."""

    def __init__(self, S, lowrank, tensor_shape=None):
        super().__init__(lowrank.shape, tensor_shape)
        s_dtype = S.dtype if isinstance(S, SparseMatrix) else np.asarray(S).dtype
        s_shape = S.shape if isinstance(S, SparseMatrix) else matrix_view(S).shape
        if s_shape != self.shape or s_dtype != lowrank.dtype:
            raise ValueError(f"sparse part {s_dtype}{s_shape} does not match the factors' "
                             f"{lowrank.dtype}{self.shape}")
        self.S = S if isinstance(S, SparseMatrix) else np.asarray(S)
        self.lowrank = lowrank
        self.dtype = lowrank.dtype

    @property
    def U(self):
        return self.lowrank.U

    @property
    def V(self):
        return self.lowrank.V

    def _arrays(self):
        sparse = self.S._arrays() if isinstance(self.S, SparseMatrix) else (self.S,)
        return tuple(sparse) + self.lowrank._arrays()

    def sparse_matrix(self):
        """The sparse part's (m, n) dense view."""
        return self.S.todense_matrix() if isinstance(self.S, SparseMatrix) else matrix_view(self.S)

    def _dense_matrix(self):
        out = self.sparse_matrix().copy()
        with np.errstate(all="ignore"):
            out += self.lowrank.todense_matrix()
        return out


PRODUCT_BLOCK = 1 << 20  # elements of a binary64 tile in binary64_product


def binary64_product(left, right, out, convert=None):
    """``out[...] = left @ right`` with binary64 products and sums, each result element rounded once to ``out``'s
    dtype (``convert(tile)`` does the rounding when given). Computed tile by tile: no binary64 temporary (a tile of
    the result, or the factor rows and columns it reads) exceeds PRODUCT_BLOCK elements unless one factor row or
    column alone does. Returns ``out``."""
    (m, k), n = left.shape, right.shape[1]
    columns = max(1, min(n, PRODUCT_BLOCK // max(k, 1)))
    rows = max(1, min(m, PRODUCT_BLOCK // max(columns, k, 1)))
    with np.errstate(all="ignore"):  # overflow to inf is a value here, as in the decoder
        for col in range(0, n, columns):
            right_tile = right[:, col:col + columns].astype(np.float64)
            for row in range(0, m, rows):
                tile = np.matmul(left[row:row + rows].astype(np.float64), right_tile)
                out[row:row + rows, col:col + columns] = tile if convert is None else convert(tile)
    return out


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


def matrix_view(array):
    """The (m, n) matrix view of a tensor of ndim >= 1: axis 0 by the product of the others (im2col for convs)."""
    array = np.asarray(array)
    if array.ndim == 0:
        raise ValueError("a 0-d tensor has no matrix view")
    if array.ndim == 1:
        return array.reshape(1, array.shape[0])
    return array.reshape(array.shape[0], int(np.prod(array.shape[1:], dtype=np.int64)))


def csr_from_dense(array):
    """CSRMatrix of ``array`` (any ndim >= 1, via its matrix view); zeros are implicit."""
    mat = matrix_view(array)
    rows, cols = np.nonzero(mat)
    row_ptr = np.zeros(mat.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=mat.shape[0]), out=row_ptr[1:])
    return CSRMatrix(mat.shape, row_ptr, cols, mat[rows, cols], tensor_shape=np.shape(array))


def value_table(array):
    """(omega, index of every element in omega): distinct values ordered by decreasing frequency, ties by value."""
    flat = matrix_view(array).ravel()
    uniq, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    order = np.lexsort((np.arange(len(uniq)), -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order], rank[inverse.ravel()]


def _grouped(array):
    """Rows, value indices (>= 1) and columns of the non-implicit elements, sorted by (row, value, column)."""
    mat = matrix_view(array)
    omega, idx = value_table(array)
    idx = idx.reshape(mat.shape)
    rows, cols = np.nonzero(idx)
    vals = idx[rows, cols]
    order = np.lexsort((cols, vals, rows))
    return mat.shape, omega, rows[order], vals[order], cols[order]


def cer_from_dense(array):
    """CERMatrix of ``array``: every row keeps (possibly empty) groups for values 1 .. its largest value index."""
    (m, n), omega, rows, vals, cols = _grouped(array)
    groups_per_row = np.zeros(m, dtype=np.int64)
    np.maximum.at(groups_per_row, rows, vals)
    row_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(groups_per_row, out=row_ptr[1:])
    group_of_entry = row_ptr[rows] + vals - 1
    omega_ptr = np.zeros(row_ptr[-1] + 1, dtype=np.int64)
    np.cumsum(np.bincount(group_of_entry, minlength=row_ptr[-1]), out=omega_ptr[1:])
    return CERMatrix((m, n), omega, row_ptr, omega_ptr, cols, tensor_shape=np.shape(array))


def cser_from_dense(array):
    """CSERMatrix of ``array``: every row keeps one group per distinct non-implicit value it contains."""
    (m, n), omega, rows, vals, cols = _grouped(array)
    new_group = np.ones(len(rows), dtype=bool)
    new_group[1:] = (rows[1:] != rows[:-1]) | (vals[1:] != vals[:-1])
    starts = np.flatnonzero(new_group)
    row_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[starts], minlength=m), out=row_ptr[1:])
    omega_ptr = np.append(starts, len(rows)).astype(np.int64)
    return CSERMatrix((m, n), omega, row_ptr, vals[starts], omega_ptr, cols, tensor_shape=np.shape(array))


def relidx_from_dense(array, gap_bits):
    """RelIdxMatrix of ``array`` with gaps of ``gap_bits`` bits: a gap over 2**gap_bits - 1 gets filler zeros."""
    mat = matrix_view(array)
    flat = mat.ravel()
    pos = np.flatnonzero(flat)
    max_gap = (1 << gap_bits) - 1
    raw_gaps = np.diff(pos, prepend=-1) - 1
    fillers = raw_gaps // (max_gap + 1)
    count = len(pos) + int(fillers.sum())
    gaps = np.full(count, max_gap, dtype=np.int64)
    values = np.zeros(count, dtype=flat.dtype)
    real_slot = np.cumsum(fillers + 1) - 1
    gaps[real_slot] = raw_gaps - fillers * (max_gap + 1)
    values[real_slot] = flat[pos]
    return RelIdxMatrix(mat.shape, gap_bits, gaps, values, tensor_shape=np.shape(array))
