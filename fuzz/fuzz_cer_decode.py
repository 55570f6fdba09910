#!/usr/bin/env python3
"""Fuzz target: the cer layout (spec 4.8), declaration check and decode, differential over the backends
(the reference and Cython kernels of nncodec/{reference,_cy}/layouts).

    python fuzz/fuzz_cer_decode.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/cer fuzz/corpus/cer

Input layout: see ``_harness.run_layout_decode`` (shape, params, then (Elem_Type, count, bytes) streams).
"""

import numpy as np

from _harness import LIMITS, fuzz, layout_seeds, run_layout_decode


def TestOneInput(data):
    run_layout_decode("cer", data, LIMITS)


def seeds():
    """Valid cer layouts: a sparse 3x4 float32 matrix, an int8 vector, a 2x2x3 tensor with an empty row, all zeros."""
    return layout_seeds("cer", [np.array([[0, 1.5, 0, 0], [0, 0, 0, 0], [2, 0, 0, -1]], np.float32),
                                  np.array([0, 0, 0, 7, 0, 0, 0, -3], np.int8),
                                  np.array([[[0, 0, 0], [1, 1, 0]], [[0, 0, 0], [0, 0, 0]]], np.int16),
                                  np.zeros((2, 3), np.float16)])


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
