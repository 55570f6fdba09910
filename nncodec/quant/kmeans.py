"""Weight sharing by 1-D k-means (Deep Compression, Han et al. 2016): one float32 codebook per tensor.

The data are sorted once and collapsed to distinct values with their total weight (count, or summed importance).
A cluster of sorted 1-D data is a contiguous run, so each Lloyd iteration only needs the run boundaries (the
midpoints between sorted centroids, located by binary search) and prefix sums of weight and weight * value:
O(k log m) per iteration for m distinct values, after one O(n log n) sort.

Lloyd's algorithm converges slowly when k is large, because centroids drift only a little per iteration. Moving
each emptied centroid into the cluster with the largest error is a global move that helps a lot: on 1 M Laplacian
weights with k = 256, ``linear`` (which empties its sparse tail clusters at once) reaches 38.2 dB SQNR after 100
iterations and 38.6 dB after 1000, while ``density`` and ``random`` (no empty clusters) reach 31.9-32.1 dB after
100 and about 36 dB after 1000. The default ``iters=1000`` costs a few tenths of a second there.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import EncodeError
from .base import Quantized, Quantizer, check_int, nearest_index, spec_value

__all__ = ["KMeansQuantizer", "kmeans_1d", "INITS", "MAX_K"]

INITS = ("linear", "density", "random")
MAX_K = 65536
OPTIONS = ("k", "init", "iters", "seed")


@dataclass(frozen=True)
class KMeansQuantizer(Quantizer, spec_name="kmeans"):
    """A codebook of at most ``k`` float32 entries, sorted ascending, holding only entries some weight uses
    (``[0.0]`` when there are no weights); each weight's level is the index of its nearest entry (ties to the
    lower one). Centroids come from :func:`kmeans_1d` (weighted by ``importance`` when given). With a mask, the
    kept weights are clustered into ``k - 1`` centroids and an entry exactly 0.0 is added for the pruned ones (the
    table stays sorted, so its index is the number of negative entries)."""

    k: int = 16
    init: str = "linear"
    iters: int = 1000
    seed: int = 0

    def __post_init__(self):
        check_int(self.k, "k", 2, MAX_K)
        if self.init not in INITS:
            raise EncodeError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        check_int(self.iters, "iters", 0, 10 ** 6)
        check_int(self.seed, "seed", 0, 2 ** 63 - 1)

    def _quantize(self, w, mask, importance):
        flat = w.reshape(-1)
        keep = None if mask is None else mask.reshape(-1)
        values = flat if keep is None else flat[keep]
        weights = None
        if importance is not None:
            weights = importance.reshape(-1) if keep is None else importance.reshape(-1)[keep]
        centroids = kmeans_1d(values, self.k - (keep is not None), weights, self.init, self.iters, self.seed)
        entries = centroids.astype(np.float32)
        if keep is not None or entries.size == 0:
            entries = np.append(entries, np.float32(0.0))
        table = np.unique(entries + np.float32(0.0))  # + 0.0 turns -0.0 into 0.0
        levels = nearest_index(table.astype(np.float64), flat)
        if keep is not None:
            levels[~keep] = np.searchsorted(table, np.float32(0.0))
        used = np.bincount(levels, minlength=table.size) > 0
        if levels.size and not used.all():
            levels = (np.cumsum(used) - 1)[levels]
            table = table[used]
        return Quantized(levels=levels.reshape(w.shape), kind="codebook", codebook=table)

    def config(self):
        extra = "".join(f",{name}={getattr(self, name)}" for name in OPTIONS[1:]
                        if getattr(self, name) != type(self).__dataclass_fields__[name].default)
        return f"kmeans:k={self.k}{extra}"

    @classmethod
    def from_options(cls, options, spec):
        types = {"k": int, "init": str, "iters": int, "seed": int}
        given = {key: spec_value(options, key, types[key], spec, OPTIONS) for key in OPTIONS}
        return cls(**{key: value for key, value in given.items() if value is not None})


def kmeans_1d(values, k, weights=None, init="linear", iters=1000, seed=0):
    """Sorted float64 centroids (at most ``k``) of 1-D ``values``, minimizing sum(weight * (value - centroid)**2).

    When ``values`` has at most ``k`` distinct entries they are the centroids. Otherwise Lloyd iterations run
    from ``init`` until the assignment stops changing or ``iters`` iterations have run. Inits: ``linear``,
    ``k`` points evenly spaced over [min, max]; ``density``, the weighted quantiles at (i + 1/2) / k;
    ``random``, ``k`` distinct positions of ``values`` drawn with ``numpy.random.default_rng(seed)``.
    A centroid left without weight is moved into the cluster with the largest weighted squared error (see
    ``_reseed``), so the result is deterministic.
    Weights default to 1; if they sum to 0 they are ignored.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return values
    if weights is not None and not np.sum(weights) > 0:
        weights = None
    if weights is None:
        ordered = _sorted(values)
    else:
        order = np.argsort(values)
        ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    distinct = ordered[starts]
    if weights is None:
        mass = np.diff(np.r_[starts, ordered.size]).astype(np.float64)
    else:
        mass = np.add.reduceat(np.asarray(weights, dtype=np.float64)[order], starts)
    if distinct.size <= k:
        return distinct
    centroids = _initial_centroids(values, distinct, mass, k, init, seed)
    mass_before = np.concatenate([[0.0], np.cumsum(mass)])
    moment_before = np.concatenate([[0.0], np.cumsum(mass * distinct)])
    prefixes = None  # with squares too, built when a cluster first runs empty
    edges = cuts = None  # edges: run boundaries [0, cuts..., m]; cluster j is distinct[edges[j]:edges[j + 1]]
    for _ in range(iters):
        new_cuts = np.searchsorted(distinct, (centroids[:-1] + centroids[1:]) * 0.5, side="right")
        if cuts is not None and new_cuts.size == cuts.size and (new_cuts == cuts).all():
            break
        cuts = new_cuts
        if edges is None or edges.size != cuts.size + 2:
            edges = np.empty(cuts.size + 2, dtype=np.intp)
            edges[0], edges[-1] = 0, distinct.size
        edges[1:-1] = cuts
        start, stop = edges[:-1], edges[1:]
        masses, moments = mass_before[edges], moment_before[edges]
        cluster_mass = masses[1:] - masses[:-1]
        filled = cluster_mass > 0
        if filled.all():
            # a mean lies within its run; clamping removes prefix-sum rounding (a one-value run gets that
            # value), and means of consecutive runs come out sorted
            means = (moments[1:] - moments[:-1]) / cluster_mass
            centroids = np.minimum(np.maximum(means, distinct[start]), distinct[stop - 1])
        else:
            means = (moments[1:] - moments[:-1])[filled] / cluster_mass[filled]
            centroids[filled] = np.minimum(np.maximum(means, distinct[start[filled]]), distinct[stop[filled] - 1])
            if prefixes is None:
                prefixes = mass_before, moment_before, np.concatenate([[0.0], np.cumsum(mass * distinct**2)])
            centroids = np.sort(_reseed(centroids, filled, distinct, mass, start, stop, prefixes))
    return centroids


