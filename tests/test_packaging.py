"""The build configuration: extensions compile in parallel under ``pip install``, and pyproject.toml uses no form
that setuptools has deprecated."""

import pathlib
import re
import runpy
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _setup_call(monkeypatch, **env):
    """The keywords setup.py passes to setuptools.setup (Cython and setup itself stubbed: nothing is built, and
    Cython, a build-time requirement only, need not be installed)."""
    import setuptools
    calls = []
    monkeypatch.setattr(setuptools, "setup", lambda **kw: calls.append(kw))
    cython, build = types.ModuleType("Cython"), types.ModuleType("Cython.Build")
    build.cythonize = lambda modules, **kw: modules
    cython.Build = build
    monkeypatch.setitem(sys.modules, "Cython", cython)
    monkeypatch.setitem(sys.modules, "Cython.Build", build)
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
    text = (ROOT / "pyproject.toml").read_text()
    # the table form (license = { text = ... }) is deprecated, an error from 2027-02-18
    assert re.search(r'^license = "Apache-2\.0"$', text, re.M)
    # setuptools 77 is the first to read an SPDX license string
    assert re.search(r'^requires = \["setuptools>=77", ', text, re.M)
