"""A codebook and assignment decided elsewhere (trained quantization): the encoder stores exactly them.

``nncodec.encode(weights, quantize={"fc1.weight": FixedCodebook(entries, indices)})`` records ``entries`` as the
codebook stage's table and ``indices`` as the levels, unchanged: no re-clustering, so no drift between the trained
model and the container.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import EncodeError
from .base import Quantized, Quantizer

__all__ = ["FixedCodebook"]

MAX_ENTRIES = 65536  # the codebook stage's limit (spec 4.3)


@dataclass(frozen=True, eq=False)
class FixedCodebook(Quantizer):
    """Quantizer returning the given float32 ``entries`` (1-D, any order, at most 65536) and int64 ``indices``.

    ``quantize(w)`` checks that ``w`` equals ``entries[indices]`` exactly (pruned weights, where a mask is given,
    must be 0.0) and raises EncodeError otherwise, so a container can only record weights the codebook reproduces.
    """

    entries: np.ndarray
    indices: np.ndarray

    def __post_init__(self):
        entries = np.array(self.entries, dtype=np.float32).reshape(-1)
        indices = np.array(self.indices)
        if not 1 <= entries.size <= MAX_ENTRIES or not np.all(np.isfinite(entries)):
            raise EncodeError(f"FixedCodebook needs 1..{MAX_ENTRIES} finite entries, got {entries.size}")
        if indices.dtype.kind not in "iu":
            raise EncodeError(f"FixedCodebook indices must be integers, got {indices.dtype}")
        if indices.size and (indices.min() < 0 or indices.max() >= entries.size):
            raise EncodeError(f"FixedCodebook indices must lie in 0..{entries.size - 1}")
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "indices", indices.astype(np.int64))

    def _quantize(self, w, mask, importance):
        if w.shape != self.indices.shape:
            raise EncodeError(f"FixedCodebook indices have shape {self.indices.shape}, the weights {w.shape}")
        rebuilt = self.entries.astype(np.float64)[self.indices]
        if not np.array_equal(rebuilt, w):
            raise EncodeError("weights differ from entries[indices]; export the weights the codebook produces")
        if mask is not None and np.any(rebuilt[~mask] != 0):
            raise EncodeError("a pruned weight's codebook entry is not 0.0")
        return Quantized(levels=self.indices.copy(), kind="codebook", codebook=self.entries.copy())