def _sorted(values):
    """``np.sort(values)``; float32-valued data (weights of float32 models) is sorted as float32, which gives the
    same order with half the memory traffic."""
    with np.errstate(over="ignore"):
        narrow = values.astype(np.float32)
    if np.array_equal(narrow, values):
        return np.sort(narrow).astype(np.float64)
    return np.sort(values)


def _initial_centroids(values, distinct, mass, k, init, seed):
    if init == "linear":
        return np.linspace(distinct[0], distinct[-1], k)
    if init == "density":
        cumulative = np.cumsum(mass)
        quantiles = (np.arange(k) + 0.5) / k * cumulative[-1]
        return distinct[np.minimum(np.searchsorted(cumulative, quantiles), distinct.size - 1)]
    picks = np.random.default_rng(seed).choice(values.size, size=k, replace=False)
    return np.sort(values[picks])


def _reseed(centroids, filled, distinct, mass, start, stop, prefixes):
    """Centroids after splitting clusters for the weightless ones: the clusters with the largest weighted squared
    error (ties to the lower one), one new centroid each at the cluster's end value farther from its centroid.
    Weightless centroids that find no cluster to split stay for the next iteration, or are dropped when no
    cluster has any error left."""
    mass_before, moment_before, square_before = prefixes
    kept, first, last = centroids[filled], start[filled], stop[filled] - 1
    cluster_mass = mass_before[last + 1] - mass_before[first]
    cluster_moment = moment_before[last + 1] - moment_before[first]
    cluster_error = square_before[last + 1] - square_before[first] - 2 * kept * cluster_moment + \
        kept * kept * cluster_mass
    low_error = mass[first] * (distinct[first] - kept) ** 2
    high_error = mass[last] * (distinct[last] - kept) ** 2
    splittable = np.flatnonzero(np.maximum(low_error, high_error) > 0)
    if splittable.size == 0:
        return kept
    wanted = np.count_nonzero(~filled)
    chosen = splittable[np.argsort(-cluster_error[splittable], kind="stable")[:wanted]]
    added = np.where(low_error[chosen] >= high_error[chosen], distinct[first[chosen]], distinct[last[chosen]])
    waiting = centroids[~filled][:wanted - chosen.size]
    return np.concatenate([kept, added, waiting])
