#!/usr/bin/env python3
"""Fuzz target: the dq stage (spec 4.5, dependent-quantization reconstruction) and its params parse,
differential over the backends.

    python fuzz/fuzz_dq_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/dq fuzz/corpus/dq

Input layout: see ``_harness.run_transform_decode`` (input dtype, shape, params, level bytes).
"""

from _harness import LIMITS, fuzz, import_instrumented, run_transform_decode, step_transform_seeds

from nncodec.stages.dq import DependentDequant

import_instrumented("nncodec.reference.dequant")


def TestOneInput(data):
    run_transform_decode("dq", data, LIMITS)


def seeds():
    """Valid reconstructions: see ``_harness.step_transform_seeds``."""
    return step_transform_seeds(DependentDequant())


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
