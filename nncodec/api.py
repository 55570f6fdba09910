"""The public API, a facade: ``encode`` and ``save`` (nncodec.encoder.model), ``decode``, ``load``, ``open`` and
``Reader`` (nncodec.decoder.reader)."""

from .decoder.reader import Reader, decode, load, open
from .encoder.model import COMPRESS_CHOICES, ENTROPY_CHOICES, encode, save

__all__ = ["encode", "decode", "save", "load", "open", "Reader", "COMPRESS_CHOICES", "ENTROPY_CHOICES"]
