"""The build configuration: extensions compile in parallel under ``pip install``, and pyproject.toml uses no form
that setuptools has deprecated."""

import pathlib
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _setup_call(monkeypatch, **env):
    """The keywords setup.py passes to setuptools.setup (cythonize and setup itself stubbed: nothing is built)."""
    pytest.importorskip("Cython")
    import Cython.Build
    import setuptools
    calls = []
    monkeypatch.setattr(setuptools, "setup", lambda **kw: calls.append(kw))
    monkeypatch.setattr(Cython.Build, "cythonize", lambda modules, **kw: modules)
    monkeypatch.setenv("NNCODEC_NO_OPENMP", "1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(ROOT)
    namespace = runpy.run_path(str(ROOT / "setup.py"))
    return calls[0], namespace


def test_extensions_compile_in_parallel(monkeypatch):
    monkeypatch.delenv("NNCODEC_BUILD_JOBS", raising=False)
    call, namespace = _setup_call(monkeypatch)
    assert len(call["ext_modules"]) == len(list((ROOT / "nncodec/kernels/cython").glob("*.pyx")))
    assert call["options"]["build_ext"]["parallel"] == namespace["build_jobs"]() >= 1
    call, _ = _setup_call(monkeypatch, NNCODEC_BUILD_JOBS="3")
    assert call["options"]["build_ext"]["parallel"] == 3


def test_license_is_an_spdx_expression():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"  # the table form is deprecated (an error from 2027-02-18)
    setuptools = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools == ["setuptools>=77"]  # the first setuptools that reads an SPDX license string
