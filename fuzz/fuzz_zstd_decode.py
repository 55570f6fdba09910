#!/usr/bin/env python3
"""Fuzz target: the zstd and zstd-shuffle stream codings (spec 5.2, 5.4): frame checks before decompressing,
differential over the backends.

    python fuzz/fuzz_zstd_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/zstd fuzz/corpus/zstd

Input layout: byte 0's low bit picks the coding (0 zstd, 1 zstd-shuffle); the rest is read by
``_harness.run_coding_decode`` (Elem_Type byte, element count, the frame).
"""

import numpy as np
import zstandard

from _harness import LIMITS, fuzz, join_count, run_coding_decode

CODINGS = ("zstd", "zstd-shuffle")


def TestOneInput(data):
    run_coding_decode(CODINGS[data[0] & 1] if data else "zstd", data[1:], LIMITS)


def _frame(raw, **options):
    return zstandard.ZstdCompressor(level=3, **options).compress(raw)


def seeds():
    """Valid frames of both codings, and frames that lie: no content size, a checksum, trailing bytes."""
    floats = np.linspace(-1, 1, 16, dtype="<f4").tobytes()
    out = []
    for coding in (0, 1):
        out += [bytes((coding, 11)) + join_count(16, _frame(floats)),            # float32 (code 12)
                bytes((coding, 0)) + join_count(40, _frame(bytes(40))),           # bool (code 1)
                bytes((coding, 7)) + join_count(3, _frame(bytes(24), write_checksum=True)),  # int64
                bytes((coding, 11)) + join_count(16, _frame(floats, write_content_size=False)),
                bytes((coding, 11)) + join_count(16, _frame(floats) + b"\0")]
    return out


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
