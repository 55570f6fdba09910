"""Fuzz target: whole-container decode, differential over the backends (see _harness.run_decode).

    python fuzz/fuzz_decode.py -max_total_time=180 -artifact_prefix=fuzz/crashes/ /tmp/nnc-corpus fuzz/corpus/decode
"""

import sys

from _harness import atheris, run_decode


def TestOneInput(data):
    run_decode(data)


def main():
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (see fuzz/README.md)")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
