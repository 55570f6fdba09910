#!/usr/bin/env python3
"""Fuzz target: the csr layout (spec 4.7), declaration check and decode, differential over the backends
(the reference and Cython kernels of nncodec/{reference,_cy}/layouts).

    python fuzz/fuzz_csr_decode.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/csr fuzz/corpus/csr

Input layout: see ``_harness.run_layout_decode`` (shape, params, then (Elem_Type, count, bytes) streams).
"""

import numpy as np

from _harness import LIMITS, fuzz, layout_seeds, run_layout_decode


def TestOneInput(data):
    run_layout_decode("csr", data, LIMITS)


def seeds():
    """Valid csr layouts: a sparse 3x4 float32 matrix, an int8 vector, a 2x2x3 tensor with an empty row, all zeros."""
    return layout_seeds("csr", [np.array([[0, 1.5, 0, 0], [0, 0, 0, 0], [2, 0, 0, -1]], np.float32),
                                  np.array([0, 0, 0, 7, 0, 0, 0, -3], np.int8),
                                  np.array([[[0, 0, 0], [1, 1, 0]], [[0, 0, 0], [0, 0, 0]]], np.int16),
                                  np.zeros((2, 3), np.float16)])


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
