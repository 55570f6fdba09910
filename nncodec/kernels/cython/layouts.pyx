# cython: language_level=3
"""Cython twin of nncodec.reference.layouts: one pass per stream, checking each value as it is read.

Bounds: every index written is below a count the caller allocated from (checked against the stream lengths
first), so boundscheck is off safely. Extents, positions and columns are int64 throughout: the directory parser
bounds every extent and every non-empty m * n by max_elements <= 2^56, so sums stay far from overflow. Nothing is
allocated or looped over in proportion to m or n beyond the streams that hold m entries (Row_Counts, Row_Groups).
"""

from libc.stdint cimport int64_t

import numpy as np

from ...errors import InconsistentError

__all__ = ["relidx_positions", "csr_columns", "group_columns"]

# The duplicate-column check of cer/cser keeps one stamp per column when n <= STAMP_FACTOR * entries, and sorts
# the entries' (row, column) keys otherwise, so that its memory follows the stored entries, never n alone.
STAMP_FACTOR = 4


def relidx_positions(const int64_t[::1] gaps, int gap_bits, int64_t m, int64_t n):
    """Flat positions of the entries: entry t sits gaps[t] + 1 elements after entry t - 1, the first at gaps[0]
    (§4.6); every gap in 0..2^gap_bits - 1 and every position below m * n."""
    cdef Py_ssize_t t, count = gaps.shape[0]
    cdef int64_t total = m * n, max_gap = (<int64_t>1 << gap_bits) - 1, pos = -1, g
    cdef int fault = 0
    positions = np.empty(count, dtype=np.int64)
    cdef int64_t[::1] out = positions
    with nogil:
        for t in range(count):
            g = gaps[t]
            if g < 0 or g > max_gap:
                fault = 1
                break
            pos += g + 1
            if pos >= total:
                fault = 2
                break
            out[t] = pos
    if fault == 1:
        raise InconsistentError(f"[R4.6-c] relidx gap outside 0..{max_gap}")
    if fault == 2:
        raise InconsistentError(f"[R4.6-c] relidx entries run past element {total - 1}")
    return positions


cdef int _pointers(const int64_t[::1] counts, int64_t total, int64_t[::1] ptr) noexcept nogil:
    # 0 if the non-negative counts add up to total (each partial sum checked, so no wrap), else 1
    cdef Py_ssize_t i
    cdef int64_t acc = 0, c
    ptr[0] = 0
    for i in range(counts.shape[0]):
        c = counts[i]
        if c < 0 or c > total - acc:
            return 1
        acc += c
        ptr[i + 1] = acc
    return 0 if acc == total else 1


cdef int _columns(const int64_t[::1] ptr, const int64_t[::1] gaps, int64_t n, int64_t[::1] cols) noexcept nogil:
    # absolute columns of each run ptr[k]..ptr[k+1]: c = gap, then c + gap + 1; 1 if a column reaches n
    cdef Py_ssize_t k, j
    cdef int64_t c, g
    for k in range(ptr.shape[0] - 1):
        c = -1
        for j in range(ptr[k], ptr[k + 1]):
            g = gaps[j]
            if g < 0 or g >= n - c - 1:
                return 1
            c += g + 1
            cols[j] = c
    return 0


def csr_columns(const int64_t[::1] row_counts, const int64_t[::1] col_gaps, int64_t m, int64_t n):
    """(row_ptr, col_idx) of a CSR matrix from its row counts and per-row column gaps (§4.7)."""
    row_ptr_arr = np.empty(row_counts.shape[0] + 1, dtype=np.int64)
    cols_arr = np.empty(col_gaps.shape[0], dtype=np.int64)
    cdef int64_t[::1] row_ptr = row_ptr_arr
    cdef int64_t[::1] cols = cols_arr
    if _pointers(row_counts, col_gaps.shape[0], row_ptr):
        raise InconsistentError(f"[R4.7-c] row counts do not add up to {col_gaps.shape[0]}")
    if _columns(row_ptr, col_gaps, n, cols):
        raise InconsistentError(f"[R4.7-c] a column index reaches {n}, the matrix has {n} columns")
    return row_ptr_arr, cols_arr


