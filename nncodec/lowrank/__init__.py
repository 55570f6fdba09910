"""Factored weights (issue #9, spec 3.5.3), NumPy only: a weight written as low-rank factors, a sparse part plus
low-rank factors, or a separable convolution kernel, fitted data-free (:mod:`.svd`, :mod:`.rpca`,
:mod:`.separable`) or from calibration inputs (:mod:`.admm`). The encoder stores a :class:`Factors` as composite
nodes whose children are ordinary chains (``nncodec.encode(..., factorize=...)``).

May import: ``quant``, ``kernels``, ``format`` and ``nncodec.errors``; the encoder builds on it.
"""

from .admm import admm_sparse_lowrank
from .factors import Factors, matrix_view, parse_factorize
from .rpca import sparse_plus_lowrank
from .separable import separable_factors, separable_matrix
from .svd import choose_rank, low_rank

__all__ = ["Factors", "matrix_view", "parse_factorize", "low_rank", "choose_rank", "sparse_plus_lowrank",
           "admm_sparse_lowrank", "separable_factors", "separable_matrix"]
