"""The encoder's option vocabularies, without NumPy: the CLI builds its parser from them without importing
the encoder (``nncodec.encoder`` uses the same tuples)."""

__all__ = ["FLOAT_CODINGS", "INTEGER_CODINGS", "CAST_CHOICES"]

FLOAT_CODINGS = ("none", "zstd", "zstd-shuffle", "float-planes", "auto")
INTEGER_CODINGS = ("raw", "zstd", "huffman", "cabac", "auto")
CAST_CHOICES = {"float16": 10, "bfloat16": 11}  # ``cast=`` value -> dtype code stored (spec 3.7)
