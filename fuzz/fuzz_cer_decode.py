#!/usr/bin/env python3
"""Fuzz target: the cer layout (spec 4.8), declaration check and decode, differential over the backends
(the reference and Cython kernels of nncodec/kernels/{reference,cython}/layouts).

    python fuzz/fuzz_cer_decode.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/cer fuzz/corpus/cer

Input layout: see ``_harness.run_layout_decode`` (shape, params, then (Elem_Type, count, bytes) streams).
"""

from _harness import LIMITS, fuzz, layout_seeds, run_layout_decode


def TestOneInput(data):
    run_layout_decode("cer", data, LIMITS)


def seeds():
    """Valid cer layouts of the shared seed arrays (``_harness.layout_seed_arrays``)."""
    return layout_seeds("cer")


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
