"""The factored form of one weight tensor and the ``factorize=`` spec strings that ask for one."""

from dataclasses import dataclass

import numpy as np

from ..errors import EncodeError
from ..quant.base import split_spec, spec_value

__all__ = ["Factors", "matrix_view", "parse_factorize", "FACTORIZE_KINDS"]

FACTORIZE_KINDS = ("svd", "sparse+lowrank", "separable")


def matrix_view(weight):
    """The 2-D view a factorization works on: a matrix as is, a convolution kernel (O, I, KH, KW) (any Ndim >= 2)
    as its im2col matrix (O, I * KH * KW)."""
    weight = np.asarray(weight)
    if weight.ndim < 2:
        raise EncodeError(f"a factorization needs a tensor of at least 2 dimensions, got shape {weight.shape}")
    return weight.reshape(weight.shape[0], -1)


@dataclass(frozen=True, eq=False)
class Factors:
    """A tensor of shape ``shape`` as ``sparse + reshape(left @ right)`` (spec 3.5.3).

    ``left`` (m, k) and ``right`` (k, n) are float64. ``sparse`` is None or a float64 array of ``shape``.
    ``separable`` False: ``left @ right`` is the im2col matrix view, ``m * n`` equals the element count.
    ``separable`` True (4-D kernels (O, I, KH, KW), no sparse part): ``left`` is (O * KW, k), ``right`` (k, I * KH)
    and ``W[o, i, y, x] = (left @ right)[o * KW + x, i * KH + y]`` (the separable combine).
    """

    shape: tuple
    left: np.ndarray
    right: np.ndarray
    sparse: np.ndarray | None = None
    separable: bool = False

    def __post_init__(self):
        m, k = self.left.shape
        k2, n = self.right.shape
        if k != k2:
            raise EncodeError(f"factor inner extents differ: {self.left.shape} @ {self.right.shape}")
        if self.separable:
            if len(self.shape) != 4 or self.sparse is not None:
                raise EncodeError("separable factors need a 4-D shape and no sparse part")
            o, i, kh, kw = self.shape
            if (m, n) != (o * kw, i * kh):
                raise EncodeError(f"separable factors of {self.shape} must be ({o * kw}, k) and (k, {i * kh})")
        elif m * n != int(np.prod(self.shape)) or m != self.shape[0]:
            raise EncodeError(f"factors {self.left.shape} @ {self.right.shape} do not make the im2col view of "
                              f"{self.shape}")
        if self.sparse is not None and self.sparse.shape != tuple(self.shape):
            raise EncodeError(f"sparse part shape {self.sparse.shape} != {self.shape}")

    @property
    def rank(self):
        return self.left.shape[1]

    def low_rank_part(self):
        """float64 ``left @ right`` placed in ``shape``."""
        product = self.left @ self.right
        if self.separable:
            o, i, kh, kw = self.shape
            return product.reshape(o, kw, i, kh).transpose(0, 2, 3, 1)
        return product.reshape(self.shape)

    def reconstruct(self):
        """float64 tensor the factors stand for."""
        dense = self.low_rank_part()
        return dense if self.sparse is None else dense + self.sparse

    def stored_values(self):
        """Number of values the factors hold (the sparse part's nonzeros counted once each)."""
        count = self.left.size + self.right.size
        return count + (int(np.count_nonzero(self.sparse)) if self.sparse is not None else 0)


def parse_factorize(spec):
    """``(kind, options)`` for a factorize spec: ``svd:energy=0.99|rank=32|sqnr=30|size=0.25``,
    ``sparse+lowrank:rank=16,density=0.05[,iterations=30]``, ``separable:rank=8|energy=..|sqnr=..|size=..``.
    Exactly one rank rule (energy, rank, sqnr, size; sparse+lowrank: rank) per spec; EncodeError otherwise."""
    if not isinstance(spec, str):
        raise EncodeError(f"a factorize spec is a string such as 'svd:energy=0.99', got {spec!r}")
    kind, positional, options = split_spec(spec)
    if kind not in FACTORIZE_KINDS or positional:
        raise EncodeError(f"factorize spec {spec!r}: expected one of {', '.join(FACTORIZE_KINDS)} with key=value "
                          "options")
    rules = ("rank",) if kind == "sparse+lowrank" else ("energy", "rank", "sqnr", "size")
    allowed = rules + (("density", "iterations") if kind == "sparse+lowrank" else ())
    parsed = {key: spec_value(options, key, int if key in ("rank", "iterations") else float, spec, allowed)
              for key in allowed}
    parsed = {key: value for key, value in parsed.items() if value is not None}
    given = [key for key in rules if key in parsed]
    if len(given) != 1:
        raise EncodeError(f"factorize spec {spec!r}: give exactly one of {', '.join(rules)}")
    if kind == "sparse+lowrank" and "density" not in parsed:
        raise EncodeError(f"factorize spec {spec!r}: sparse+lowrank needs rank= and density=")
    return kind, parsed
