#!/usr/bin/env python3
"""Fuzz target: the uniform stage (spec 4.2, scalar dequantization) and its params parse,
differential over the backends.

    python fuzz/fuzz_uniform_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/uniform fuzz/corpus/uniform

Input layout: see ``_harness.run_transform_decode`` (input dtype, shape, params, level bytes).
"""

import numpy as np

from _harness import LIMITS, fuzz, import_instrumented, run_transform_decode, transform_input

from nncodec.stages.uniform import UniformDequant

import_instrumented("nncodec.reference.dequant")


def TestOneInput(data):
    run_transform_decode("uniform", data, LIMITS)


def seeds():
    """Valid dequantizations: per-tensor and per-channel steps, int8..int64 levels, extreme levels."""
    stage = UniformDequant()
    levels = np.array([0, 1, -1, 2, -3, 5, 127, -128], dtype=np.int8)
    huge = np.array([(1 << 62) - 1, -(1 << 62) + 1, 3], dtype="<i8")
    return [transform_input(2, (8,), stage.stage(12, [0.5]).params, levels.tobytes()),
            transform_input(2, (2, 4), stage.stage(10, [0.25, 2.0], axis=0).params, levels.tobytes()),
            transform_input(4, (4, 2), stage.stage(13, [1e-3, 7.0], axis=1).params, levels.astype("<i2").tobytes()),
            transform_input(8, (3,), stage.stage(12, [1.0]).params, huge.tobytes())]


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
