"""The runtime's per-layer layout pick: a short measured trial, not a cost model.

Which layout is fastest depends on density, on how many distinct values a row repeats and how long its runs of
equal values are, on the batch size and on the machine (cache sizes, threads, BLAS, and how loaded the CPUs
are), so ``choose_layout`` simply prepares every candidate and times it on the real matrix: one warm-up product,
then the median of ``repeats`` products with a fixed random float32 input of the requested batch, on one thread
and (when the kernels have OpenMP and the product has at least TRIAL_PARALLEL_MIN_WORK multiply-adds) on all
available CPUs; the chosen operator keeps the faster thread count. Ties within 3% go to the smaller operator.
The pick is therefore not deterministic across runs when two layouts are close; both are then good choices.
"""

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from ..sparse.convert import layout_of, prepare
from ..sparse.matrices import available_threads

__all__ = ["LayoutChoice", "choose_layout", "CANDIDATES"]

CANDIDATES = ("dense", "csr", "csr8", "cer", "cser")
TIE = 1.03
TRIAL_PARALLEL_MIN_WORK = 1 << 14


@dataclass
class LayoutChoice:
    """The pick: ``layout``, its prepared ``operator`` (whose ``threads`` is set to the faster count), and per
    candidate the median ``seconds`` (at its faster thread count) and ``nbytes``."""

    layout: str
    operator: object
    threads: int = 1
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
    ``batch`` columns and return a :class:`LayoutChoice` for the fastest. ``threads`` fixes the thread count
    instead of trying 1 and all CPUs (dense products always use NumPy's own BLAS threads). csr8 is skipped for a
    matrix with more than 256 distinct values."""
    names = list(dict.fromkeys(list(candidates) + [layout_of(weight)]))
    ops = {}
    for name in names:
        try:
            ops[name] = prepare(weight, name)
        except ValueError:
            if name != "csr8":
                raise
    names = list(ops)
    n = next(iter(ops.values())).shape[1]
    x = np.random.default_rng(0).standard_normal((n, batch)).astype(np.float32)
    parallel = kernels.module("spmm", backend).PARALLEL and available_threads() > 1
    seconds, counts = {}, {}
    for name, op in ops.items():
        tries = [threads] if threads is not None else [1]
        if threads is None and parallel and name != "dense" and op.entries * batch >= TRIAL_PARALLEL_MIN_WORK:
            tries.append(available_threads())
        timed = {t: _median_seconds(op, x, repeats, backend, t) for t in tries}
        counts[name] = min(timed, key=timed.get)
        seconds[name] = timed[counts[name]]
    nbytes = {name: op.nbytes for name, op in ops.items()}
    fastest = min(seconds.values())
    close = [name for name in names if seconds[name] <= fastest * TIE]
    best = min(close, key=lambda name: (nbytes[name], seconds[name]))
    if ops[best] is weight:  # the caller's own structure: the pick's thread count goes on a copy
        ops[best] = copy.copy(weight)
    ops[best].threads = counts[best]
    return LayoutChoice(best, ops[best], counts[best], seconds, nbytes)
