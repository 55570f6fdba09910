"""Decoder limits (spec section 6): the caps a decoder checks before it allocates."""

from dataclasses import dataclass, fields

from ..errors import LimitExceededError

__all__ = ["DecodeLimits", "DEFAULT_LIMITS", "LIMIT_CEILING"]

LIMIT_CEILING = 2**56  # no limit may exceed this: sizes stay far from NumPy's and int64's own bounds


@dataclass(frozen=True)
class DecodeLimits:
    """Caps on what a container may declare; a breach raises :class:`~nncodec.errors.LimitExceededError`.

    Set smaller values when decoding input from an untrusted source on a small device. The defaults and their
    rationale are in spec section 6.
    """

    max_input_bytes: int = 2**40
    max_directory_bytes: int = 2**26
    max_tensors: int = 2**20
    max_metadata_bytes: int = 2**24
    max_params_bytes: int = 2**20
    max_elements: int = 2**34
    max_output_bytes: int = 2**36
    max_expansion: int = 1024
    expansion_slack: int = 2**24
    max_alphabet: int = 2**16
    max_bins_per_element: int = 128
    max_product_macs: int = 2**36
    max_zstd_window: int = 2**27

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= LIMIT_CEILING:
                raise ValueError(f"DecodeLimits.{f.name} must be an int in [0, 2**56], got {value!r}")

    def check(self, name, declared, rule="R6"):
        """Raise LimitExceededError if ``declared`` exceeds the limit called ``name``."""
        maximum = getattr(self, name)
        if declared > maximum:
            raise LimitExceededError(
                f"[{rule}] {name}: declared {declared} exceeds the limit {maximum}",
                limit=name, declared=declared, maximum=maximum)

    def check_expansion(self, decoded_bytes, stored_bytes):
        """Raise LimitExceededError if streams of ``stored_bytes`` (one stream, or all a call reads) would decode
        to too many bytes."""
        allowed = self.max_expansion * stored_bytes + self.expansion_slack
        if decoded_bytes > allowed:
            raise LimitExceededError(
                f"[R6] max_expansion: {stored_bytes} stored bytes declare {decoded_bytes} decoded bytes, "
                f"more than {self.max_expansion} x {stored_bytes} + {self.expansion_slack}",
                limit="max_expansion", declared=decoded_bytes, maximum=allowed)


DEFAULT_LIMITS = DecodeLimits()
