"""Weight matrices prepared for repeated products: one operator class per layout.

An operator is built once per layer: it validates the structure's invariants (so that the Cython kernels, which
run without bounds checks, only ever index inside the arrays), converts values and codebooks to float32 and
narrows index arrays where their extent allows (column indices and relidx gaps to uint16 below 2^16, int32 below
2^31, else int64; group pointers to int32 when the entry count allows).
``op.matmul(x)`` then computes ``A @ x`` for float32 ``x`` of shape (n,) or (n, batch), without densifying.
"""

import os

import numpy as np

from .. import kernels
from ..format.dtypes import is_number_dtype
from ..errors import InconsistentError
from .matrices import (CERMatrix, CSERMatrix, CSRMatrix, LowRankMatrix, RelIdxMatrix, SparseMatrix,
                      SparsePlusLowRank, cer_from_dense, cser_from_dense, csr_from_dense, matrix_view,
                      relidx_from_dense)

__all__ = ["LAYOUTS", "Operator", "DenseOperator", "CSROperator", "CSR8Operator", "CEROperator", "CSEROperator",
           "RelIdxOperator", "LowRankOperator", "SparsePlusLowRankOperator", "FACTORED_LAYOUTS", "prepare",
           "matmul", "layout_of", "available_threads", "PARALLEL_MIN_WORK", "RELIDX_GAP_BITS"]

LAYOUTS = ("dense", "csr", "csr8", "cer", "cser", "relidx")
# csr8 (a runtime-only layout, never stored) holds each value as an 8-bit code into a float32 table.
CSR8_MAX_VALUES = 256
# Layouts of factored weights: a weight arrives in them from the decoder; no other layout converts to them.
FACTORED_LAYOUTS = ("lowrank", "sparse+lowrank")
# Below this many multiply-adds (stored entries x batch) a product runs on one thread: starting the OpenMP team
# costs more than it saves.
PARALLEL_MIN_WORK = 1 << 20
# Gap width used when a matrix is converted to the relative-index layout (Deep Compression used 8 bits for convs).
RELIDX_GAP_BITS = 8


def available_threads():
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _indices(array, bound):
    """``array`` (values in 0..bound-1) in the narrowest of uint16, int32, int64 that holds ``bound - 1``."""
    dtype = np.uint16 if bound <= 1 << 16 else np.int32 if bound <= 1 << 31 else np.int64
    return np.ascontiguousarray(array, dtype=dtype)


def _pointers(ptr):
    """Group pointers narrowed to int32 when the largest fits."""
    return np.ascontiguousarray(ptr, dtype=np.int32 if (len(ptr) == 0 or ptr[-1] < 2 ** 31) else np.int64)


def _check_pointers(ptr, count, entries, what):
    """``ptr`` has count + 1 entries, starts at 0, never decreases and ends at ``entries``."""
    if ptr.ndim != 1 or len(ptr) != count + 1:
        raise InconsistentError(f"{what} has {len(ptr)} entries, expected {count + 1}")
    if ptr[0] != 0 or ptr[-1] != entries or np.any(np.diff(ptr) < 0):
        raise InconsistentError(f"{what} must rise from 0 to {entries} without decreasing")


def _check_columns(col_idx, n, what="column index"):
    if len(col_idx) and (col_idx.min() < 0 or col_idx.max() >= n):
        raise InconsistentError(f"a {what} is outside 0..{n - 1}")


def _float32(values):
    values = np.asarray(values)
    if not is_number_dtype(values.dtype):
        raise InconsistentError(f"cannot compute with {values.dtype} values")
    return np.ascontiguousarray(values, dtype=np.float32)


