"""The state machines of dependent quantization (spec 4.5), shared by the decoder's dequantization kernels and the
encoder's trellis search: which quantizer each state uses and which state each level parity leads to."""

__all__ = ["STATE_COUNTS", "machine"]

STATE_COUNTS = (4, 8, 16, 32)  # §4.5: 4 is written without State_Count; 8, 16, 32 with it
FOUR_STATE_TRANSITION = ((0, 2), (2, 0), (1, 3), (3, 1))  # §4.5 the four-state machine
FEEDBACK = {8: (5, 2), 16: (9, 4), 32: (18, 4)}  # §4.5 (H0, H1) = (h0 >> 1, h1 >> 1) of Ungerboeck's codes


def machine(states):
    """``(odd, transition)`` for a State_Count of spec 4.5: ``odd[s]`` is 1 when state ``s`` uses Q1 (multiples
    ``2k - sgn k``), 0 for Q0 (``2k``); ``transition[s][k & 1]`` is the next state. Both are tuples."""
    if states == 4:
        return (0, 0, 1, 1), FOUR_STATE_TRANSITION
    h0, h1 = FEEDBACK[states]
    odd = tuple(s & 1 for s in range(states))
    transition = tuple(tuple((s >> 1) ^ (h0 if s & 1 else 0) ^ (h1 if parity else 0) for parity in (0, 1))
                       for s in range(states))
    return odd, transition
