"""The runtime's per-layer layout pick: a short measured trial, not a cost model.

Which layout is fastest depends on density, on how many distinct values a row repeats and how long its runs of
equal values are, on the batch size and on the machine (cache sizes, threads, BLAS), so ``choose_layout`` simply
prepares every candidate and times it on the real matrix: one warm-up product, then the median of ``repeats``
products with a fixed random float32 input of the requested batch. Ties within 3% go to the smaller operator.
The pick is therefore not deterministic across runs when two layouts are close; both are then good choices.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from .operators import layout_of, prepare

__all__ = ["LayoutChoice", "choose_layout", "CANDIDATES"]

CANDIDATES = ("dense", "csr", "cer", "cser")
TIE = 1.03


@dataclass
class LayoutChoice:
    """The pick: ``layout``, its prepared ``operator``, and per candidate the median ``seconds`` and ``nbytes``."""

    layout: str
    operator: object
    seconds: dict = field(default_factory=dict)
    nbytes: dict = field(default_factory=dict)


def _median_seconds(op, x, repeats, backend, threads):
    op.matmul(x, backend=backend, threads=threads)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        op.matmul(x, backend=backend, threads=threads)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def choose_layout(weight, batch=1, *, candidates=CANDIDATES, repeats=5, backend=None, threads=None):
    """Time ``weight`` (dense array, sparse structure or operator) in every candidate layout (plus its own) at
    ``batch`` columns and return a :class:`LayoutChoice` for the fastest."""
    names = list(dict.fromkeys(list(candidates) + [layout_of(weight)]))
    ops = {name: prepare(weight, name) for name in names}
    n = next(iter(ops.values())).shape[1]
    x = np.random.default_rng(0).standard_normal((n, batch)).astype(np.float32)
    seconds = {name: _median_seconds(op, x, repeats, backend, threads) for name, op in ops.items()}
    nbytes = {name: op.nbytes for name, op in ops.items()}
    fastest = min(seconds.values())
    close = [name for name in names if seconds[name] <= fastest * TIE]
    best = min(close, key=lambda name: (nbytes[name], seconds[name]))
    return LayoutChoice(best, ops[best], seconds, nbytes)