class Operator:
    """A prepared (m, n) weight matrix: ``layout``, ``shape``, ``nbytes`` (memory of its arrays) and ``matmul``.
    ``implicit`` is the value of the elements a layout does not store (zero except for CER/CSER tables whose most
    frequent value is not zero)."""

    layout = None
    implicit = np.float32(0)
    threads = None  # set by choose_layout to the measured best; None: PARALLEL_MIN_WORK decides

    def _arrays(self):
        raise NotImplementedError

    @property
    def nbytes(self):
        return sum(a.nbytes for a in self._arrays())

    @property
    def entries(self):
        """Stored entries (multiply-adds per output column)."""
        raise NotImplementedError

    def matmul(self, x, *, backend=None, threads=None):
        """``A @ x`` as float32, for x of shape (n,) or (n, batch). ``threads=None`` uses ``self.threads`` when a
        trial set it, else all available CPUs for products of at least PARALLEL_MIN_WORK multiply-adds, else 1."""
        m, n = self.shape
        x = np.asarray(x)
        if x.ndim not in (1, 2) or x.shape[0] != n:
            raise ValueError(f"expected x of shape ({n},) or ({n}, batch), got {x.shape}")
        x2 = np.ascontiguousarray(x.reshape(n, 1) if x.ndim == 1 else x, dtype=np.float32)
        out = np.empty((m, x2.shape[1]), dtype=np.float32)
        if threads is None:
            threads = self.threads
        if threads is None:
            threads = available_threads() if self.entries * x2.shape[1] >= PARALLEL_MIN_WORK else 1
        self._product(kernels.module("spmm", backend), x2, out, max(1, int(threads)))
        return out.reshape(m) if x.ndim == 1 else out

    def _product(self, kernels, x, out, threads):
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.shape[0]}x{self.shape[1]} {self.nbytes} bytes>"


class DenseOperator(Operator):
    """A dense float32 matrix; products use NumPy (BLAS, with its own threads) on both backends."""

    layout = "dense"

    def __init__(self, matrix):
        self.matrix = _float32(matrix_view(matrix))
        self.shape = self.matrix.shape

    def _arrays(self):
        return (self.matrix,)

    @property
    def entries(self):
        return self.matrix.size

    def _product(self, kernels, x, out, threads):
        np.matmul(self.matrix, x, out=out)


class CSROperator(Operator):
    layout = "csr"

    def __init__(self, csr):
        m, n = self.shape = csr.shape
        _check_pointers(csr.row_ptr, m, len(csr.col_idx), "CSR row_ptr")
        if len(csr.values) != len(csr.col_idx):
            raise InconsistentError("CSR values and column indices differ in length")
        _check_columns(csr.col_idx, n)
        self.row_ptr = csr.row_ptr
        self.col_idx = _indices(csr.col_idx, n)
        self.values = _float32(csr.values)

    def _arrays(self):
        return self.row_ptr, self.col_idx, self.values

    @property
    def entries(self):
        return len(self.values)

    def _product(self, kernels, x, out, threads):
        kernels.csr_matmul(self.row_ptr, self.col_idx, self.values, x, out, threads)


class CSR8Operator(Operator):
    """CSR with each value replaced by its uint8 code into ``table`` (the distinct stored values, float32): with
    uint16 columns an entry costs 3 bytes instead of 6, which is what a memory-bound product pays for. Built from a
    CSR structure with at most CSR8_MAX_VALUES distinct values (ValueError otherwise)."""

    layout = "csr8"

    def __init__(self, csr):
        m, n = self.shape = csr.shape
        _check_pointers(csr.row_ptr, m, len(csr.col_idx), "CSR row_ptr")
        if len(csr.values) != len(csr.col_idx):
            raise InconsistentError("CSR values and column indices differ in length")
        _check_columns(csr.col_idx, n)
        table, codes = np.unique(_float32(csr.values), return_inverse=True)
        if len(table) > CSR8_MAX_VALUES:
            raise ValueError(f"csr8 holds at most {CSR8_MAX_VALUES} distinct values, the matrix has {len(table)}")
        self.row_ptr = csr.row_ptr
        self.col_idx = _indices(csr.col_idx, n)
        self.codes = np.ascontiguousarray(codes.reshape(-1), dtype=np.uint8)
        # never empty, so the kernel's table pointer is valid even for an all-zero matrix
        self.table = table if len(table) else np.zeros(1, np.float32)

    def _arrays(self):
        return self.row_ptr, self.col_idx, self.codes, self.table

    @property
    def entries(self):
        return len(self.codes)

    def _product(self, kernels, x, out, threads):
        kernels.csr8_matmul(self.row_ptr, self.col_idx, self.codes, self.table, x, out, threads)


