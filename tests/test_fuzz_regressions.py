"""Replay the fuzz corpora and every minimized crasher through the fuzz targets, in ordinary pytest.

A file in fuzz/regressions/ named ``<target>-<what-broke>.<ext>`` is an input of the target ``<target>``
(``decode``, ``roundtrip``, ``dq``, ``huffman``, ...); fuzz/corpus/<target>/ holds seeds and inputs for the target
of that name. The target is the module ``fuzz/fuzz_<target>.py`` or ``fuzz/fuzz_<target>_decode.py``, and its
``TestOneInput`` raises AssertionError on a bug. README files are skipped.
"""

import importlib
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
        return path.name.split("-", 1)[0]
    return path.parent.name


def _module(target):
    for name in (f"fuzz_{target}", f"fuzz_{target}_decode"):
        if (FUZZ / f"{name}.py").exists():
            return importlib.import_module(name)
    pytest.fail(f"no fuzz target module for {target!r}")


def test_there_is_something_to_replay():
    assert any(_target(p.values[0]) == "decode" for p in INPUTS)


@pytest.mark.parametrize("path", INPUTS)
def test_replay(path):
    target = _target(path)
    data = path.read_bytes()
    if target == "decode" and path.name.startswith("seed-"):
        result = _harness.run_decode(data)
        assert result[0][0] == "ok", f"seed {path.name} must be a valid container: {result[0]}"
    else:
        _module(target).TestOneInput(data)  # raises AssertionError on an escaped exception or a disagreement