def group_columns(const int64_t[::1] row_groups, group_values, const int64_t[::1] group_sizes,
                  const int64_t[::1] col_gaps, int64_t m, int64_t n, int64_t omega_count):
    """(row_ptr, omega_ptr, col_idx) of a CER (``group_values`` is None) or CSER matrix (§4.8, §4.9)."""
    cdef Py_ssize_t i, g, j
    cdef int64_t v, max_groups = max(omega_count - 1, 0)
    row_ptr_arr = np.empty(row_groups.shape[0] + 1, dtype=np.int64)
    omega_ptr_arr = np.empty(group_sizes.shape[0] + 1, dtype=np.int64)
    cols_arr = np.empty(col_gaps.shape[0], dtype=np.int64)
    cdef int64_t[::1] row_ptr = row_ptr_arr, omega_ptr = omega_ptr_arr
    cdef int64_t[::1] cols = cols_arr
    cdef const int64_t[::1] values
    if _pointers(row_groups, group_sizes.shape[0], row_ptr):
        raise InconsistentError(f"[R4.8-b] row group counts do not add up to {group_sizes.shape[0]}")
    if group_values is None:
        for i in range(row_groups.shape[0]):
            if row_groups[i] > max_groups:
                raise InconsistentError(f"[R4.8-b] a CER row has {row_groups[i]} groups, "
                                        f"Omega holds {omega_count - 1} explicit values")
    else:
        values = group_values
        for g in range(values.shape[0]):
            v = values[g]
            if v < 1 or v > omega_count - 1:
                raise InconsistentError(f"[R4.9-a] a CSER value index outside 1..{omega_count - 1}")
            if group_sizes[g] < 1:
                raise InconsistentError("[R4.9-a] an empty CSER group")
    if _pointers(group_sizes, col_gaps.shape[0], omega_ptr):
        raise InconsistentError(f"[R4.8-b] group size counts do not add up to {col_gaps.shape[0]}")
    if _columns(omega_ptr, col_gaps, n, cols):
        raise InconsistentError(f"[R4.8-b] a column index reaches {n}, the matrix has {n} columns")
    if _duplicate_in_row(row_ptr, omega_ptr, cols, n):
        raise InconsistentError("[R4.8-b] a column appears in two groups of one row")
    unused = _first_unused(row_ptr, group_values, group_sizes, omega_count, col_gaps.shape[0] < m * n)
    if unused >= 0:
        raise InconsistentError(f"[R4.8-b] Omega value {unused} is used by no element")
    return row_ptr_arr, omega_ptr_arr, cols_arr


cdef int64_t _first_unused(const int64_t[::1] row_ptr, group_values, const int64_t[::1] group_sizes,
                           int64_t omega_count, bint implicit_used):
    # -1 if every Omega value is used (Omega[0] by an unlisted element, the others by a non-empty group), else the
    # first unused index; a CER group's value is 1 + its position in its row
    used_arr = np.zeros(omega_count, dtype=np.uint8)
    cdef unsigned char[::1] used = used_arr
    cdef const int64_t[::1] values
    cdef Py_ssize_t i, g
    cdef int64_t v
    if group_values is None:
        for i in range(row_ptr.shape[0] - 1):
            for g in range(row_ptr[i], row_ptr[i + 1]):
                if group_sizes[g] > 0:
                    used[g - row_ptr[i] + 1] = 1
    else:
        values = group_values
        for g in range(values.shape[0]):
            if group_sizes[g] > 0:
                used[values[g]] = 1
    if omega_count:
        used[0] = implicit_used
    for v in range(omega_count):
        if not used[v]:
            return v
    return -1


cdef bint _duplicate_in_row(const int64_t[::1] row_ptr, const int64_t[::1] omega_ptr, const int64_t[::1] cols,
                            int64_t n):
    # whether a column appears twice among one row's groups: a stamp per column (1 + the last row that used it)
    # when n is small against the entries, else the sorted keys row * n + column (< m * n <= 2^56) side by side
    cdef Py_ssize_t i, j, entries = cols.shape[0]
    cdef int64_t[::1] stamp, keys
    if n <= STAMP_FACTOR * entries:
        stamp = np.zeros(n, dtype=np.int64)
        with nogil:
            for i in range(row_ptr.shape[0] - 1):
                for j in range(omega_ptr[row_ptr[i]], omega_ptr[row_ptr[i + 1]]):
                    if stamp[cols[j]] == i + 1:
                        return True
                    stamp[cols[j]] = i + 1
        return False
    keys_arr = np.empty(entries, dtype=np.int64)
    keys = keys_arr
    with nogil:
        for i in range(row_ptr.shape[0] - 1):
            for j in range(omega_ptr[row_ptr[i]], omega_ptr[row_ptr[i + 1]]):
                keys[j] = i * n + cols[j]
    keys_arr.sort()
    keys = keys_arr
    with nogil:
        for j in range(1, entries):
            if keys[j] == keys[j - 1]:
                return True
    return False