class _GroupedOperator(Operator):
    """Shared checks of CER and CSER: row pointers over groups, group pointers over column indices."""

    def _check_groups(self, mat):
        m, n = self.shape = mat.shape
        groups = len(mat.omega_ptr) - 1
        _check_pointers(mat.row_ptr, m, groups, f"{self.layout.upper()} row_ptr")
        _check_pointers(mat.omega_ptr, groups, len(mat.col_idx), f"{self.layout.upper()} omega_ptr")
        _check_columns(mat.col_idx, n)
        # A row is implicit + sum over groups of (value - implicit) * (sum of x over the group's columns), so
        # the kernels see the shifted table and an implicit value other than zero costs one column sum of x.
        omega = _float32(mat.omega).astype(np.float64)
        self.implicit = np.float32(omega[0]) if len(omega) else np.float32(0)
        self.omega = (omega - self.implicit).astype(np.float32)
        self.row_ptr = mat.row_ptr
        self.omega_ptr = _pointers(mat.omega_ptr)
        self.col_idx = _indices(mat.col_idx, n)

    @property
    def entries(self):
        return len(self.col_idx)

    def _product(self, kernels, x, out, threads):
        self._grouped_product(kernels, x, out, threads)
        if self.implicit:
            out += self.implicit * x.sum(axis=0)


class CEROperator(_GroupedOperator):
    layout = "cer"

    def __init__(self, cer):
        self._check_groups(cer)
        if len(cer.row_ptr) > 1 and np.diff(cer.row_ptr).max() > max(len(cer.omega) - 1, 0):
            raise InconsistentError("a CER row has more groups than omega has non-implicit values")

    def _arrays(self):
        return self.omega, self.row_ptr, self.omega_ptr, self.col_idx

    def _grouped_product(self, kernels, x, out, threads):
        kernels.cer_matmul(self.row_ptr, self.omega_ptr, self.col_idx, self.omega, x, out, threads)


class CSEROperator(_GroupedOperator):
    layout = "cser"

    def __init__(self, cser):
        self._check_groups(cser)
        if len(cser.omega_idx) != len(cser.omega_ptr) - 1:
            raise InconsistentError("CSER omega_idx must have one entry per group")
        if len(cser.omega_idx) and (cser.omega_idx.min() < 1 or cser.omega_idx.max() >= len(cser.omega)):
            raise InconsistentError(f"a CSER omega index is outside 1..{len(cser.omega) - 1}")
        self.omega_idx = np.ascontiguousarray(cser.omega_idx, dtype=np.int64)

    def _arrays(self):
        return self.omega, self.row_ptr, self.omega_idx, self.omega_ptr, self.col_idx

    def _grouped_product(self, kernels, x, out, threads):
        kernels.cser_matmul(self.row_ptr, self.omega_idx, self.omega_ptr, self.col_idx, self.omega, x, out,
                            threads)


class RelIdxOperator(Operator):
    """Relative indices, with the column of each row's first entry (``first_col``) decoded once here."""

    layout = "relidx"

    def __init__(self, rel):
        m, n = self.shape = rel.shape
        count = len(rel.gaps)
        _check_pointers(rel.row_ptr, m, count, "relative-index row_ptr")
        if len(rel.values) != count:
            raise InconsistentError("relative-index values and gaps differ in length")
        if count and rel.gaps.min() < 0:
            raise InconsistentError("a relative-index gap is negative")
        positions = rel.positions()
        rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(rel.row_ptr))
        if count and np.any((positions < rows * n) | (positions >= (rows + 1) * n)):
            raise InconsistentError("relative-index row_ptr does not match the entries' positions")
        self.row_ptr = rel.row_ptr
        self.first_col = np.zeros(m, dtype=np.int64)
        starts = rel.row_ptr[:-1]
        nonempty = rel.row_ptr[1:] > starts
        self.first_col[nonempty] = positions[starts[nonempty]] - np.flatnonzero(nonempty) * n
        self.gaps = _indices(rel.gaps, int(rel.gaps.max()) + 1 if count else 0)
        self.values = _float32(rel.values)

    def _arrays(self):
        return self.row_ptr, self.first_col, self.gaps, self.values

    @property
    def entries(self):
        return len(self.values)

    def _product(self, kernels, x, out, threads):
        kernels.relidx_matmul(self.row_ptr, self.first_col, self.gaps, self.values, x, out, threads)


