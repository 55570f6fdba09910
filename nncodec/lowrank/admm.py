"""Data-aware sparse + low-rank fitting of one layer, after Ma et al., "A Unified Approximation Framework for
Compressing and Accelerating Deep Neural Networks" (arXiv:1807.10119): keep the layer's response after its ReLU
close to the original one on calibration inputs, with an l2,1 (column-sparse) part and a nuclear-norm (low-rank)
part, solved with ADMM.
"""

import numpy as np

from ..errors import EncodeError
from .factors import Factors, matrix_view

__all__ = ["admm_sparse_lowrank", "admm_objective", "relu"]


def relu(x):
    return np.maximum(x, 0.0)


def _column_shrink(matrix, threshold):
    """prox of ``threshold * ||.||_{2,1}``: each column a_j becomes ``max(0, 1 - threshold / ||a_j||) a_j``."""
    norms = np.linalg.norm(matrix, axis=0)
    scale = np.where(norms > threshold, 1.0 - threshold / np.where(norms > 0, norms, 1.0), 0.0)
    return matrix * scale


def _singular_value_threshold(matrix, threshold):
    """prox of ``threshold * ||.||_*``: ``U max(s - threshold, 0) V^T``; returns (balanced left, right)."""
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    kept = s - threshold
    k = int(np.count_nonzero(kept > 0))
    root = np.sqrt(kept[:k])
    return u[:, :k] * root, root[:, None] * vt[:k]


def _relu_prox(target, v, rho):
    """Elementwise ``argmin_m 1/2 (y - relu(m))^2 + rho/2 (m - v)^2`` (the M-subproblem, closed form)."""
    negative = np.minimum(v, 0.0)  # best m <= 0: relu(m) = 0
    positive = np.maximum((target + rho * v) / (1.0 + rho), 0.0)  # best m >= 0: relu(m) = m
    cost_neg = 0.5 * target ** 2 + 0.5 * rho * (negative - v) ** 2
    cost_pos = 0.5 * (target - positive) ** 2 + 0.5 * rho * (positive - v) ** 2
    return np.where(cost_pos <= cost_neg, positive, negative)


def admm_objective(weight, inputs, sparse, low, lam_sparse, lam_rank, bias=None):
    """``1/2 ||relu(W X + b) - relu((S + L) X + b)||_F^2 + lam_sparse ||S||_{2,1} + lam_rank ||L||_*``."""
    offset = 0.0 if bias is None else np.asarray(bias, dtype=np.float64)[:, None]
    target = relu(weight @ inputs + offset)
    response = relu((sparse + low) @ inputs + offset)
    return (0.5 * float(np.sum((target - response) ** 2)) + lam_sparse * float(np.linalg.norm(sparse, axis=0).sum())
            + lam_rank * float(np.linalg.svd(low, compute_uv=False).sum()))


def admm_sparse_lowrank(weight, inputs, lam_sparse, lam_rank, *, bias=None, rho=1.0, iterations=100, history=None):
    """Fit ``W ~ S + L`` (S column-sparse, L low-rank) to the layer ``Y = relu(W X + b)`` on calibration inputs.

    ``weight`` (m, n) or a kernel whose im2col view is (m, n); ``inputs`` X (n, N): one calibration column per
    sample (for a conv layer, im2col patches); ``bias`` b (m,) or None. Returns :class:`Factors` (S as ``sparse``,
    L as ``left @ right``). Larger ``lam_sparse`` zeroes more columns of S, larger ``lam_rank`` lowers L's rank.
    ``history``, a list, receives :func:`admm_objective` after each iteration.

    Problem (the paper's notation: A sparse, B low-rank, h the ReLU, M the pre-activation)::

        min_{A, B, M}  1/2 ||Y - h(M)||_F^2 + lam_1 ||A||_{2,1} + lam_2 ||B||_*   s.t.  M = (A + B) X + b 1^T

    Augmented Lagrangian with multiplier Lambda and penalty rho; one iteration k -> k+1:

        R^k      = M^k - (A^k + B^k) X - b 1^T + Lambda^k / rho          (scaled residual)
        G^k      = -rho R^k X^T                                          (gradient of rho/2 ||R||^2 in A and in B)
        A^{k+1}  = prox_{t lam_1 ||.||_{2,1}}(A^k - t G^k)               (l2,1 shrinkage of columns)
        B^{k+1}  = prox_{t lam_2 ||.||_*}(B^k - t G^k)                   (singular-value thresholding)
        M^{k+1}  = argmin_M 1/2 ||Y - h(M)||^2 + rho/2 ||M - (A^{k+1} + B^{k+1}) X - b 1^T + Lambda^k / rho||^2
        Lambda^{k+1} = Lambda^k + rho (M^{k+1} - (A^{k+1} + B^{k+1}) X - b 1^T)

    with step ``t = 1 / (2 rho ||X||_2^2)`` (the (A, B) subproblem is linearised: one proximal-gradient step, with
    the step its joint Lipschitz constant allows). The paper takes a gradient step for M; with h = ReLU the
    M-subproblem separates per element and has a closed form, which is used here. Start: A = 0, B = W,
    M = W X + b 1^T, Lambda = 0.
    """
    weight = np.asarray(weight, dtype=np.float64)
    w = matrix_view(weight)
    x = np.asarray(inputs, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != w.shape[1]:
        raise EncodeError(f"calibration inputs must be ({w.shape[1]}, N), got {x.shape}")
    if lam_sparse < 0 or lam_rank < 0 or rho <= 0 or iterations < 1:
        raise EncodeError("admm needs lam_sparse >= 0, lam_rank >= 0, rho > 0 and iterations >= 1")
    offset = np.zeros((w.shape[0], 1)) if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1, 1)
    target = relu(w @ x + offset)
    step = 1.0 / (2.0 * rho * max(np.linalg.norm(x, 2) ** 2, 1e-300))
    sparse, low = np.zeros_like(w), w.copy()
    left, right = _singular_value_threshold(w, 0.0)
    aux = w @ x + offset
    multiplier = np.zeros_like(aux)
    for _ in range(iterations):
        residual = aux - low @ x - sparse @ x - offset + multiplier / rho
        gradient = -rho * residual @ x.T
        sparse = _column_shrink(sparse - step * gradient, step * lam_sparse)
        left, right = _singular_value_threshold(low - step * gradient, step * lam_rank)
        low = left @ right
        combined = (sparse + low) @ x + offset
        aux = _relu_prox(target, combined - multiplier / rho, rho)
        multiplier = multiplier + rho * (aux - combined)
        if history is not None:
            history.append(admm_objective(w, x, sparse, low, lam_sparse, lam_rank, bias))
    sparse_part = sparse.reshape(weight.shape) if np.any(sparse) else None
    return Factors(weight.shape, left, right, sparse_part)
