"""One class per layout: a decoded weight matrix in the form its products compute on (spec 4.6 to 4.9, 3.5.3).

A 2-D matrix of shape (m, n) (a convolution weight is viewed as (out, in*kh*kw), the im2col view) is held in one
of the stored layouts (:class:`CSRMatrix`, :class:`CERMatrix`, :class:`CSERMatrix`, :class:`RelIdxMatrix`), a
runtime-only one (:class:`CSR8Matrix`, :class:`DenseMatrix`) or a factored one (:class:`LowRankMatrix` U V and
:class:`SparsePlusLowRank` S + U V, composed of the others). Every object has ``layout``, ``shape`` (the matrix
view), ``tensor_shape``, ``dtype`` (the element type of the tensor it stands for), ``nbytes``, ``todense()``
(bit-exact) and ``A @ x`` for float32 ``x`` of shape (n,) or (n, batch) (:meth:`SparseMatrix.matmul` also takes
``backend`` and ``threads``), computed by the ``spmm`` kernels with the GIL released, never densified.

The arrays are the compute-ready form, made once at construction: index arrays as narrow as their extents allow
(column indices and relidx gaps uint16 up to 2^16, int32 up to 2^31, else int64; group pointers and CSER value
indices int32 when they fit; row pointers int64), values and value tables in the tensor's element type (a float32
copy for the products is made on the first product when that type is not float32). Construction checks every
invariant the kernels rely on (the kernels run without bounds checks); the stages, which build structures from a
container's streams after the layout kernels have checked them (``nncodec.kernels.*.layouts``), pass
``checked=True`` so that nothing is checked twice. A structure holds only what its streams store plus pointers
over its entries and rows, never anything in proportion to m x n; ``todense()`` allocates m x n and, when the
structure carries ``limits`` (a :class:`~nncodec.format.limits.DecodeLimits`, set by the decoder), checks that
against ``max_output_bytes`` first.
"""

import copy
import functools
import math
import os

import numpy as np

from .. import kernels
from ..errors import InconsistentError
from ..format.dtypes import is_number_dtype

__all__ = ["SparseMatrix", "CSRMatrix", "CSR8Matrix", "CERMatrix", "CSERMatrix", "RelIdxMatrix", "DenseMatrix",
           "LowRankMatrix", "SparsePlusLowRank", "matrix_view", "binary64_product", "available_threads",
           "PARALLEL_MIN_WORK", "CSR8_MAX_VALUES"]

# Below this many multiply-adds (stored entries x batch) a product runs on one thread: starting the OpenMP team
# costs more than it saves.
PARALLEL_MIN_WORK = 1 << 20
# csr8 holds each value as an 8-bit code into a table of the distinct values.
CSR8_MAX_VALUES = 256


def available_threads():
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def index_dtype(bound):
    """The narrowest of uint16, int32, int64 that holds every index in 0..bound-1."""
    return np.uint16 if bound <= 1 << 16 else np.int32 if bound <= 1 << 31 else np.int64


def _indices(array, bound):
    return np.ascontiguousarray(array, dtype=index_dtype(bound))


def _pointers(ptr):
    """Pointers (non-decreasing, last is the largest) as int32 when the last fits, else int64."""
    ptr = np.asarray(ptr)
    return np.ascontiguousarray(ptr, dtype=np.int32 if (len(ptr) == 0 or ptr[-1] < 2 ** 31) else np.int64)


def _int64(array):
    return np.ascontiguousarray(array, dtype=np.int64)


def _check_pointers(ptr, count, entries, what):
    """``ptr`` has count + 1 entries, starts at 0, never decreases and ends at ``entries``."""
    if ptr.ndim != 1 or len(ptr) != count + 1:
        raise InconsistentError(f"{what} has {len(ptr)} entries, expected {count + 1}")
    if ptr[0] != 0 or ptr[-1] != entries or np.any(ptr[1:] < ptr[:-1]):
        raise InconsistentError(f"{what} must rise from 0 to {entries} without decreasing")


def _check_indices(index, low, bound, what):
    if len(index) and (index.min() < low or index.max() >= bound):
        raise InconsistentError(f"a {what} is outside {low}..{bound - 1}")


