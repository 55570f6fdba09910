"""Layouts from dense arrays and from each other: the builders the encoder's layout stages use, and ``prepare``,
which gives a weight in the layout a runtime asks for.

The builders take a tensor of ndim >= 1 (through its matrix view) and keep its element type; they compare elements
by value, so the stages pass unsigned views of the bit patterns (``stages.sparse_layout.zero_view``) when -0.0 and
NaN payloads must stay what they are.
"""

import numpy as np

from .matrices import (CERMatrix, CSERMatrix, CSR8Matrix, CSRMatrix, DenseMatrix, RelIdxMatrix, SparseMatrix,
                       matrix_view)

__all__ = ["LAYOUTS", "FACTORED_LAYOUTS", "RELIDX_GAP_BITS", "layout_of", "prepare", "matmul", "value_table",
           "csr_from_dense", "cer_from_dense", "cser_from_dense", "relidx_from_dense", "grouped_from_entries",
           "cser_from_entries"]

LAYOUTS = ("dense", "csr", "csr8", "cer", "cser", "relidx")
# Layouts of factored weights: a weight arrives in them from the decoder; no other layout converts to them.
FACTORED_LAYOUTS = ("lowrank", "sparse+lowrank")
# Gap width used when a matrix is converted to the relative-index layout (Deep Compression used 8 bits for convs).
RELIDX_GAP_BITS = 8


def csr_from_dense(array):
    """CSRMatrix of ``array`` (any ndim >= 1, via its matrix view); zeros are implicit."""
    mat = matrix_view(array)
    rows, cols = np.nonzero(mat)
    row_ptr = np.zeros(mat.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=mat.shape[0]), out=row_ptr[1:])
    return CSRMatrix(mat.shape, row_ptr, cols, mat[rows, cols], tensor_shape=np.shape(array), checked=True)


def value_table(array):
    """(omega, index of every element in omega): distinct values ordered by decreasing frequency, ties by value."""
    flat = matrix_view(array).ravel()
    uniq, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    order = np.lexsort((np.arange(len(uniq)), -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order], rank[inverse.ravel()]


def _grouped(array):
    """(shape, omega, rows, value indices >= 1, columns) of the elements other than omega[0], in row-major
    order."""
    mat = matrix_view(array)
    omega, idx = value_table(array)
    idx = idx.reshape(mat.shape)
    rows, cols = np.nonzero(idx)
    return mat.shape, omega, rows, idx[rows, cols], cols


def _entry_table(implicit, values):
    """(omega, index of every value in omega) for listed ``values`` of a matrix whose other elements are
    ``implicit``: omega[0] is ``implicit``, then the distinct listed values other than it by decreasing frequency
    (ties by value). A listed value equal to ``implicit`` gets index 0."""
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    listed = uniq != implicit
    order = np.lexsort((np.arange(len(uniq)), -counts))
    order = order[listed[order]]
    rank = np.zeros(len(uniq), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return np.concatenate([np.asarray([implicit], dtype=values.dtype), uniq[order]]), rank[inverse.ravel()]


def _sorted_groups(shape, rows, vals, cols):
    """Entries with value index >= 1, given in row-major order, sorted by (row, value, column): one stable sort
    on row * (largest value + 1) + value keeps each value's columns in order (three keys when that could wrap)."""
    keep = vals > 0
    rows, vals, cols = rows[keep], vals[keep], cols[keep]
    top = int(vals.max()) + 1 if len(vals) else 1
    if shape[0] * top < 2 ** 62:
        order = np.argsort(rows * top + vals, kind="stable")
    else:
        order = np.lexsort((cols, vals, rows))
    return rows[order], vals[order], cols[order]


def _groups_per_row(m, rows, vals):
    """CER's group count of each row: its largest value index (groups 1.. up to it, empty ones included)."""
    groups = np.zeros(m, dtype=np.int64)
    np.maximum.at(groups, rows, vals)
    return groups


def _cer(shape, omega, rows, vals, cols, tensor_shape, groups_per_row=None):
    m, n = shape
    if groups_per_row is None:
        groups_per_row = _groups_per_row(m, rows, vals)
    rows, vals, cols = _sorted_groups(shape, rows, vals, cols)
    row_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(groups_per_row, out=row_ptr[1:])
    group_of_entry = row_ptr[rows] + vals - 1
    omega_ptr = np.zeros(row_ptr[-1] + 1, dtype=np.int64)
    np.cumsum(np.bincount(group_of_entry, minlength=row_ptr[-1]), out=omega_ptr[1:])
    return CERMatrix((m, n), omega, row_ptr, omega_ptr, cols, tensor_shape=tensor_shape, checked=True)


def _cser(shape, omega, rows, vals, cols, tensor_shape):
    m, n = shape
    rows, vals, cols = _sorted_groups(shape, rows, vals, cols)
    new_group = np.ones(len(rows), dtype=bool)
    new_group[1:] = (rows[1:] != rows[:-1]) | (vals[1:] != vals[:-1])
    starts = np.flatnonzero(new_group)
    row_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[starts], minlength=m), out=row_ptr[1:])
    omega_ptr = np.append(starts, len(rows)).astype(np.int64)
    return CSERMatrix((m, n), omega, row_ptr, vals[starts], omega_ptr, cols, tensor_shape=tensor_shape,
                      checked=True)


