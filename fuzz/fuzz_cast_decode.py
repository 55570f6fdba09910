#!/usr/bin/env python3
"""Fuzz target: the cast stage (spec 4.4, exact widening), differential over the backends.

    python fuzz/fuzz_cast_decode.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/cast fuzz/corpus/cast

Input layout: see ``_harness.run_transform_decode`` (input dtype, shape, params, element bytes).
"""

import numpy as np

from _harness import LIMITS, fuzz, run_transform_decode, transform_input


def TestOneInput(data):
    run_transform_decode("cast", data, LIMITS)


def seeds():
    """Every widening pair, with NaN, signalling-NaN and infinity bit patterns."""
    specials = np.array([0x7C00, 0xFC00, 0x7E01, 0x7D00, 0x3C00, 0x0001], dtype="<u2").tobytes()
    f32 = np.array([0x7FC00001, 0x7F800001, 0xFF800000, 1], dtype="<u4").tobytes()
    return [transform_input(10, (6,), bytes((12,)), specials), transform_input(11, (2, 3), bytes((13,)), specials),
            transform_input(12, (4,), bytes((13,)), f32), transform_input(10, (), bytes((13,)), specials[:2])]


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