def _float32(values):
    """``values`` as a float32 array for the kernels (the same array when it already is one)."""
    if not is_number_dtype(values.dtype):
        raise InconsistentError(f"cannot compute with {values.dtype} values")
    with np.errstate(all="ignore"):  # a float64 beyond float32's range becomes inf, a value like any other
        return np.ascontiguousarray(values, dtype=np.float32)


def matrix_view(array):
    """The (m, n) matrix view of a tensor of ndim >= 1: axis 0 by the product of the others (im2col for convs)."""
    array = np.asarray(array)
    if array.ndim == 0:
        raise ValueError("a 0-d tensor has no matrix view")
    if array.ndim == 1:
        return array.reshape(1, array.shape[0])
    return array.reshape(array.shape[0], int(np.prod(array.shape[1:], dtype=np.int64)))


class SparseMatrix:
    """Common interface of every layout: ``layout``, ``shape`` (the matrix view (m, n)), ``tensor_shape``,
    ``dtype``, ``nbytes``, ``entries``, ``todense()`` (the tensor's shape), ``todense_matrix()`` (the (m, n) view)
    and ``A @ x``. ``limits`` (None: unchecked) bounds the dense array's bytes (``LimitExceededError`` before it is
    allocated); ``threads`` (None: all CPUs for products of at least PARALLEL_MIN_WORK multiply-adds, else 1) is
    the thread count products use unless :meth:`matmul` is given one. ``implicit`` is the value of the elements a
    layout does not list (zero except for CER/CSER tables whose most frequent value is not zero)."""

    layout = None
    values_attr = "values"  # the array of stored values that elementwise transforms map (see with_values)
    limits = None
    threads = None
    implicit = np.float32(0)

    def __init__(self, shape, tensor_shape=None):
        m, n = (int(s) for s in shape)
        if m < 0 or n < 0:
            raise ValueError(f"bad matrix shape {shape!r}")
        self.shape = (m, n)
        self.tensor_shape = tuple(int(s) for s in tensor_shape) if tensor_shape is not None else self.shape
        if math.prod(self.tensor_shape) != m * n:
            raise ValueError(f"tensor shape {self.tensor_shape} does not hold {m} x {n} elements")

    @property
    def dtype(self):
        return getattr(self, self.values_attr).dtype

    def _arrays(self):
        """The arrays the structure holds (what ``nbytes`` counts, with the float32 copies products made)."""
        raise NotImplementedError

    @property
    def nbytes(self):
        """Bytes of memory held by the structure's arrays (each counted once)."""
        arrays = {id(a): a for a in self._arrays()}
        arrays.update((id(a), a) for a in self.__dict__.get("_compute", ()) if isinstance(a, np.ndarray))
        return sum(a.nbytes for a in arrays.values())

    @property
    def entries(self):
        """Stored entries: the multiply-adds (or additions) per output column."""
        raise NotImplementedError

    def todense(self):
        return self.todense_matrix().reshape(self.tensor_shape)

    def todense_matrix(self):
        """The (m, n) dense matrix, after checking its bytes against ``limits.max_output_bytes``."""
        if self.limits is not None:
            self.limits.check("max_output_bytes", self.shape[0] * self.shape[1] * np.dtype(self.dtype).itemsize)
        if self.shape[0] * self.shape[1] == 0:  # nothing to place: no per-row work for an empty matrix
            return np.zeros(self.shape, dtype=self.dtype)
        return self._dense_matrix()

    def _dense_matrix(self):
        raise NotImplementedError

    def with_values(self, values):
        """A copy holding ``values`` (as many as the stored ones, e.g. after an elementwise transform) in place of
        the stored values; the index arrays are shared."""
        values = np.ascontiguousarray(values)
        if values.shape != getattr(self, self.values_attr).shape:
            raise ValueError(f"{values.shape} values for a structure of {getattr(self, self.values_attr).shape}")
        out = copy.copy(self)
        out.__dict__.pop("_compute", None)
        setattr(out, self.values_attr, values)
        return out

    def __matmul__(self, x):
        return self.matmul(x)

    def matmul(self, x, *, backend=None, threads=None):
        """``A @ x`` as float32 for x of shape (n,) or (n, batch), on ``threads`` threads (see the class)."""
        m, n = self.shape
        x = np.asarray(x)
        if x.ndim not in (1, 2) or x.shape[0] != n:
            raise ValueError(f"expected x of shape ({n},) or ({n}, batch), got {x.shape}")
        out = np.empty((m, 1 if x.ndim == 1 else x.shape[1]), dtype=np.float32)
        if out.size:
            # IEEE 754 arithmetic: an inf or NaN result is a value, and no NumPy warning escapes a product
            with np.errstate(all="ignore"):
                x2 = np.ascontiguousarray(x.reshape(n, out.shape[1]), dtype=np.float32)
                if threads is None:
                    threads = self.threads
                if threads is None:
                    threads = available_threads() if self.entries * out.shape[1] >= PARALLEL_MIN_WORK else 1
                self._product(kernels.module("spmm", backend), x2, out, max(1, int(threads)))
        return out.reshape(m) if x.ndim == 1 else out

    def _product(self, spmm, x, out, threads):
        """``out[...] = A @ x`` (x float32 (n, b), out float32 (m, b), both C-contiguous, b >= 1, m >= 1)."""
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.shape[0]}x{self.shape[1]} {self.dtype} {self.nbytes} bytes>"


