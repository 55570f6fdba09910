#!/usr/bin/env python3
"""Fuzz target: the csr layout (spec 4.7), declaration check and decode, differential over the backends
(the reference and Cython kernels of nncodec/kernels/{reference,cython}/layouts).

    python fuzz/fuzz_csr_decode.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/csr fuzz/corpus/csr

Input layout: see ``_harness.run_layout_decode`` (shape, params, then (Elem_Type, count, bytes) streams).
"""

from _harness import LIMITS, fuzz, layout_seeds, run_layout_decode


def TestOneInput(data):
    run_layout_decode("csr", data, LIMITS)


def seeds():
    """Valid csr layouts of the shared seed arrays (``_harness.layout_seed_arrays``)."""
    return layout_seeds("csr")


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