def cer_from_dense(array):
    """CERMatrix of ``array``: every row keeps (possibly empty) groups for values 1 .. its largest value index."""
    shape, omega, rows, vals, cols = _grouped(array)
    return _cer(shape, omega, rows, vals, cols, np.shape(array))


def cser_from_dense(array):
    """CSERMatrix of ``array``: every row keeps one group per distinct non-implicit value it contains."""
    shape, omega, rows, vals, cols = _grouped(array)
    return _cser(shape, omega, rows, vals, cols, np.shape(array))


def grouped_from_entries(shape, implicit, rows, cols, values, tensor_shape=None):
    """CERMatrix of the (m, n) matrix whose element (rows[k], cols[k]) is values[k] (each position listed once,
    in row-major order) and every other element ``implicit``, O(entries log entries) and nothing in proportion to
    m x n; or a CSERMatrix when CER's groups would outnumber the entries and rows: CER keeps every group up to a
    row's largest value index, so rows with values of their own (per-channel steps, dq states) would hold m x K
    mostly empty groups, while CSER lists only the groups present (memory O(entries + m))."""
    omega, vals = _entry_table(implicit, values)
    groups_per_row = _groups_per_row(shape[0], rows, vals)
    if int(groups_per_row.sum()) > len(vals) + shape[0]:
        return _cser(shape, omega, rows, vals, cols, tensor_shape)
    return _cer(shape, omega, rows, vals, cols, tensor_shape, groups_per_row)


def cser_from_entries(shape, implicit, rows, cols, values, tensor_shape=None):
    """As :func:`grouped_from_entries`, always a CSERMatrix."""
    omega, vals = _entry_table(implicit, values)
    return _cser(shape, omega, rows, vals, cols, tensor_shape)


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
    return RelIdxMatrix(mat.shape, gap_bits, gaps, values, tensor_shape=np.shape(array), checked=True)


_BUILDERS = {"dense": DenseMatrix, "csr": csr_from_dense, "csr8": lambda a: CSR8Matrix.from_csr(csr_from_dense(a)),
             "cer": cer_from_dense, "cser": cser_from_dense,
             "relidx": lambda a: relidx_from_dense(a, RELIDX_GAP_BITS)}


def layout_of(weight):
    """The layout name of a structure, or "dense" for an array."""
    return weight.layout if isinstance(weight, SparseMatrix) else "dense"


def prepare(weight, layout=None):
    """``weight`` (an ndarray of ndim >= 1 viewed as a matrix, or a structure of any layout) in ``layout`` (one of
    :data:`LAYOUTS`; None keeps the weight's own layout, an array becoming a :class:`DenseMatrix`). A structure
    already in the layout is returned as it is; converting it to another layout densifies it once, here (a CSR
    structure becomes csr8 directly). A factored weight (:data:`FACTORED_LAYOUTS`) can only keep its own layout or
    be densified."""
    own = layout_of(weight)
    if layout is not None and layout not in LAYOUTS and layout != own:
        raise ValueError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    if layout in (None, own):
        return weight if isinstance(weight, SparseMatrix) else DenseMatrix(weight)
    if layout == "csr8" and isinstance(weight, CSRMatrix):
        return CSR8Matrix.from_csr(weight)
    dense = weight.todense_matrix() if isinstance(weight, SparseMatrix) else matrix_view(weight)
    return _BUILDERS[layout](dense)


def matmul(weight, x, *, backend=None, threads=None):
    """``weight @ x`` as float32 for x of shape (n,) or (n, batch), computed on ``weight``'s own layout."""
    return prepare(weight).matmul(x, backend=backend, threads=threads)