class CSRMatrix(SparseMatrix):
    """Compressed sparse row: row ``i`` holds ``values[row_ptr[i]:row_ptr[i+1]]`` at the columns
    ``col_idx[row_ptr[i]:row_ptr[i+1]]`` (increasing within a row); every other element is zero."""

    layout = "csr"

    def __init__(self, shape, row_ptr, col_idx, values, tensor_shape=None, *, checked=False):
        super().__init__(shape, tensor_shape)
        m, n = self.shape
        self.row_ptr = _int64(row_ptr)
        self.values = np.ascontiguousarray(values)
        if not checked:
            col_idx = _int64(col_idx)
            _check_pointers(self.row_ptr, m, len(col_idx), "CSR row_ptr")
            if self.values.shape != col_idx.shape:
                raise InconsistentError("CSR values and column indices differ in length")
            _check_indices(col_idx, 0, n, "column index")
        self.col_idx = _indices(col_idx, n)

    def _arrays(self):
        return self.row_ptr, self.col_idx, self.values

    @property
    def entries(self):
        return len(self.col_idx)

    @functools.cached_property
    def _compute(self):
        return (_float32(self.values),)

    def _product(self, spmm, x, out, threads):
        spmm.csr_matmul(self.row_ptr, self.col_idx, self._compute[0], x, out, threads)

    def rows(self):
        """Row of every entry."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.row_ptr))

    def positions(self):
        """Flat row-major position of every entry."""
        return self.rows() * self.shape[1] + self.col_idx

    def _dense_matrix(self):
        m, n = self.shape
        out = np.zeros(m * n, dtype=self.dtype)
        out[self.rows() * n + self.col_idx] = self.values
        return out.reshape(m, n)


class CSR8Matrix(CSRMatrix):
    """CSR (a runtime-only layout, never stored) whose k-th value is ``table[codes[k]]``, ``codes`` uint8: with
    uint16 columns an entry costs 3 bytes instead of 6, which is what a memory-bound product pays for. Built by
    :meth:`from_csr` from a CSR structure with at most CSR8_MAX_VALUES distinct values (ValueError otherwise)."""

    layout = "csr8"
    values_attr = "table"

    @classmethod
    def from_csr(cls, csr):
        table, codes = np.unique(csr.values, return_inverse=True)
        if len(table) > CSR8_MAX_VALUES:
            raise ValueError(f"csr8 holds at most {CSR8_MAX_VALUES} distinct values, the matrix has {len(table)}")
        out = cls.__new__(cls)
        SparseMatrix.__init__(out, csr.shape, csr.tensor_shape)
        out.row_ptr, out.col_idx = csr.row_ptr, csr.col_idx
        out.codes = np.ascontiguousarray(codes.reshape(-1), dtype=np.uint8)
        # never empty, so the kernel's table pointer is valid even for an all-zero matrix
        out.table = table if len(table) else np.zeros(1, csr.dtype)
        out.limits = csr.limits
        return out

    @property
    def values(self):
        return self.table[self.codes]

    def _arrays(self):
        return self.row_ptr, self.col_idx, self.codes, self.table

    @functools.cached_property
    def _compute(self):
        return (_float32(self.table),)

    def _product(self, spmm, x, out, threads):
        spmm.csr8_matmul(self.row_ptr, self.col_idx, self.codes, self._compute[0], x, out, threads)


class CERMatrix(SparseMatrix):
    """Compressed Entropy Row (Wiedemann et al.): ``omega`` is the table of distinct values ordered by frequency,
    ``omega[0]`` (the most frequent, usually zero) implicit. Row ``i`` owns the groups
    ``row_ptr[i] .. row_ptr[i+1]-1``; its ``j``-th group (``j`` from 0) holds the columns of value
    ``omega[j + 1]``: ``col_idx[omega_ptr[g]:omega_ptr[g+1]]`` for ``g = row_ptr[i] + j`` (empty groups are kept
    up to the last value present in the row). ``omega_ptr`` has one more entry than there are groups.

    Products compute a row as ``implicit * sum(x) + sum over groups of (value - implicit) * (sum of x over the
    group's columns)``: one multiplication per group, additions per entry."""

    layout = "cer"
    values_attr = "omega"

    def __init__(self, shape, omega, row_ptr, omega_ptr, col_idx, tensor_shape=None, *, checked=False):
        super().__init__(shape, tensor_shape)
        self.omega = np.ascontiguousarray(omega)
        self._set_groups(row_ptr, omega_ptr, col_idx, checked)
        if not checked and len(self.row_ptr) > 1 and np.diff(self.row_ptr).max() > max(len(self.omega) - 1, 0):
            raise InconsistentError("a CER row has more groups than omega has non-implicit values")

    def _set_groups(self, row_ptr, omega_ptr, col_idx, checked):
        m, n = self.shape
        self.row_ptr = _int64(row_ptr)
        if not checked:
            omega_ptr, col_idx = _int64(omega_ptr), _int64(col_idx)
            groups = len(omega_ptr) - 1
            _check_pointers(self.row_ptr, m, groups, f"{self.layout.upper()} row_ptr")
            _check_pointers(omega_ptr, groups, len(col_idx), f"{self.layout.upper()} omega_ptr")
            _check_indices(col_idx, 0, n, "column index")
        self.omega_ptr = _pointers(omega_ptr)
        self.col_idx = _indices(col_idx, n)

    def _arrays(self):
        return self.omega, self.row_ptr, self.omega_ptr, self.col_idx

    @property
    def entries(self):
        return len(self.col_idx)

    @functools.cached_property
    def _compute(self):
        """(table shifted by the implicit value, as float32; the implicit value as float32)."""
        omega = _float32(self.omega).astype(np.float64)
        implicit = np.float32(omega[0]) if len(omega) else np.float32(0)
        with np.errstate(all="ignore"):
            return (omega - implicit).astype(np.float32), implicit

    @property
    def implicit(self):
        return self._compute[1]

    def _product(self, spmm, x, out, threads):
        table, implicit = self._compute
        spmm.cer_matmul(self.row_ptr, self.omega_ptr, self.col_idx, table, x, out, threads)
        if implicit:
            out += implicit * x.sum(axis=0)

    def group_values(self):
        """Index into ``omega`` of every group (1 + its position within its row)."""
        counts = np.diff(self.row_ptr)
        starts = np.repeat(self.row_ptr[:-1], counts)
        return (np.arange(self.row_ptr[-1], dtype=np.int64) - starts + 1) if len(counts) else np.zeros(0, np.int64)

    def entry_rows(self):
        """Row of every column entry."""
        group_rows = np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.row_ptr))
        return np.repeat(group_rows, np.diff(self.omega_ptr))

    def positions(self):
        """Flat row-major position of every column entry."""
        return self.entry_rows() * self.shape[1] + self.col_idx

    def _dense_matrix(self):
        m, n = self.shape
        out = np.full(m * n, self.omega[0] if len(self.omega) else 0, dtype=self.dtype)
        if self.entries:
            values = np.repeat(self.omega[self.group_values()], np.diff(self.omega_ptr))
            out[self.entry_rows() * n + self.col_idx] = values
        return out.reshape(m, n)


