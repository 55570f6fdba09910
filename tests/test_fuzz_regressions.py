"""Replay the fuzz corpora and every minimized crasher through the fuzz harness, in ordinary pytest.

Files in fuzz/regressions/ are decode inputs (``run_decode``) unless their name starts with ``roundtrip-``, in
which case they are fuzzer bytes for fuzz_roundtrip's hypothesis bridge. fuzz/corpus/<target>/ holds seeds and
inputs for the target of that name. README files are skipped.
"""

import pathlib
import sys

import pytest

FUZZ = pathlib.Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))

import _harness  # noqa: E402


def _inputs():
    files = [p for p in sorted((FUZZ / "regressions").rglob("*")) if p.is_file()]
    files += [p for p in sorted((FUZZ / "corpus").glob("*/*")) if p.is_file()]
    return [pytest.param(p, id=str(p.relative_to(FUZZ))) for p in files if not p.name.upper().startswith("README")]


INPUTS = _inputs()


def _target(path):
    if path.parent.name == "regressions":
        return "roundtrip" if path.name.startswith("roundtrip-") else "decode"
    return path.parent.name


def test_there_is_something_to_replay():
    assert any(_target(p.values[0]) == "decode" for p in INPUTS)


@pytest.mark.parametrize("path", INPUTS)
def test_replay(path):
    target = _target(path)
    data = path.read_bytes()
    if target == "decode":
        result = _harness.run_decode(data)  # raises AssertionError on a non-DecodeError or a disagreement
        if path.parent.name == "decode" and path.name.startswith("seed-"):
            assert result[0][0] == "ok", f"seed {path.name} must be a valid container: {result[0]}"
    elif target == "roundtrip":
        from fuzz_roundtrip import test_roundtrip
        test_roundtrip.hypothesis.fuzz_one_input(data)
    else:
        pytest.fail(f"no replay rule for fuzz target {target!r} ({path})")
