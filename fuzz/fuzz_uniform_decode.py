#!/usr/bin/env python3
"""Fuzz target: the uniform stage (spec 4.2, scalar dequantization) and its params parse,
differential over the backends.

    python fuzz/fuzz_uniform_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/uniform fuzz/corpus/uniform

Input layout: see ``_harness.run_transform_decode`` (input dtype, shape, params, level bytes).
"""

from _harness import LIMITS, fuzz, import_instrumented, run_transform_decode, step_transform_seeds

from nncodec.stages.uniform import UniformDequant

import_instrumented("nncodec.kernels.reference.dequant")


def TestOneInput(data):
    run_transform_decode("uniform", data, LIMITS)


def seeds():
    """Valid dequantizations: see ``_harness.step_transform_seeds``."""
    return step_transform_seeds(UniformDequant())


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