class CSERMatrix(CERMatrix):
    """Compressed Shared Elements Row (Wiedemann et al.): as CER, but every group names its value explicitly,
    ``omega[omega_idx[g]]`` (``omega_idx[g] >= 1``), and rows hold only the groups of values they contain."""

    layout = "cser"

    def __init__(self, shape, omega, row_ptr, omega_idx, omega_ptr, col_idx, tensor_shape=None, *, checked=False):
        SparseMatrix.__init__(self, shape, tensor_shape)
        self.omega = np.ascontiguousarray(omega)
        self._set_groups(row_ptr, omega_ptr, col_idx, checked)
        if not checked:
            omega_idx = _int64(omega_idx)
            if len(omega_idx) != len(self.omega_ptr) - 1:
                raise InconsistentError("CSER omega_idx must have one entry per group")
            _check_indices(omega_idx, 1, len(self.omega), "CSER omega index")
        self.omega_idx = np.ascontiguousarray(omega_idx, dtype=np.int32 if len(self.omega) <= 2 ** 31 else np.int64)

    def _arrays(self):
        return self.omega, self.row_ptr, self.omega_idx, self.omega_ptr, self.col_idx

    def group_values(self):
        return self.omega_idx

    def _product(self, spmm, x, out, threads):
        table, implicit = self._compute
        spmm.cser_matmul(self.row_ptr, self.omega_idx, self.omega_ptr, self.col_idx, table, x, out, threads)
        if implicit:
            out += implicit * x.sum(axis=0)


