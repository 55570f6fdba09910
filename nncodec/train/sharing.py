"""Trained quantization of one tensor (Deep Compression, Han et al. 2016, section 3): weights share a float32
codebook, each weight's index into it stays fixed, and the entries move by gradient descent.

The gradient of an entry is the sum of the gradients of the weights that use it. With a pruning mask, entry 0 is
a pinned 0.0 for the pruned weights and never moves. The other entries are ordered by how many weights use them
(most first), so small indices are the frequent ones: that is what an integer entropy coder codes cheapest.
"""

import numpy as np

from ..errors import EncodeError
from ..quant import kmeans_1d
from ..quant.base import nearest_index

__all__ = ["SharedTensor"]


class SharedTensor:
    """The codebook state of one tensor: float64 ``centroids`` (what the optimizer moves), int64 ``indices`` of
    the tensor's shape, and ``pinned_zero`` (entry 0 is the pruned weights' 0.0)."""

    def __init__(self, centroids, indices, pinned_zero):
        self.centroids = np.asarray(centroids, dtype=np.float64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.pinned_zero = pinned_zero

    @classmethod
    def cluster(cls, weights, k, mask=None, init="linear"):
        """Cluster ``weights`` into at most ``k`` entries (``k - 1`` for the kept weights plus the pinned 0.0 when
        ``mask`` is given) with :func:`nncodec.quant.kmeans_1d`; each weight takes its nearest float32 entry."""
        w = np.asarray(weights, dtype=np.float64)
        if not 2 <= k <= 65536:
            raise EncodeError(f"k must be in 2..65536, got {k}")
        keep = np.ones(w.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        values = w[keep]
        table = np.unique(kmeans_1d(values, k - (mask is not None), init=init).astype(np.float32))
        indices = np.zeros(w.shape, dtype=np.int64)
        if table.size:
            nearest = nearest_index(table.astype(np.float64), values)
            counts = np.bincount(nearest, minlength=table.size)
            order = np.argsort(-counts, kind="stable")[:np.count_nonzero(counts)]
            rank = np.zeros(table.size, dtype=np.int64)
            rank[order] = np.arange(table.size)[:order.size]
            table = table[order]
            indices[keep] = rank[nearest] + (mask is not None)
        centroids = np.concatenate([[0.0] if mask is not None else [], table.astype(np.float64)])
        if centroids.size == 0:
            centroids = np.zeros(1)
        return cls(centroids, indices, mask is not None)

    def entries(self):
        """The float32 codebook the weights use (and the container stores)."""
        entries = self.centroids.astype(np.float32)
        if self.pinned_zero:
            entries[0] = 0.0
        return entries

    def weights(self):
        """float32 weights: ``entries()[indices]``."""
        return self.entries()[self.indices]

    def centroid_gradient(self, grad):
        """float64 gradient of each entry: the sum of ``grad`` over the weights using it (0 for a pinned zero)."""
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != self.indices.shape:
            raise EncodeError(f"gradient shape {grad.shape} != weight shape {self.indices.shape}")
        total = np.bincount(self.indices.reshape(-1), weights=grad.reshape(-1), minlength=self.centroids.size)
        if self.pinned_zero:
            total[0] = 0.0
        return total
