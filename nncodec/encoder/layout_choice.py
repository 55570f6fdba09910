"""Encoder-side choice of a tensor's layout stage (spec 4.1, 4.6 to 4.9): parse the ``layout=`` option, list
the candidates, and keep the one whose coded size (stream bytes plus directory bytes) is smallest."""

from ..errors import EncodeError
from ..stages import stage_by_name
from ..stages.relidx import MAX_GAP_BITS

__all__ = ["LAYOUT_CHOICES", "RELIDX_BITS", "parse_layout", "layout_candidates"]

LAYOUT_CHOICES = ("dense", "relidx", "csr", "cer", "cser", "auto")
RELIDX_BITS = tuple(range(2, 9))  # gap widths relidx tries when none is forced (bench_layouts.py: 3-6 win)


def parse_layout(spec, name=""):
    """(layout name, forced gap bits or None) from ``"dense"``, ``"relidx"``, ``"relidx:bits=5"``, ... or None."""
    if spec is None:
        return "dense", None
    if not isinstance(spec, str):
        raise EncodeError(f"tensor {name!r}: layout must be a str, got {spec!r}")
    head, _, options = spec.partition(":")
    if head not in LAYOUT_CHOICES:
        raise EncodeError(f"tensor {name!r}: layout={spec!r}; choose one of {', '.join(LAYOUT_CHOICES)}")
    if not options:
        return head, None
    key, _, value = options.partition("=")
    if head != "relidx" or key != "bits" or not value.isdigit() or not 1 <= int(value) <= MAX_GAP_BITS:
        raise EncodeError(f"tensor {name!r}: layout={spec!r}; the only option is relidx:bits=1..{MAX_GAP_BITS}")
    return head, int(value)


def layout_candidates(choice):
    """[(layout stage, encode options)] to try for a parsed ``choice`` (dense first, so ties keep dense)."""
    name, bits = choice
    relidx = stage_by_name("relidx")
    if name == "relidx":
        return [(relidx, {"gap_bits": b}) for b in ((bits,) if bits else RELIDX_BITS)]
    if name == "auto":
        return ([(stage_by_name("dense"), {})] + [(relidx, {"gap_bits": b}) for b in RELIDX_BITS]
                + [(stage_by_name(n), {}) for n in ("csr", "cer", "cser")])
    return [(stage_by_name(name), {})]
