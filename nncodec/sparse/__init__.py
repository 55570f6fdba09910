"""Decoded sparse and factored layouts: the in-memory form of spec 4.6 to 4.9 and 3.5.3, and products on them.

``matrices`` holds the structures ``decode(materialize=False)`` returns (CSR, CER, CSER, relative index,
low rank, sparse + low rank); ``operators`` checks a structure once and computes ``A @ x`` with the kernels.

May import: ``format``, ``kernels`` and ``nncodec.errors``; the stages, the decoder and the runtime build on it.
"""

from .matrices import (CERMatrix, CSERMatrix, CSRMatrix, LowRankMatrix, RelIdxMatrix, SparseMatrix, SparsePlusLowRank,
                       cer_from_dense, cser_from_dense, csr_from_dense, matrix_view, relidx_from_dense, value_table)

__all__ = ["SparseMatrix", "CSRMatrix", "CERMatrix", "CSERMatrix", "RelIdxMatrix", "LowRankMatrix",
           "SparsePlusLowRank", "matrix_view", "value_table", "csr_from_dense", "cer_from_dense", "cser_from_dense",
           "relidx_from_dense"]
