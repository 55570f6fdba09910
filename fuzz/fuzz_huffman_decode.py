#!/usr/bin/env python3
"""Fuzz target: the huffman stream decoder (spec/huffman.md), differential over the backends.

    python fuzz/fuzz_huffman_decode.py --write-seeds /tmp/huffman-corpus
    python fuzz/fuzz_huffman_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/huffman-corpus

Input layout: byte 0 < 0x80 is the element count itself; byte 0 >= 0x80 means bytes 1..8 hold the count
(u64le, so counts far beyond the stream's size come up). The rest is the stream. A bug is any exception other
than a :class:`nncodec.errors.DecodeError`, or backends that disagree (different values or error classes).
Importable without atheris: ``tests/test_huffman.py`` calls :func:`TestOneInput` on :func:`seeds`.
"""

import numpy as np

from _harness import fuzz, import_instrumented, join_count, run_stream_decode

import nncodec
from nncodec import kernels

import_instrumented("nncodec.kernels.reference.huffman")  # kernels import lazily: instrument them here

# small limits keep every iteration fast: at most 4096 table entries and 2**20 elements
LIMITS = nncodec.DecodeLimits(max_alphabet=1 << 12, max_elements=1 << 20, max_expansion=64,
                              expansion_slack=1 << 16)


def TestOneInput(data):
    run_stream_decode("huffman", data, LIMITS)


def seeds():
    """Valid inputs to start from: small streams of each mode, with escapes and long codes."""
    encode = kernels.module("huffman", "reference").encode
    rng = np.random.default_rng(0)
    arrays = [np.zeros(0, np.int64), np.full(9, -5, np.int64), np.array([0, 1, 1, 0], np.int64),
              np.round(rng.laplace(0, 6, 100)).astype(np.int64),
              np.array([1 << 62, -(1 << 62), 3, 3, 3, 4, 4, 5], np.int64),
              np.repeat(np.arange(12, dtype=np.int64), [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144])]
    out = []
    for values in arrays:
        out.append(join_count(values.size, encode(values, max_length=8)))
    return out


def main():
    fuzz(TestOneInput, seeds)


if __name__ == "__main__":
    main()