class RelIdxMatrix(SparseMatrix):
    """Deep Compression's relative-index stream over the row-major elements: entry ``t`` sits ``gaps[t] + 1``
    positions after entry ``t - 1`` (the first at position ``gaps[0]``), with value ``values[t]`` (a filler entry
    has value zero). Products walk it row by row with ``row_ptr`` (the first entry at or after each row's start)
    and ``first_col`` (the column of each row's first entry): m + 1 and m entries that no stream stores, so they
    are made on the first product, never by the decoder."""

    layout = "relidx"

    def __init__(self, shape, gap_bits, gaps, values, tensor_shape=None, *, checked=False):
        super().__init__(shape, tensor_shape)
        m, n = self.shape
        self.gap_bits = int(gap_bits)
        self.values = np.ascontiguousarray(values)
        if not checked:
            gaps = _int64(gaps)
            if self.values.shape != gaps.shape:
                raise InconsistentError("relative-index values and gaps differ in length")
            _check_indices(gaps, 0, 1 << self.gap_bits, "relative-index gap")
            if len(gaps) and int(np.sum(gaps + 1)) > m * n:
                raise InconsistentError(f"relative-index entries run past element {m * n - 1}")
        self.gaps = _indices(gaps, 1 << self.gap_bits)

    def _arrays(self):
        return (self.gaps, self.values) + tuple(v for k, v in self.__dict__.items() if k in ("row_ptr", "first_col"))

    @property
    def entries(self):
        return len(self.gaps)

    def positions(self):
        """Flat row-major position of every entry."""
        return np.cumsum(self.gaps.astype(np.int64) + 1) - 1

    @functools.cached_property
    def row_ptr(self):
        m, n = self.shape
        return np.searchsorted(self.positions(), np.arange(m + 1, dtype=np.int64) * n).astype(np.int64)

    @functools.cached_property
    def first_col(self):
        m, n = self.shape
        first = np.zeros(m, dtype=np.int64)
        starts = self.row_ptr[:-1]
        nonempty = self.row_ptr[1:] > starts
        first[nonempty] = self.positions()[starts[nonempty]] - np.flatnonzero(nonempty) * n
        return first

    @functools.cached_property
    def _compute(self):
        return (_float32(self.values),)

    def _product(self, spmm, x, out, threads):
        spmm.relidx_matmul(self.row_ptr, self.first_col, self.gaps, self._compute[0], x, out, threads)

    def _dense_matrix(self):
        m, n = self.shape
        out = np.zeros(m * n, dtype=self.dtype)
        out[self.positions()] = self.values
        return out.reshape(m, n)


