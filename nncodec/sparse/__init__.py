"""Decoded layouts as objects: one class per layout (spec 4.6 to 4.9 and 3.5.3), each in the form products compute
on, and the conversions between them.

``matrices`` holds the classes (CSR, CSR8, CER, CSER, relative index, dense, low rank, sparse + low rank) that
``decode(materialize=False)``, ``Reader.get(..., materialize=False)`` and the runtime all use, with ``A @ x`` on
the ``spmm`` kernels; ``convert`` builds them from dense arrays (the encoder's layout stages) and gives a weight
in another layout (``prepare``, for the runtime).

May import: ``format``, ``kernels`` and ``nncodec.errors``; the stages, the decoder and the runtime build on it.
"""

from .convert import (FACTORED_LAYOUTS, LAYOUTS, cer_from_dense, cser_from_dense, csr_from_dense, layout_of,
                      matmul, prepare, relidx_from_dense, value_table)
from .matrices import (CERMatrix, CSERMatrix, CSR8Matrix, CSRMatrix, DenseMatrix, LowRankMatrix, RelIdxMatrix,
                       SparseMatrix, SparsePlusLowRank, available_threads, matrix_view)

__all__ = ["SparseMatrix", "CSRMatrix", "CSR8Matrix", "CERMatrix", "CSERMatrix", "RelIdxMatrix", "DenseMatrix",
           "LowRankMatrix", "SparsePlusLowRank", "matrix_view", "value_table", "csr_from_dense", "cer_from_dense",
           "cser_from_dense", "relidx_from_dense", "LAYOUTS", "FACTORED_LAYOUTS", "layout_of", "prepare", "matmul",
           "available_threads"]
