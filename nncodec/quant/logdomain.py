"""Power-of-two (logarithmic) quantization: every weight becomes 0 or ±2**e, so a multiply becomes a shift."""

from dataclasses import dataclass

import numpy as np

from .base import Quantized, Quantizer, check_int, nearest_index, spec_value

__all__ = ["LogQuantizer", "power_of_two_codebook"]

SMALLEST_EXPONENT = -149  # 2**-149 is the smallest positive float32


@dataclass(frozen=True)
class LogQuantizer(Quantizer, spec_name="log"):
    """Codebook quantizer over :func:`power_of_two_codebook` of the kept weights' largest magnitude; each weight
    goes to its nearest entry in the linear domain (ties to the lower entry); pruned weights go to 0.0.
    ``importance`` is not used (the table is fixed by ``bits`` and max|w|)."""

    bits: int = 4

    def __post_init__(self):
        check_int(self.bits, "bits", 2, 8)

    def _quantize(self, w, mask, importance):
        kept = np.abs(w) if mask is None else np.where(mask, np.abs(w), 0.0)
        table = power_of_two_codebook(float(kept.max(initial=0.0)), self.bits)
        levels = nearest_index(table.astype(np.float64), w)
        if mask is not None:
            levels[~mask] = np.searchsorted(table, np.float32(0.0))
        return Quantized(levels=levels, kind="codebook", codebook=table)

    def config(self):
        return f"log:bits={self.bits}"

    @classmethod
    def from_options(cls, options, spec):
        bits = spec_value(options, "bits", int, spec, ("bits",))
        return cls() if bits is None else cls(bits=bits)


def power_of_two_codebook(peak, bits):
    """Sorted float32 table ``{0} ∪ {±2**e}`` for the ``2**(bits-1) - 1`` exponents ``e_top, e_top - 1, ...``
    where ``e_top = floor(log2(peak))`` (so ``2**e_top <= peak < 2**(e_top + 1)``), leaving out exponents below
    -149 (not float32). At most ``2**bits - 1`` entries; just ``[0.0]`` when ``peak`` is 0."""
    if peak <= 0:
        return np.zeros(1, dtype=np.float32)
    top = int(np.frexp(peak)[1]) - 1  # frexp: peak = m * 2**e with 0.5 <= m < 1
    exponents = np.arange(max(top - (2 ** (bits - 1) - 2), SMALLEST_EXPONENT), top + 1)
    powers = np.ldexp(1.0, exponents)
    return np.concatenate([-powers[::-1], [0.0], powers]).astype(np.float32)
