#!/usr/bin/env python3
"""Fuzz target: encode -> decode round trips driven by the hypothesis strategies of tests/strategies.py.

The fuzzer's bytes choose hypothesis' draws (atheris' structured-fuzzing bridge), so the same strategies drive
pytest and the fuzzer. Each case checks determinism and backend agreement of the encoder, exact round trips on
every backend, and runs the differential decode harness on the encoded container.

    python fuzz/fuzz_roundtrip.py -max_total_time=180 -artifact_prefix=fuzz/crashes/ /tmp/nnc-rt-corpus
"""

import sys

from hypothesis import HealthCheck, given, settings

from _harness import atheris, run_decode, run_roundtrip

import strategies


@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=strategies.encode_cases())
def test_roundtrip(case):
    weights, options = case
    blob = run_roundtrip(weights, options)
    run_decode(blob)


def TestOneInput(data):
    """One fuzzer input as hypothesis' draws (what tests/test_fuzz_regressions.py replays)."""
    test_roundtrip.hypothesis.fuzz_one_input(data)


def main():
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (see fuzz/README.md)")
    atheris.Setup(sys.argv, atheris.instrument_func(test_roundtrip.hypothesis.fuzz_one_input))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
