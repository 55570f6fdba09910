"""Separable convolution kernels: W (O, I, KH, KW) ~ a KH x 1 convolution to R channels, then a 1 x KW one.

``W[o, i, y, x] = sum_r H[o, r, x] * G[r, i, y]`` is a rank-R factorization of the matrix
``P[o * KW + x, i * KH + y] = W[o, i, y, x]`` (spec 3.5.3), so the best one in the Frobenius norm is P's
truncated SVD. It pays when ``R * (O * KW + I * KH)`` is below both the dense size and the im2col low-rank size.
"""

import numpy as np

from ..errors import EncodeError
from .factors import Factors
from .svd import balanced_factors, choose_rank

__all__ = ["separable_matrix", "separable_factors", "conv_filters"]


def separable_matrix(kernel):
    """The matrix P (O * KW, I * KH) of a kernel (O, I, KH, KW)."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise EncodeError(f"a separable factorization needs a 4-D kernel, got shape {kernel.shape}")
    o, i, kh, kw = kernel.shape
    return kernel.transpose(0, 3, 1, 2).reshape(o * kw, i * kh)


def separable_factors(kernel, **rule):
    """:class:`Factors` (separable) of ``kernel``, rank from ``rule`` (energy, rank, sqnr or size; see
    :func:`nncodec.lowrank.choose_rank`, with size counted against the kernel's element count)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    matrix = separable_matrix(kernel)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    k = choose_rank(s, matrix.shape, **rule)
    left, right = balanced_factors(u, s, vt, k)
    return Factors(kernel.shape, left, right, separable=True)


def conv_filters(factors):
    """The two convolutions of separable ``factors``: G (R, I, KH, 1) then H (O, R, 1, KW)."""
    o, i, kh, kw = factors.shape
    rank = factors.rank
    vertical = factors.right.reshape(rank, i, kh, 1)
    horizontal = factors.left.reshape(o, kw, rank).transpose(0, 2, 1).reshape(o, rank, 1, kw)
    return vertical, horizontal