class DenseMatrix(SparseMatrix):
    """A dense matrix (a runtime layout: a tensor stored dense decodes to an ndarray); products use NumPy (BLAS,
    with its own threads) on both backends."""

    layout = "dense"
    values_attr = "matrix"

    def __init__(self, array):
        matrix = matrix_view(array)
        super().__init__(matrix.shape, np.shape(array))
        self.matrix = np.ascontiguousarray(matrix)

    def _arrays(self):
        return (self.matrix,)

    @property
    def entries(self):
        return self.matrix.size

    @functools.cached_property
    def _compute(self):
        return (_float32(self.matrix),)

    def _product(self, spmm, x, out, threads):
        np.matmul(self._compute[0], x, out=out)

    def _dense_matrix(self):
        return self.matrix.copy()


class LowRankMatrix(SparseMatrix):
    """A factored matrix ``U @ V`` (spec 3.5.3, product composite): ``U`` (m, k) and ``V`` (k, n), both of the
    matrix's element type. ``todense()`` forms the product in float64 and rounds it once to ``dtype``, as the
    decoder does; ``@`` computes ``U @ (V @ x)`` in float32 without forming it, k (m + n) multiply-adds per
    column instead of m n."""

    layout = "lowrank"
    values_attr = "U"

    def __init__(self, U, V, tensor_shape=None):
        U, V = np.ascontiguousarray(U), np.ascontiguousarray(V)
        if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[0] or U.dtype != V.dtype:
            raise ValueError(f"factors {U.dtype}{U.shape} @ {V.dtype}{V.shape} do not make a matrix")
        super().__init__((U.shape[0], V.shape[1]), tensor_shape)
        self.U, self.V = U, V

    @property
    def rank(self):
        return self.U.shape[1]

    def _arrays(self):
        return self.U, self.V

    @property
    def entries(self):
        return self.U.size + self.V.size

    @functools.cached_property
    def _compute(self):
        return _float32(self.U), _float32(self.V)

    def _product(self, spmm, x, out, threads):
        U, V = self._compute
        np.matmul(U, V @ x, out=out)

    def _dense_matrix(self):
        if self.limits is not None:  # the product's multiply-adds, as the decoder counts them
            self.limits.check("max_product_macs", self.U.shape[0] * self.U.shape[1] * self.V.shape[1])
        return binary64_product(self.U, self.V, np.empty(self.shape, dtype=self.dtype))


class SparsePlusLowRank(SparseMatrix):
    """``S + U @ V`` (spec 3.5.3, sum of a sparse part and a product): ``S`` is the sparse part, an object of any
    layout above or a dense ndarray (any shape holding m x n elements), ``lowrank`` a :class:`LowRankMatrix` of
    the same matrix shape and dtype. ``todense()`` is ``S + round(U @ V)`` in ``dtype``, as the decoder computes
    it; a product is ``S @ x + U @ (V @ x)``."""

    layout = "sparse+lowrank"

    def __init__(self, S, lowrank, tensor_shape=None):
        super().__init__(lowrank.shape, tensor_shape)
        s_dtype = S.dtype if isinstance(S, SparseMatrix) else np.asarray(S).dtype
        s_shape = S.shape if isinstance(S, SparseMatrix) else matrix_view(S).shape
        if s_shape != self.shape or s_dtype != lowrank.dtype:
            raise ValueError(f"sparse part {s_dtype}{s_shape} does not match the factors' "
                             f"{lowrank.dtype}{self.shape}")
        self.S = S if isinstance(S, SparseMatrix) else np.asarray(S)
        self.lowrank = lowrank

    @property
    def dtype(self):
        return self.lowrank.dtype

    @property
    def U(self):
        return self.lowrank.U

    @property
    def V(self):
        return self.lowrank.V

    @functools.cached_property
    def sparse(self):
        """The sparse part as an object with a product (a dense part becomes a :class:`DenseMatrix`)."""
        return self.S if isinstance(self.S, SparseMatrix) else DenseMatrix(self.S)

    def _arrays(self):
        return tuple(self.sparse._arrays()) + tuple(self.lowrank._arrays())

    @property
    def nbytes(self):
        return self.sparse.nbytes + self.lowrank.nbytes

    @property
    def entries(self):
        return self.sparse.entries + self.lowrank.entries

    def _product(self, spmm, x, out, threads):
        self.sparse._product(spmm, x, out, threads)
        U, V = self.lowrank._compute
        out += U @ (V @ x)

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
