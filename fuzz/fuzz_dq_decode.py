#!/usr/bin/env python3
"""Fuzz target: the dq stage (spec 4.5, dependent-quantization reconstruction) and its params parse,
differential over the backends.

    python fuzz/fuzz_dq_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/dq fuzz/corpus/dq

Input layout: see ``_harness.run_transform_decode`` (input dtype, shape, params, level bytes).
"""

import numpy as np
from _harness import LIMITS, fuzz, import_instrumented, run_transform_decode, step_transform_seeds, transform_input

from nncodec.stages.dq import DependentDequant

import_instrumented("nncodec.kernels.reference.dequant")


def TestOneInput(data):
    run_transform_decode("dq", data, LIMITS)


def seeds():
    """Valid reconstructions: see ``_harness.step_transform_seeds``; then the machines of 8, 16 and 32 states
    (the State_Count byte after the steps)."""
    stage = DependentDequant()
    levels = np.array([0, 1, -1, 2, -3, 5, 127, -128, 3, 3, -4, 1], dtype=np.int8)
    return step_transform_seeds(stage) + [transform_input(2, (3, 4), stage.stage(12, [0.5], states=states).params,
                                                          levels.tobytes()) for states in (8, 16, 32)]


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
