"""Encoder-side lossy front end, NumPy only: pruning masks, then quantizers that turn float weights into integer
levels plus steps (``uniform`` stage) or a float32 table (``codebook`` stage).

>>> q = parse_quantizer("uniform:bits=8,axis=0").quantize(w, mask=magnitude_masks({"w": w}, 0.5)["w"])
>>> q.levels, q.steps, q.reconstruct()

May import: ``kernels``, ``format`` and ``nncodec.errors``; the encoder and ``nncodec.train`` build on it.
"""

from .base import Quantized, Quantizer, parse_quantizer
from .binary import BinaryQuantizer, TernaryQuantizer
from .dependent import DependentQuantizer
from .fixed import FixedCodebook
from .kmeans import KMeansQuantizer, kmeans_1d
from .logdomain import LogQuantizer, power_of_two_codebook
from .metrics import max_abs_error, sqnr_db
from .rdoq import RDOQuantizer
from .prune import magnitude_masks, parse_prune, std_masks, structured_masks
from .uniform import UniformQuantizer, sqnr_step_bracket

__all__ = [
    "Quantized", "Quantizer", "parse_quantizer", "UniformQuantizer", "KMeansQuantizer", "LogQuantizer",
    "BinaryQuantizer", "TernaryQuantizer", "FixedCodebook", "RDOQuantizer", "DependentQuantizer", "kmeans_1d", "power_of_two_codebook", "sqnr_step_bracket",
    "magnitude_masks", "std_masks", "structured_masks", "parse_prune", "sqnr_db", "max_abs_error",
]
