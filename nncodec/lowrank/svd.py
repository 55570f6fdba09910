"""Truncated SVD with the rank chosen from a target energy, rank, SQNR or size (data-free low-rank fitting).

For ``A = U diag(s) V^T`` (singular values descending), the best rank-k approximation in the Frobenius norm keeps
the first k terms (Eckart-Young); its squared error is ``sum(s[k:]**2)``.
"""

import math

import numpy as np

from ..errors import EncodeError
from .factors import Factors, matrix_view

__all__ = ["choose_rank", "low_rank", "balanced_factors"]


def choose_rank(singular_values, shape, *, energy=None, rank=None, sqnr=None, size=None):
    """The rank one rule gives (exactly one of them):

    energy: the smallest k with ``sum(s[:k]**2) >= energy * sum(s**2)`` (0 < energy <= 1);
    rank: k itself (clipped to the number of singular values);
    sqnr: the smallest k whose truncation error ``sum(s[k:]**2)`` is at most ``sum(s**2) / 10**(sqnr / 10)``;
    size: the largest k whose factors hold at most ``size * m * n`` values, ``k * (m + n) <= size * m * n``.
    """
    s2 = np.asarray(singular_values, dtype=np.float64) ** 2
    m, n = shape
    given = [v for v in (energy, rank, sqnr, size) if v is not None]
    if len(given) != 1:
        raise EncodeError("choose_rank takes exactly one of energy, rank, sqnr, size")
    total = float(s2.sum())
    tail = np.concatenate([np.cumsum(s2[::-1])[::-1], [0.0]])  # tail[k] = sum(s[k:]**2)
    if rank is not None:
        if rank < 0:
            raise EncodeError(f"rank {rank} < 0")
        return min(int(rank), s2.size)
    if size is not None:
        if not 0 <= size:
            raise EncodeError(f"size {size} < 0")
        return min(math.floor(size * m * n / (m + n)), s2.size)
    if energy is not None:
        if not 0 < energy <= 1:
            raise EncodeError(f"energy {energy} not in (0, 1]")
        allowed = (1.0 - energy) * total
    else:
        allowed = total / 10.0 ** (sqnr / 10.0)
    return int(np.argmax(tail <= allowed * (1 + 1e-12)))


def balanced_factors(u, s, vt, k):
    """``(U sqrt(s), sqrt(s) V^T)`` of the first k terms: equal scales, so one quantizer step suits both."""
    root = np.sqrt(s[:k])
    return u[:, :k] * root, root[:, None] * vt[:k]


def low_rank(weight, **rule):
    """:class:`Factors` of the truncated SVD of ``weight``'s matrix view, rank from ``rule`` (see choose_rank)."""
    weight = np.asarray(weight, dtype=np.float64)
    matrix = matrix_view(weight)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    k = choose_rank(s, matrix.shape, **rule)
    left, right = balanced_factors(u, s, vt, k)
    return Factors(weight.shape, left, right)
