"""Numeric identifiers of the format mapped to names: dtype codes (spec 3.7), stage ids (3.8) and stream codings.

Plain tables with no NumPy, so that reading a container's directory (``nncodec info``) imports nothing heavy.
``nncodec.dtypes`` adds the NumPy dtypes; ``nncodec.stages`` holds the implementations under the same ids.
"""

__all__ = ["DTYPE_NAMES", "DTYPE_SIZES", "STAGE_NAMES", "CODING_NAMES", "itemsize"]

DTYPE_NAMES = {1: "bool", 2: "int8", 3: "uint8", 4: "int16", 5: "uint16", 6: "int32", 7: "uint32", 8: "int64",
               9: "uint64", 10: "float16", 11: "bfloat16", 12: "float32", 13: "float64", 14: "float8_e4m3fn",
               15: "float8_e5m2"}
DTYPE_SIZES = {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 8: 8, 9: 8, 10: 2, 11: 2, 12: 4, 13: 8, 14: 1, 15: 1}

STAGE_NAMES = {1: "dense", 2: "relidx", 3: "csr", 4: "cer", 5: "cser", 16: "uniform", 17: "codebook", 18: "cast",
               19: "dq"}
CODING_NAMES = {0: "raw", 1: "zstd", 2: "huffman", 3: "cabac", 4: "zstd-shuffle", 5: "float-planes"}


def itemsize(code):
    """Size in bytes of one element of dtype ``code``."""
    return DTYPE_SIZES[code]
