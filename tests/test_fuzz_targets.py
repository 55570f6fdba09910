"""The fuzz targets themselves: the structure-aware mutator reaches the deep checks, the stage harnesses reject
what they must, and (opt-in) a short libFuzzer run of every target.

The smoke run needs atheris and ``NNCODEC_FUZZ_SMOKE=1`` and is run by hand, not by CI (which installs no
atheris): ``NNCODEC_FUZZ_SMOKE=1 python -m pytest -q -m fuzz_smoke``.
"""

import collections
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

FUZZ = pathlib.Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))

import _harness  # noqa: E402
import fuzz_structured  # noqa: E402

from nncodec.stages.uniform import UniformDequant  # noqa: E402
from skips import optional, REASONS

SMOKE_TARGETS = ("decode", "structured", "roundtrip", "huffman", "cabac", "codebook", "uniform", "dq", "cast",
                 "zstd", "dense", "relidx", "csr", "cer", "cser", "safetensors", "architecture", "trailer")


def test_structured_mutations_reach_deep_checks():
    """Re-sealed field edits must fail beyond the checksums, with several different rule classes."""
    outcomes = collections.Counter()

    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(blob=fuzz_structured.strategies.record_containers(max_tensors=2), data=st.data())
    def run(blob, data):
        status, detail = _harness.run_decode(fuzz_structured.mutate(blob, data.draw))[0]
        outcomes[detail if status == "error" else "ok"] += 1

    run()
    deep = {k: n for k, n in outcomes.items() if k not in ("ok", "ChecksumError")}
    # which classes appear depends on the strategies' draws (optional packages change them): at least two rule
    # classes, and a quarter of the edits caught by a rule beyond the checksums
    assert len(deep) >= 2 and sum(deep.values()) >= 10, outcomes


@pytest.mark.parametrize("coding", ["raw", "zstd", "zstd-shuffle", "huffman", "cabac"])
def test_coding_harness_rejects_a_huge_count_before_work(coding):
    """A 3-byte stream declaring 10**9 elements is a LimitExceededError on every backend (spec 6 amplification)."""
    data = bytes((7,)) + _harness.join_count(10 ** 9, b"\x28\xb5\x2f")
    assert _harness.run_coding_decode(coding, data, _harness.LIMITS) == ("error", "LimitExceededError R6")


def test_transform_harness_checks_output_shape_and_type():
    params = UniformDequant().stage(12, [0.5]).params
    status, (dtype, shape, raw) = _harness.run_transform_decode(
        "uniform", _harness.transform_input(2, (2, 3), params, bytes([1, 255])), _harness.LIMITS)
    assert status == "ok" and dtype == "<f4" and shape == (2, 3)
    assert np.frombuffer(raw, "<f4").tolist() == [0.5, -0.5] * 3


@pytest.mark.fuzz_smoke
@pytest.mark.skipif(os.environ.get("NNCODEC_FUZZ_SMOKE") != "1", reason=REASONS["fuzz-opt-in"])
@pytest.mark.parametrize("target", SMOKE_TARGETS)
def test_fuzz_smoke(target, tmp_path):
    """About 3 s of libFuzzer per target (about 60 s for all, with start-up), from the committed corpus; any
    finding fails the test."""
    optional("atheris", "atheris")
    script = FUZZ / f"fuzz_{target}.py"
    script = script if script.exists() else FUZZ / f"fuzz_{target}_decode.py"
    corpus = [str(FUZZ / "corpus" / target)] if (FUZZ / "corpus" / target).is_dir() else []
    result = subprocess.run([sys.executable, str(script), "-max_total_time=2", "-timeout=10", "-rss_limit_mb=2048",
                             f"-artifact_prefix={tmp_path}/", str(tmp_path)] + corpus,
                            capture_output=True, text=True, cwd=FUZZ.parent, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
