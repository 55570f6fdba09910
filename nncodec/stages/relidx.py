"""relidx layout (spec 4.6): Deep Compression's relative-index stream with filler zeros."""

from ..errors import EncodeError, FormatError
from ..sparse.convert import relidx_from_dense
from ..sparse.matrices import RelIdxMatrix
from .sparse_layout import SparseLayout, as_int64, index_array, matrix_shape, zero_view

MAX_GAP_BITS = 16


class RelIdxLayout(SparseLayout):
    stage_id = 2
    name = "relidx"
    stream_names = ("Gaps", "Values")
    values_stream = 1
    rule_streams = "R4.6-b"

    def encode(self, array, gap_bits):
        """(params, [gaps, values]) of ``array`` with gaps of ``gap_bits`` bits (fillers as §4.6 prescribes)."""
        if not 1 <= gap_bits <= MAX_GAP_BITS:
            raise EncodeError(f"relidx gap bits must be in 1..{MAX_GAP_BITS}, got {gap_bits}")
        matrix = relidx_from_dense(zero_view(array), gap_bits)
        return bytes((gap_bits,)), [index_array(matrix.gaps), matrix.values.view(array.dtype)]

    def layout_bits(self, structure, bits):
        """The relidx structure of ``bits`` (a matrix view of unsigned bit patterns) with ``structure``'s gap
        width and shapes."""
        matrix = relidx_from_dense(bits, structure.gap_bits)
        return RelIdxMatrix(matrix.shape, matrix.gap_bits, matrix.gaps, matrix.values,
                            tensor_shape=structure.tensor_shape, checked=True)

    def params_check(self, params):
        if len(params) != 1 or not 1 <= params[0] <= MAX_GAP_BITS:
            raise FormatError(f"[R4.6-a] relidx params must be one byte Gap_Bits in 1..{MAX_GAP_BITS}, "
                              f"found {bytes(params).hex() or 'nothing'}")
        return params[0]

    def check_counts(self, node, params, counts, m, n):
        if counts[0] != counts[1]:
            self.fail(f"Gaps holds {counts[0]} entries, Values {counts[1]}")
        if counts[0] > m * n:
            self.fail(f"{counts[0]} entries for {m * n} elements")

    def _structure(self, node, params, arrays, backend):
        gap_bits = params[0]
        m, n = matrix_shape(node.shape)
        gaps = as_int64(arrays[0])
        self.kernels(backend).relidx_positions(gaps, gap_bits, m, n)  # checks every gap and position (§4.6)
        return RelIdxMatrix((m, n), gap_bits, gaps, arrays[1], tensor_shape=node.shape, checked=True)
