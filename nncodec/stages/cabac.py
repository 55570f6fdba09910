"""cabac stream coding (spec 3.8 code 3, defined in spec/cabac.md): context-adaptive binary arithmetic coding of
integer levels with DeepCABAC's binarization."""

import numpy as np

from .. import kernels
from .integer import IntegerCoding

# spec/cabac.md §5.3.2.8: the (fast, slow) pairs a rate search tries for each context group
RATE_CANDIDATES = tuple((fast, slow) for fast in (4, 5, 6, 7, 8) for slow in (8, 10, 12, 14) if fast < slow)
SEARCH_SAMPLE = 1 << 16


class CabacCoding(IntegerCoding):
    """Context-adaptive binary arithmetic coding of an integer stream (spec/cabac.md).

    Parameters (encoder only, see spec/cabac.md §5.3.2.8): ``gt_flags`` (0..32, default 4), ``rates`` (five
    (fast, slow) estimator shifts, or ``"search"``: chosen per stream by :func:`search_rates`), ``row_length``
    (0: none), ``bounded`` (None: automatic, False, "one-sided", "two-sided"), ``max_magnitude`` and
    ``segments`` (default: 2 from 2**17 elements on).
    """

    coding_id = 3
    name = "cabac"
    kernel = "cabac"

    def encode(self, values, backend=None):
        if self.params.get("rates") != "search":
            return super().encode(values, backend)
        params = dict(self.params)
        params["rates"] = search_rates(np.asarray(values).reshape(-1), backend, **{
            k: v for k, v in params.items() if k != "rates"})
        return type(self)(**params).encode(values, backend)


def search_rates(values, backend=None, **params):
    """The five (fast, slow) rate pairs that code ``values`` smallest, found group by group (coordinate descent
    from the defaults over RATE_CANDIDATES) on the first SEARCH_SAMPLE elements, trial-encoding with the
    backend's own coder so both backends choose alike."""
    kernel = kernels.module("cabac", backend)
    sample = np.ascontiguousarray(np.asarray(values, dtype=np.int64)[:SEARCH_SAMPLE])
    params = {k: v for k, v in params.items() if k != "segments"}
    rates = list(kernel.DEFAULT_RATES)
    if not sample.size:
        return tuple(rates)
    best = len(kernel.encode(sample, rates=tuple(rates), segments=1, **params))
    for group in range(len(rates)):
        for pair in RATE_CANDIDATES:
            trial = rates[:group] + [pair] + rates[group + 1:]
            size = len(kernel.encode(sample, rates=tuple(trial), segments=1, **params))
            if size < best:
                best, rates = size, trial
    return tuple(rates)
