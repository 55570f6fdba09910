#!/usr/bin/env python3
"""Fuzz target: the relidx layout (spec 4.6), declaration check and decode, differential over the backends
(the reference and Cython kernels of nncodec/kernels/{reference,cython}/layouts).

    python fuzz/fuzz_relidx_decode.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/relidx fuzz/corpus/relidx

Input layout: see ``_harness.run_layout_decode`` (shape, params, then (Elem_Type, count, bytes) streams).
"""

from _harness import LIMITS, fuzz, layout_seeds, run_layout_decode


def TestOneInput(data):
    run_layout_decode("relidx", data, LIMITS)


def seeds():
    """Valid relidx layouts of the shared seed arrays (``_harness.layout_seed_arrays``)."""
    return layout_seeds("relidx", gap_bits=2)


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
