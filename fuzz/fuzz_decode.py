#!/usr/bin/env python3
"""Fuzz target: whole-container decode, differential over the backends (see _harness.run_decode).

    python fuzz/fuzz_decode.py -max_total_time=180 -artifact_prefix=fuzz/crashes/ /tmp/nnc-corpus fuzz/corpus/decode
"""

from _harness import fuzz, run_decode


def TestOneInput(data):
    run_decode(data)


def main():
    fuzz(TestOneInput)


if __name__ == "__main__":
    main()
