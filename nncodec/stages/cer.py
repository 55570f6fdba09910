"""cer and cser layouts (spec 4.8, 4.9; Wiedemann et al., IEEE TNNLS 2019): a frequency-ordered value table
Omega whose first value is implicit, and per row the column indices grouped by value."""

import numpy as np

from ..sparse.convert import cer_from_dense, cser_from_dense, cser_from_entries, grouped_from_entries
from ..sparse.matrices import CERMatrix, CSERMatrix
from .csr import column_gaps
from .sparse_layout import SparseLayout, as_int64, index_array, matrix_shape, zero_view


class CERLayout(SparseLayout):
    stage_id = 4
    name = "cer"
    stream_names = ("Omega", "Row_Groups", "Group_Sizes", "Col_Gaps")
    values_stream = 0
    implicit_is_zero = False
    rule_streams = "R4.8-a"

    def encode(self, array):
        matrix = cer_from_dense(zero_view(array))
        return b"", [matrix.omega.view(array.dtype), index_array(np.diff(matrix.row_ptr)),
                     index_array(np.diff(matrix.omega_ptr)), index_array(column_gaps(matrix.col_idx,
                                                                                     matrix.omega_ptr))]

    def layout_bits(self, structure, bits):
        """The structure of ``bits`` (a matrix view of unsigned bit patterns) whose implicit value is the one the
        elements ``structure`` does not list now have (any value when it lists every element): only the others are
        grouped, never all m x n elements."""
        (m, n), flat = bits.shape, bits.reshape(-1)
        listed = np.sort(structure.positions())
        unlisted = np.flatnonzero(listed != np.arange(len(listed)))
        first = int(unlisted[0]) if len(unlisted) else len(listed)
        implicit = flat[first] if first < flat.size else flat.dtype.type(0)
        positions = np.flatnonzero(flat != implicit)
        return self.from_entries((m, n), implicit, positions // max(n, 1), positions % max(n, 1),
                                 flat[positions], structure.tensor_shape)

    @staticmethod
    def from_entries(*args):
        return grouped_from_entries(*args)  # CSER where CER's empty groups would dominate (lazy dq/per-channel)

    def check_counts(self, node, params, counts, m, n):
        omega, rows, groups, cols = counts[0], counts[1], counts[2], counts[-1]
        if not (1 <= omega <= m * n or omega == m * n == 0):
            self.fail(f"Omega holds {omega} values for {m * n} elements")
        if rows != m:
            self.fail(f"Row_Groups holds {rows} entries for {m} rows")
        if cols > m * n or groups > m * max(omega - 1, 0):
            self.fail(f"{groups} groups and {cols} column entries for a {m} x {n} matrix with {omega} values")

    def _structure(self, node, params, arrays, backend):
        m, n = matrix_shape(node.shape)
        row_ptr, omega_ptr, cols = self.kernels(backend).group_columns(
            as_int64(arrays[1]), None, as_int64(arrays[2]), as_int64(arrays[3]), m, n, arrays[0].size)
        return CERMatrix((m, n), arrays[0], row_ptr, omega_ptr, cols, tensor_shape=node.shape, checked=True)


class CSERLayout(CERLayout):
    stage_id = 5
    name = "cser"
    stream_names = ("Omega", "Row_Groups", "Group_Values", "Group_Sizes", "Col_Gaps")

    def encode(self, array):
        matrix = cser_from_dense(zero_view(array))
        return b"", [matrix.omega.view(array.dtype), index_array(np.diff(matrix.row_ptr)),
                     index_array(matrix.omega_idx), index_array(np.diff(matrix.omega_ptr)),
                     index_array(column_gaps(matrix.col_idx, matrix.omega_ptr))]

    @staticmethod
    def from_entries(*args):
        return cser_from_entries(*args)

    def check_counts(self, node, params, counts, m, n):
        super().check_counts(node, params, counts, m, n)
        if counts[2] != counts[3] or counts[3] > counts[4]:
            self.fail(f"Group_Values holds {counts[2]} entries, Group_Sizes {counts[3]}, Col_Gaps {counts[4]}")

    def _structure(self, node, params, arrays, backend):
        m, n = matrix_shape(node.shape)
        row_ptr, omega_ptr, cols = self.kernels(backend).group_columns(
            as_int64(arrays[1]), as_int64(arrays[2]), as_int64(arrays[3]), as_int64(arrays[4]), m, n,
            arrays[0].size)
        return CSERMatrix((m, n), arrays[0], row_ptr, arrays[2], omega_ptr, cols, tensor_shape=node.shape,
                          checked=True)
