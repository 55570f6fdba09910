"""Reference sparse x dense products on the decoded structures of :mod:`nncodec.sparse` (NumPy, vectorised).

Every kernel computes ``out = A @ x`` for ``x`` float32 of shape (n, b) and ``out`` float32 of shape (m, b), both
C-contiguous, without building the dense ``A``: it gathers the rows of ``x`` named by the column indices, sums
them per segment (``np.add.reduceat``) and scales. The arrays must already satisfy the structure's invariants
(``nncodec.runtime`` validates them once, when it prepares a layer); values and codebooks are float32.
``threads`` is accepted for the Cython twin's signature; the reference always runs on one thread.
"""

import numpy as np

__all__ = ["PARALLEL", "csr_matmul", "csr8_matmul", "cer_matmul", "cser_matmul", "relidx_matmul"]

PARALLEL = False

# Gathered temporaries (entries x batch columns) are kept below this many float32 elements by splitting the batch.
MAX_TEMPORARY = 1 << 22


def _segment_sums(rows, ptr, count):
    """Sums of ``rows[ptr[i]:ptr[i+1]]`` along axis 0 for i < count (zero for an empty segment)."""
    out = np.zeros((count,) + rows.shape[1:], dtype=np.float32)
    starts = ptr[:-1]
    nonempty = ptr[1:] > starts
    if rows.shape[0]:
        # Segments are contiguous and cover ``rows``, so each non-empty one ends where the next non-empty starts.
        out[nonempty] = np.add.reduceat(rows, starts[nonempty], axis=0)
    return out


def _batches(x, out, entries):
    """(x block, out block) pairs over column blocks of the batch, so that a gather stays under MAX_TEMPORARY."""
    b = x.shape[1]
    step = max(1, MAX_TEMPORARY // max(1, entries))
    for start in range(0, b, step):
        yield x[:, start:start + step], out[:, start:start + step]


def _group_rows(row_ptr):
    """Owning row of every group (or entry) listed by ``row_ptr``."""
    return np.repeat(np.arange(len(row_ptr) - 1, dtype=np.int64), np.diff(row_ptr))


def csr_matmul(row_ptr, col_idx, values, x, out, threads):
    """CSR: ``out[i] = sum_k values[k] * x[col_idx[k]]`` over row i's entries."""
    m = len(row_ptr) - 1
    for xs, ys in _batches(x, out, len(col_idx)):
        ys[...] = _segment_sums(values[:, None] * xs[col_idx], row_ptr, m)


def csr8_matmul(row_ptr, col_idx, codes, table, x, out, threads):
    """CSR whose k-th value is ``table[codes[k]]`` (8-bit codes into a float32 table)."""
    csr_matmul(row_ptr, col_idx, table[codes], x, out, threads)


def _grouped_matmul(row_ptr, group_value, omega_ptr, col_idx, omega, x, out):
    """CER/CSER: sum the gathered x rows of each group, scale by the group's value, then sum each row's groups."""
    m = len(row_ptr) - 1
    groups = len(omega_ptr) - 1
    scale = omega[group_value][:, None]
    for xs, ys in _batches(x, out, len(col_idx)):
        ys[...] = _segment_sums(scale * _segment_sums(xs[col_idx], omega_ptr, groups), row_ptr, m)


def cer_matmul(row_ptr, omega_ptr, col_idx, omega, x, out, threads):
    """CER: the j-th group of a row (j from 0) holds the columns of value ``omega[j + 1]``."""
    position_in_row = np.arange(len(omega_ptr) - 1, dtype=np.int64) - np.repeat(row_ptr[:-1], np.diff(row_ptr))
    _grouped_matmul(row_ptr, position_in_row + 1, omega_ptr, col_idx, omega, x, out)


def cser_matmul(row_ptr, omega_idx, omega_ptr, col_idx, omega, x, out, threads):
    """CSER: group g holds the columns of value ``omega[omega_idx[g]]``."""
    _grouped_matmul(row_ptr, omega_idx, omega_ptr, col_idx, omega, x, out)


def relidx_matmul(row_ptr, first_col, gaps, values, x, out, threads):
    """Relative indices: row i's entries are ``row_ptr[i] .. row_ptr[i+1]-1``; the first sits at column
    ``first_col[i]``, each next one ``gaps[k] + 1`` columns after the previous (filler entries have value 0)."""
    m = len(row_ptr) - 1
    steps = np.cumsum(gaps.astype(np.int64) + 1)
    rows = _group_rows(row_ptr)
    cols = first_col[rows] + steps - steps[row_ptr[rows]]
    for xs, ys in _batches(x, out, len(cols)):
        ys[...] = _segment_sums(values[:, None] * xs[cols], row_ptr, m)
