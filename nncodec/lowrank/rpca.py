"""Sparse + low-rank fitting without data (robust-PCA style alternating minimisation with budgets).

Minimise ``||W - S - L||_F`` subject to ``rank(L) <= rank`` and ``nnz(S) <= density * m * n`` by block
coordinate descent: ``L`` = the best rank-k approximation of ``W - S`` (truncated SVD), then ``S`` = the ``nnz``
entries of ``W - L`` largest in magnitude (hard thresholding). Each step solves its block exactly, so the error
never increases; iterations stop when it decreases by less than ``tol`` (relative) or after ``iterations``.
"""

import numpy as np

from ..errors import EncodeError
from .factors import Factors, matrix_view
from .svd import balanced_factors

__all__ = ["sparse_plus_lowrank"]


def _keep_largest(residual, nnz):
    """``residual`` with all but its ``nnz`` largest-magnitude entries set to zero (ties: lower flat index)."""
    sparse = np.zeros_like(residual)
    if nnz > 0:
        flat = np.abs(residual).ravel()
        keep = np.argsort(-flat, kind="stable")[:nnz]
        sparse.ravel()[keep] = residual.ravel()[keep]
    return sparse


def sparse_plus_lowrank(weight, rank, density, iterations=30, tol=1e-4, history=None):
    """:class:`Factors` with a sparse part (at most ``round(density * size)`` nonzeros) and rank-``rank`` factors of
    ``weight``'s matrix view. ``history``, a list, receives the Frobenius error after each iteration."""
    if not 0 <= density <= 1:
        raise EncodeError(f"density {density} not in [0, 1]")
    if rank < 0 or iterations < 1:
        raise EncodeError(f"rank {rank} < 0 or iterations {iterations} < 1")
    weight = np.asarray(weight, dtype=np.float64)
    matrix = matrix_view(weight)
    nnz = round(density * matrix.size)
    sparse = np.zeros_like(matrix)
    previous = np.inf
    for _ in range(iterations):
        u, s, vt = np.linalg.svd(matrix - sparse, full_matrices=False)
        k = min(rank, s.size)
        left, right = balanced_factors(u, s, vt, k)
        low = left @ right
        sparse = _keep_largest(matrix - low, nnz)
        error = float(np.linalg.norm(matrix - low - sparse))
        if history is not None:
            history.append(error)
        if error == 0 or (np.isfinite(previous) and previous - error <= tol * previous):
            break
        previous = error
    return Factors(weight.shape, left, right, sparse.reshape(weight.shape))