class LowRankOperator(Operator):
    """``U @ V`` as float32 factors; a product is ``U @ (V @ x)`` (NumPy/BLAS on both backends), k (m + n)
    multiply-adds per column instead of m n."""

    layout = "lowrank"

    def __init__(self, lowrank):
        self.U = _float32(lowrank.U)
        self.V = _float32(lowrank.V)
        if self.U.ndim != 2 or self.V.ndim != 2 or self.U.shape[1] != self.V.shape[0]:
            raise InconsistentError(f"low-rank factors {self.U.shape} @ {self.V.shape} do not make a matrix")
        self.shape = (self.U.shape[0], self.V.shape[1])

    def _arrays(self):
        return self.U, self.V

    @property
    def entries(self):
        return self.U.size + self.V.size

    def _product(self, kernels, x, out, threads):
        np.matmul(self.U, self.V @ x, out=out)


class SparsePlusLowRankOperator(Operator):
    """``S + U @ V``: ``sparse`` is the operator of S (any layout, through its kernels), ``lowrank`` a
    :class:`LowRankOperator`; a product is ``S @ x + U @ (V @ x)``."""

    layout = "sparse+lowrank"

    def __init__(self, sparse, lowrank):
        if sparse.shape != lowrank.shape:
            raise InconsistentError(f"sparse part {sparse.shape} and factors {lowrank.shape} differ in shape")
        self.sparse, self.lowrank = sparse, lowrank
        self.shape = lowrank.shape

    def _arrays(self):
        return tuple(self.sparse._arrays()) + tuple(self.lowrank._arrays())

    @property
    def entries(self):
        return self.sparse.entries + self.lowrank.entries

    def _product(self, kernels, x, out, threads):
        self.sparse._product(kernels, x, out, threads)
        out += self.lowrank.U @ (self.lowrank.V @ x)


_OPERATORS = {CSRMatrix: CSROperator, CERMatrix: CEROperator, CSERMatrix: CSEROperator,
              RelIdxMatrix: RelIdxOperator, LowRankMatrix: LowRankOperator,
              SparsePlusLowRank: SparsePlusLowRankOperator}
_BY_LAYOUT = {op.layout: op for op in list(_OPERATORS.values()) + [CSR8Operator]}
_BUILDERS = {"csr": csr_from_dense, "csr8": csr_from_dense, "cer": cer_from_dense, "cser": cser_from_dense,
             "relidx": lambda a: relidx_from_dense(a, RELIDX_GAP_BITS)}


def layout_of(weight):
    """The layout name of an operator, a sparse structure or a dense array ("dense")."""
    if isinstance(weight, Operator):
        return weight.layout
    if isinstance(weight, SparseMatrix):
        return _OPERATORS[type(weight)].layout
    return "dense"


def prepare(weight, layout=None):
    """An :class:`Operator` for ``weight`` (an ndarray of ndim >= 1 viewed as a matrix, a sparse structure or an
    operator) in ``layout`` (one of :data:`LAYOUTS`; None keeps the weight's own layout). Converting a structure to
    another layout densifies it once, here. A factored weight (:data:`FACTORED_LAYOUTS`) can only keep its own
    layout or be densified; the sparse part of a ``SparsePlusLowRank`` keeps its stored layout."""
    own = layout_of(weight)
    if layout is not None and layout not in LAYOUTS and layout != own:
        raise ValueError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    if isinstance(weight, Operator):
        if layout in (None, own):
            return weight
        raise ValueError(f"an operator in layout {own!r} cannot be converted; prepare it from its weight")
    if layout == "csr8" and isinstance(weight, CSRMatrix):
        return CSR8Operator(weight)
    if layout in (None, own):
        if isinstance(weight, SparsePlusLowRank):
            return SparsePlusLowRankOperator(prepare(weight.S), LowRankOperator(weight.lowrank))
        if isinstance(weight, SparseMatrix):
            return _OPERATORS[type(weight)](weight)
        return DenseOperator(weight)
    dense = weight.todense_matrix() if isinstance(weight, SparseMatrix) else matrix_view(weight)
    if layout == "dense":
        return DenseOperator(dense)
    return _BY_LAYOUT[layout](_BUILDERS[layout](dense))


def matmul(weight, x, *, backend=None, threads=None):
    """``weight @ x`` as float32 for x of shape (n,) or (n, batch), computed on ``weight``'s own layout (a
    sparse structure is prepared on every call: keep :func:`prepare`'s operator for repeated products)."""
    return prepare(weight).matmul(x, backend=backend, threads=threads)
