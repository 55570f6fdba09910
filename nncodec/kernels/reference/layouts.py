"""Sparse layout kernels (spec 4.6 to 4.9): decoded index streams to the structures of ``nncodec.sparse``.

Every function takes the decoded index streams as int64 arrays (the stage modules have already checked the
stream counts against the node: rules R4.6-b, R4.7-b, R4.8-a), checks every value, and raises
``InconsistentError`` naming the broken rule. Nothing is allocated beyond the declared, already bounded counts:
never in proportion to m or n alone (only to streams of m entries, Row_Counts and Row_Groups). Positions and
columns are int64: every extent and every non-empty m * n is at most max_elements <= 2^56.
"""

import numpy as np

from ...errors import InconsistentError

__all__ = ["relidx_positions", "csr_columns", "group_columns"]


def relidx_positions(gaps, gap_bits, m, n):
    """Flat positions of the entries: entry t sits gaps[t] + 1 elements after entry t - 1, the first at gaps[0]
    (§4.6); every gap in 0..2^gap_bits - 1 and every position below m * n."""
    if gaps.size and (int(gaps.min()) < 0 or int(gaps.max()) > (1 << gap_bits) - 1):
        raise InconsistentError(f"[R4.6-c] relidx gap outside 0..{(1 << gap_bits) - 1}")
    positions = np.cumsum(gaps + 1) - 1  # §4.6 p[t] = p[t-1] + Gaps[t] + 1 with p[-1] = -1
    # every step is >= 1 and <= 2^16, so the last position is the largest unless the sum wrapped (impossible
    # below 2^47 entries; checked anyway)
    if positions.size and (int(positions[-1]) >= m * n or int(positions.min()) < 0):
        raise InconsistentError(f"[R4.6-c] relidx entries run past element {m * n - 1}")
    return positions


def _pointers(counts, total, rule, what):
    """Pointers 0, c0, c0+c1, ... of non-negative ``counts`` that must add up to ``total``."""
    if counts.size and (int(counts.min()) < 0 or int(counts.max()) > total):
        raise InconsistentError(f"[{rule}] a {what} count outside 0..{total}")
    ptr = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])  # each count <= total <= 2^56: a wrap would make ptr decrease
    if int(ptr[-1]) != total or (counts.size and int(ptr.min()) < 0):
        raise InconsistentError(f"[{rule}] {what} counts do not add up to {total}")
    return ptr


def _columns(ptr, col_gaps, n, rule):
    """Absolute columns of the runs ptr[k]..ptr[k+1] of column gaps: c = gap, then c + gap + 1 (§4.7)."""
    if col_gaps.size and (int(col_gaps.min()) < 0 or int(col_gaps.max()) >= n):
        raise InconsistentError(f"[{rule}] a column gap outside 0..{n - 1}")
    if not col_gaps.size:  # no runs to place: no per-run work (an empty tensor may declare many rows)
        return np.zeros(0, dtype=np.int64)
    steps = col_gaps + 1
    # the running sum may wrap on hostile runs, but each column is exact modulo 2^64 and the first one at or past
    # n is below 2n <= 2^57 (steps are at most n), so it shows
    running = np.cumsum(steps)
    lengths = np.diff(ptr)
    nonempty = lengths > 0
    starts = ptr[:-1][nonempty]
    base = np.repeat(running[starts] - steps[starts], lengths[nonempty])
    cols = running - base - 1
    if cols.size and int(cols.max()) >= n:
        raise InconsistentError(f"[{rule}] a column index reaches {n}, the matrix has {n} columns")
    return cols


def csr_columns(row_counts, col_gaps, m, n):
    """(row_ptr, col_idx) of a CSR matrix from its row counts and per-row column gaps (§4.7)."""
    row_ptr = _pointers(row_counts, col_gaps.size, "R4.7-c", "row")
    return row_ptr, _columns(row_ptr, col_gaps, n, "R4.7-c")


def group_columns(row_groups, group_values, group_sizes, col_gaps, m, n, omega_count):
    """(row_ptr, omega_ptr, col_idx) of a CER (``group_values`` is None) or CSER matrix (§4.8, §4.9).

    Checks the group counts per row (CER: at most Omega_Count - 1), the CSER value indices (1..Omega_Count-1)
    and non-empty groups, the group sizes against the column stream, the columns against n, and that no column
    appears twice in one row.
    """
    row_ptr = _pointers(row_groups, group_sizes.size, "R4.8-b", "row group")
    if group_values is None:
        if row_groups.size and int(row_groups.max()) > max(omega_count - 1, 0):
            raise InconsistentError(f"[R4.8-b] a CER row has {int(row_groups.max())} groups, "
                                    f"Omega holds {omega_count - 1} explicit values")
    else:
        if group_values.size and (int(group_values.min()) < 1 or int(group_values.max()) > omega_count - 1):
            raise InconsistentError(f"[R4.9-a] a CSER value index outside 1..{omega_count - 1}")
        if group_sizes.size and int(group_sizes.min()) < 1:
            raise InconsistentError("[R4.9-a] an empty CSER group")
    omega_ptr = _pointers(group_sizes, col_gaps.size, "R4.8-b", "group size")
    cols = _columns(omega_ptr, col_gaps, n, "R4.8-b")
    group_rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(row_ptr))
    flat = np.repeat(group_rows, np.diff(omega_ptr)) * n + cols
    if np.unique(flat).size != flat.size:
        raise InconsistentError("[R4.8-b] a column appears in two groups of one row")
    if group_values is None:  # CER: the j-th group of a row (j from 0) holds value 1 + j
        group_values = np.arange(group_sizes.size, dtype=np.int64) - np.repeat(row_ptr[:-1], np.diff(row_ptr)) + 1
    used = np.zeros(omega_count, dtype=bool)
    used[group_values[group_sizes > 0]] = True
    if omega_count:
        used[0] = col_gaps.size < m * n  # §4.8 Omega[0] is the value of the elements no group lists
    if not used.all():
        raise InconsistentError(f"[R4.8-b] Omega value {int(np.argmin(used))} is used by no element")
    return row_ptr, omega_ptr, cols
