#!/usr/bin/env python3
"""Fuzz target: the dense layout (spec 4.1), declaration check and decode, differential over the backends.
The template for the sparse layouts (relidx, CSR, CER, CSER): same harness call with their stage name and seeds.

    python fuzz/fuzz_dense_decode.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/dense fuzz/corpus/dense

Input layout: see ``_harness.run_layout_decode`` (shape, params, then (Elem_Type, count, bytes) streams).
"""

from _harness import LIMITS, fuzz, layout_input, run_layout_decode


def TestOneInput(data):
    run_layout_decode("dense", data, LIMITS)


def seeds():
    """Valid dense layouts: a 2x3 float32, a bool vector, a 0-d int64, an empty shape."""
    return [layout_input((2, 3), b"", [(12, 6, bytes(24))]), layout_input((4,), b"", [(1, 4, bytes((0, 1, 1, 0)))]),
            layout_input((), b"", [(8, 1, bytes(8))]), layout_input((3, 0), b"", [(10, 0, b"")])]


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
