"""Stage and coding registries: identifiers of spec 3.8 and section 4 mapped to their implementations.

May import: ``sparse``, ``kernels``, ``format`` and ``nncodec.errors`` (README, "Layout of the code").
"""

from ..errors import UnknownStageError, UnsupportedFeatureError
from .cabac import CabacCoding
from .cast import WideningCast
from .cer import CERLayout, CSERLayout
from .codebook import CodebookLookup
from .csr import CSRLayout
from .dense import DenseLayout
from .dq import DependentDequant
from .float_planes import FloatPlanesCoding
from .huffman import HuffmanCoding
from .raw import RawCoding
from .relidx import RelIdxLayout
from .uniform import UniformDequant
from .zstd import ShuffledZstdCoding, ZstdCoding

__all__ = ["coding_by_id", "coding_by_name", "stage_by_id", "stage_by_name", "CODINGS", "STAGES"]

CODINGS = {c.coding_id: c for c in (RawCoding(), ZstdCoding(), ShuffledZstdCoding(), HuffmanCoding(), CabacCoding(),
                                    FloatPlanesCoding())}
STAGES = {s.stage_id: s for s in (DenseLayout(), RelIdxLayout(), CSRLayout(), CERLayout(), CSERLayout(),
                                  UniformDequant(), CodebookLookup(), WideningCast(), DependentDequant())}


def coding_by_id(coding_id):
    try:
        return CODINGS[coding_id]
    except KeyError:
        raise UnsupportedFeatureError(f"[R3.8-a] unknown stream Coding {coding_id}") from None


def stage_by_id(stage_id):
    try:
        return STAGES[stage_id]
    except KeyError:
        raise UnsupportedFeatureError(f"[R4-a] unknown Stage_Id {stage_id}") from None


def coding_by_name(name):
    for c in CODINGS.values():
        if c.name == name:
            return c
    raise UnknownStageError(f"unknown coding {name!r}; known: {', '.join(c.name for c in CODINGS.values())}")


def stage_by_name(name):
    for s in STAGES.values():
        if s.name == name:
            return s
    raise UnknownStageError(f"unknown stage {name!r}; known: {', '.join(s.name for s in STAGES.values())}")
