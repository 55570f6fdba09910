#!/usr/bin/env python3
"""Fuzz target: the codebook stage (spec 4.3): params parse and index lookup, differential over the backends.

    python fuzz/fuzz_codebook_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/codebook fuzz/corpus/codebook

Input layout: see ``_harness.run_transform_decode`` (input dtype, shape, params, index bytes).
"""

import numpy as np

from _harness import LIMITS, fuzz, import_instrumented, run_transform_decode, transform_input

from nncodec.stages.codebook import CodebookLookup

import_instrumented("nncodec.kernels.reference.dequant")


def TestOneInput(data):
    run_transform_decode("codebook", data, LIMITS)


def seeds():
    """Valid lookups: uint8 and int16 indices, float16/32/64 outputs, the largest index, a 0-d input."""
    stage = CodebookLookup()
    table = np.array([-1.5, 0, 0.25, 3e38], dtype="<f4")
    return [transform_input(3, (2, 3), stage.stage(12, table).params, bytes([0, 1, 2, 3, 2, 1])),
            transform_input(4, (5,), stage.stage(10, table).params, (np.arange(5) % 4).astype("<i2").tobytes()),
            transform_input(8, (), stage.stage(13, table[:1]).params, bytes(8)),
            transform_input(3, (4, 0), stage.stage(12, table).params)]


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
