#!/usr/bin/env python3
"""Fuzz target: the cabac stream decoder (spec/cabac.md), differential over the backends.

    python fuzz/fuzz_cabac_decode.py --write-seeds /tmp/cabac-corpus
    python fuzz/fuzz_cabac_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/

Input layout: byte 0 below 0x80 is the element count itself; byte 0 >= 0x80 means bytes 1..8 hold the count
(u64le, so counts far beyond the stream's size come up). The rest is the stream. A bug is any exception other
than a :class:`nncodec.errors.DecodeError`, a result of the wrong shape or type, or backends that disagree
(different levels or different error classes). Importable without atheris: ``tests/test_cabac.py`` calls
:func:`TestOneInput` on :func:`seeds`.
"""

import numpy as np

from _harness import fuzz, import_instrumented, join_count, run_stream_decode

import nncodec
from nncodec import kernels

import_instrumented("nncodec.kernels.reference.cabac")  # imported here so that the reference decoder is instrumented

# at most 2**16 levels and 32 bins per level: the bit-serial reference stays fast on every input
LIMITS = nncodec.DecodeLimits(max_elements=1 << 16, max_expansion=64, expansion_slack=1 << 12,
                              max_bins_per_element=32)


def TestOneInput(data):
    run_stream_decode("cabac", data, LIMITS)


def seeds():
    """Valid inputs to start from: every mode, escapes, rows, several segments."""
    encode = kernels.module("cabac", "reference").encode
    rng = np.random.default_rng(0)
    cases = [(np.zeros(0, np.int64), {}), (np.array([0, 0, -2, 1, 9, -1], np.int64), {}),
             (np.round(rng.laplace(0, 5, 100)).astype(np.int64), {"row_length": 9, "segments": 3}),
             (np.array([1 << 62, -(1 << 62), 3, (1 << 20) - 1, 1 << 20, -1], np.int64), {"gt_flags": 0}),
             (rng.integers(0, 16, 90), {"bounded": "one-sided", "max_magnitude": 15, "gt_flags": 2}),
             (rng.integers(-6, 7, 70), {"bounded": "two-sided", "gt_flags": 32}),
             (np.zeros(120, np.int64), {"bounded": "one-sided"})]
    out = []
    for values, params in cases:
        out.append(join_count(values.size, encode(np.asarray(values, dtype=np.int64), **params)))
    return out


def main():
    fuzz(TestOneInput, seeds)


if __name__ == "__main__":
    main()
