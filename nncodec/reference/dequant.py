"""Dequantization kernels (spec 4.2 and 4.3): integer levels to floats, computed in binary64 and rounded once.

``uniform(levels, steps, axis, out_dtype)`` and ``codebook(indices, entries, out_dtype)``; the stage modules have
validated params and types before these run.
"""

import numpy as np

from ..errors import InconsistentError

__all__ = ["uniform", "codebook"]


def uniform(levels, steps, axis, out_dtype):
    """``round_out(float64(level) * float64(step))``, one step per tensor (axis None) or per index along axis."""
    values = levels.astype(np.float64)
    steps = steps.astype(np.float64)
    if axis is None:
        values *= steps[0]  # §4.2 one step for the whole tensor
    else:
        shape = [1] * levels.ndim
        shape[axis] = steps.size
        values *= steps.reshape(shape)  # §4.2 step j for index j along Axis
    return values.astype(out_dtype)


def codebook(indices, entries, out_dtype):
    """``round_out(float64(entries[index]))``; an index outside the table is an InconsistentError."""
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= entries.size):
        raise InconsistentError(f"[R4.3-c] codebook index outside 0..{entries.size - 1}")
    return entries.astype(np.float64)[indices].astype(out_dtype)
