"""Dequantization kernels (spec 4.2, 4.3 and 4.5): integer levels to floats, computed in binary64 and rounded once.

``uniform(levels, steps, axis, out_dtype)``, ``codebook(indices, entries, out_dtype)`` and
``dependent(levels, steps, axis, out_dtype, states)``; the stage modules have validated params and types before
these run. ``to_bfloat16(values)`` is the rounding of spec 4 from binary64 to bfloat16.
"""

import numpy as np

from ..dq_machine import machine
from ...errors import InconsistentError
from ...format.dtypes import numpy_dtype

__all__ = ["uniform", "codebook", "dependent", "to_bfloat16"]

BFLOAT16 = numpy_dtype(11)
QUIET_NAN = 0x7FC0  # §4: a NaN result becomes this bfloat16 NaN, with the result's sign


def to_bfloat16(values):
    """binary64 ``values`` rounded once to bfloat16, to nearest, ties to even (spec 4): first to binary32 by
    rounding to odd (toward zero, the last bit set when inexact), then to bfloat16 to nearest even; binary32 keeps
    16 more bits than bfloat16 over the same exponent range, so the second rounding gives the direct result (rounding
    to nearest twice would not: 1 + 2**-8 + 2**-30 would become 1.0). NaN gives the quiet NaN with its sign."""
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        nearest = x.astype(np.float32)  # to nearest even; |x| beyond the binary32 range gives inf
        # a magnitude the nearest rounding increased steps one binary32 down toward zero (inf to the largest finite)
        bits = nearest.view(np.uint32) - (np.abs(nearest.astype(np.float64)) > np.abs(x)).astype(np.uint32)
        bits |= (bits.view(np.float32).astype(np.float64) != x).astype(np.uint32)  # inexact: the odd bit
        out = bits.view(np.float32).astype(BFLOAT16)  # binary32 to bfloat16: nearest even
    nan = np.isnan(x)
    if nan.any():
        out.view(np.uint16)[nan] = QUIET_NAN | (np.signbit(x[nan]).astype(np.uint16) << 15)
    return out


def _round_out(values, out_dtype):
    """binary64 ``values`` rounded once to ``out_dtype`` (spec 4)."""
    return to_bfloat16(values) if out_dtype == BFLOAT16 else values.astype(out_dtype)


CHUNK = 1 << 20  # elements converted at a time: the binary64 and int64 temporaries stay small beside the output


def uniform(levels, steps, axis, out_dtype):
    """``round_out(float64(level) * float64(step))``, one step per tensor (axis None) or per index along axis."""
    flat = levels.reshape(-1)
    out = np.empty(flat.size, dtype=out_dtype)
    for lo, step in _chunk_steps(levels.shape, steps, axis):
        # exact for |level| < 2**53; larger ones round as binary64 does; the assignment rounds to out_dtype once
        out[lo:lo + step.size] = _round_out(flat[lo:lo + step.size].astype(np.float64) * step, out_dtype)
    return out.reshape(levels.shape)


def _chunk_steps(shape, steps, axis):
    """(first element, binary64 steps of its chunk) over the C-order elements of a tensor of ``shape``: §4.2 one
    step for the whole tensor (axis None), else step j for index j along axis."""
    count = int(np.prod(shape, dtype=np.int64))
    steps = steps.astype(np.float64)
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64)) if axis is not None else 1
    for lo in range(0, count, CHUNK):
        hi = min(count, lo + CHUNK)
        index = 0 if axis is None else (np.arange(lo, hi) // inner) % steps.size
        yield lo, np.broadcast_to(steps[index], (hi - lo,))


def codebook(indices, entries, out_dtype):
    """``round_out(float64(entries[index]))``; an index outside the table is an InconsistentError."""
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= entries.size):
        raise InconsistentError(f"[R4.3-c] codebook index outside 0..{entries.size - 1}")
    # indexed through the flat view: a 0-d index array would give a NumPy scalar, not a 0-d array
    return _round_out(entries.astype(np.float64)[indices.reshape(-1)].reshape(indices.shape), out_dtype)


DQ_MAX_ABS_LEVEL = 2 ** 62


def dependent(levels, steps, axis, out_dtype, states=4):
    """Dependent dequantization (spec 4.5): ``m * step`` with ``m = 2k`` in the states that use Q0 and
    ``2k - sgn(k)`` in those that use Q1, the machine of ``states`` states (4, 8, 16 or 32) walked in C order.

    A level with ``|k| >= 2**62`` (whose multiple would not fit in 64 bits) is an InconsistentError [R4.5-a]."""
    # exact integer bounds, checked before the int64 conversion (float64 would round 2**62 - 1 up to 2**62, and
    # uint64 levels of 2**63 and above would wrap negative)
    if levels.size and (int(levels.max()) >= DQ_MAX_ABS_LEVEL or int(levels.min()) <= -DQ_MAX_ABS_LEVEL):
        raise InconsistentError("[R4.5-a] dq level magnitude reaches 2**62")
    odd, transition = machine(states)
    q1_states = np.asarray(odd, dtype=bool)
    flat = levels.reshape(-1)
    out = np.empty(flat.size, dtype=out_dtype)
    state = 0  # §4.5 the machine starts in state 0 at the first element, C order
    for lo, step in _chunk_steps(levels.shape, steps, axis):
        k = flat[lo:lo + step.size].astype(np.int64)
        states, state = _states(k & 1, transition, state)
        multiples = 2 * k - np.where(q1_states[states], np.sign(k), 0)  # §4.5 Q1: 2k - sgn(k); Q0: 2k
        out[lo:lo + step.size] = _round_out(multiples.astype(np.float64) * step, out_dtype)  # §4.2, rounded once
    return out.reshape(levels.shape)


def _states(parities, transition, start):
    """(the machine's state before each element, the state after the last) from state ``start`` (§4.5:
    ``transition[state][parity]``), walked eight elements at a time: ``before[s, b]`` holds the states met by
    the eight elements whose parities are the bits of byte ``b`` (element i in bit i) when they start in ``s``, and
    ``after[s, b]`` the state they leave; only the walk from byte to byte is sequential. ``parities`` holds a
    multiple of 8 elements except in the tensor's last chunk, so the padding bits never lead anywhere used."""
    table = np.asarray(transition, dtype=np.uint8)
    bits = np.arange(256)
    state = np.repeat(np.arange(len(transition), dtype=np.uint8)[:, None], 256, axis=1)
    before = np.empty(state.shape + (8,), dtype=np.uint8)
    for i in range(8):
        before[:, :, i] = state
        state = table[state, (bits >> i) & 1]
    after = state.tolist()
    packed = np.packbits(parities.astype(np.uint8), bitorder="little")
    starts, current = [], start
    for byte in packed.tolist():
        starts.append(current)
        current = after[current][byte]
    return before[np.asarray(starts, dtype=np.intp), packed].reshape(-1)[:parities.size], current
