"""csr layout (spec 4.7): row counts, per-row column gaps and the non-zero values."""

import numpy as np

from ..sparse.convert import csr_from_dense
from ..sparse.matrices import CSRMatrix
from .sparse_layout import SparseLayout, as_int64, index_array, matrix_shape, zero_view


def column_gaps(col_idx, ptr):
    """Per-run column gaps (§4.7): the first column of each run ptr[k]..ptr[k+1], then differences minus one."""
    cols = col_idx.astype(np.int64)
    gaps = np.diff(cols, prepend=-1) - 1
    starts = ptr[:-1][np.diff(ptr) > 0]
    gaps[starts] = cols[starts]
    return gaps


class CSRLayout(SparseLayout):
    stage_id = 3
    name = "csr"
    stream_names = ("Row_Counts", "Col_Gaps", "Values")
    values_stream = 2
    rule_streams = "R4.7-b"

    def encode(self, array):
        matrix = csr_from_dense(zero_view(array))
        return b"", [index_array(np.diff(matrix.row_ptr)), index_array(column_gaps(matrix.col_idx, matrix.row_ptr)),
                     matrix.values.view(array.dtype)]

    def layout_bits(self, structure, bits):
        """The CSR structure of ``bits`` (a matrix view of unsigned bit patterns) in ``structure``'s shapes."""
        matrix = csr_from_dense(bits)
        return CSRMatrix(matrix.shape, matrix.row_ptr, matrix.col_idx, matrix.values,
                         tensor_shape=structure.tensor_shape, checked=True)

    def check_counts(self, node, params, counts, m, n):
        if counts[0] != m:
            self.fail(f"Row_Counts holds {counts[0]} entries for {m} rows")
        if counts[1] != counts[2] or counts[1] > m * n:
            self.fail(f"Col_Gaps holds {counts[1]} entries, Values {counts[2]}, the matrix {m * n} elements")

    def _structure(self, node, params, arrays, backend):
        m, n = matrix_shape(node.shape)
        row_ptr, col_idx = self.kernels(backend).csr_columns(as_int64(arrays[0]), as_int64(arrays[1]), m, n)
        return CSRMatrix((m, n), row_ptr, col_idx, arrays[2], tensor_shape=node.shape, checked=True)
