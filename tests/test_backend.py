"""Backend selection (nncodec/kernels/__init__.py) and the twin rule: every Cython module mirrors its reference twin."""

import importlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import nncodec
from nncodec import kernels
from skips import REASONS, skip

ROOT = pathlib.Path(__file__).resolve().parents[1]
TWINS = sorted(p.stem for p in (ROOT / "nncodec" / "kernels" / "cython").glob("*.pyx"))
needs_cython = pytest.mark.skipif("cython" not in nncodec.available_backends(), reason=REASONS["cython-missing"])


def test_backend_attribute():
    assert nncodec.backend in ("cython", "reference")
    assert nncodec.backend in nncodec.available_backends()


def test_available_backends():
    available = nncodec.available_backends()
    assert isinstance(available, tuple) and "reference" in available
    assert set(available) <= {"cython", "reference"}
    assert list(available) == [b for b in ("cython", "reference") if b in available]  # preference order


def test_ci_requires_cython():
    """CI sets NNCODEC_REQUIRE_CYTHON=1 so that a broken build cannot pass on the reference backend silently."""
    if os.environ.get("NNCODEC_REQUIRE_CYTHON") == "1":
        assert nncodec.backend == "cython"
    else:  # without the requirement, the default follows NNCODEC_BACKEND (auto: Cython when it is built)
        choice = os.environ.get("NNCODEC_BACKEND", "auto").strip().lower() or "auto"
        auto = "cython" if "cython" in nncodec.available_backends() else "reference"
        assert nncodec.backend == (auto if choice == "auto" else choice)


@pytest.mark.parametrize("bad", ["bogus", "Cython ", "c", "", "auto"])
def test_unknown_backend_argument(bad):
    """Per-call backend= takes exactly "cython" or "reference" (or None for the default)."""
    blob = nncodec.encode({"a": np.zeros(2)})
    if bad == "auto":  # "auto" is an environment value, not a per-call choice
        bad = "automatic"
    for call in (lambda: nncodec.encode({"a": np.zeros(2)}, backend=bad),
                 lambda: nncodec.decode(blob, backend=bad),
                 lambda: nncodec.open(blob, backend=bad)):
        with pytest.raises(ValueError, match="backend"):
            call()


def test_explicit_backend_per_call(backend):
    blob = nncodec.encode({"a": np.arange(3)}, backend=backend)
    reader = nncodec.open(blob, backend=backend)
    assert reader.backend == backend
    package = {"cython": "nncodec.kernels.cython", "reference": "nncodec.kernels.reference"}[backend]
    assert kernels.module("directory", backend).__name__ == f"{package}.directory"
    assert list(nncodec.decode(blob, backend=backend)["a"]) == [0, 1, 2]


# -- NNCODEC_BACKEND at import, in a fresh interpreter ----------------------------------------------------------

PROBE = """
import sys, numpy as np, nncodec
blob = nncodec.encode({"a": np.arange(3)})
assert list(nncodec.decode(blob)["a"]) == [0, 1, 2]
cy = sorted(m for m in sys.modules if m.startswith("nncodec.kernels.cython."))
print(nncodec.backend, ",".join(cy) or "-")
"""


def _probe(env_backend=None, require=None):
    env = {k: v for k, v in os.environ.items() if k not in ("NNCODEC_BACKEND", "NNCODEC_REQUIRE_CYTHON")}
    if env_backend is not None:
        env["NNCODEC_BACKEND"] = env_backend
    if require is not None:
        env["NNCODEC_REQUIRE_CYTHON"] = require
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_env_reference():
    """NNCODEC_BACKEND=reference selects the reference backend and never imports the Cython modules."""
    proc = _probe("reference")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["reference", "-"]
    proc = _probe("  Reference ")
    assert proc.returncode == 0 and proc.stdout.split()[0] == "reference", proc.stderr


@needs_cython
def test_env_cython():
    proc = _probe("cython", require="1")
    assert proc.returncode == 0, proc.stderr
    backend, modules = proc.stdout.split()
    assert backend == "cython" and "nncodec.kernels.cython.directory" in modules.split(",")


@pytest.mark.parametrize("value", [None, "auto", ""])
def test_env_auto(value):
    proc = _probe(value)
    assert proc.returncode == 0, proc.stderr
    expected = "cython" if "cython" in nncodec.available_backends() else "reference"
    assert proc.stdout.split()[0] == expected


@pytest.mark.parametrize("value", ["bogus", "cyton", "python"])
def test_env_bogus_fails_at_import(value):
    proc = _probe(value)
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and "unknown nncodec backend" in proc.stderr and value in proc.stderr


def test_env_require_cython_refuses_reference():
    proc = _probe("reference", require="1")
    assert proc.returncode != 0
    assert "BackendUnavailableError" in proc.stderr and "NNCODEC_REQUIRE_CYTHON" in proc.stderr


# -- the twin rule ----------------------------------------------------------------------------------------------

def test_there_are_twins():
    assert "directory" in TWINS


@needs_cython
@pytest.mark.parametrize("name", TWINS)
def test_twin_exports_match(name):
    """Each nncodec.kernels.cython.X exports exactly the public names of nncodec.kernels.reference.X, and both define them."""
    try:
        cy = importlib.import_module(f"nncodec.kernels.cython.{name}")
    except ModuleNotFoundError:
        if os.environ.get("NNCODEC_REQUIRE_CYTHON") == "1":
            raise
        skip("cython-missing", f"(nncodec/kernels/cython/{name}.pyx: run setup.py build_ext --inplace)")
    ref = importlib.import_module(f"nncodec.kernels.reference.{name}")
    assert hasattr(ref, "__all__") and hasattr(cy, "__all__"), name
    assert sorted(cy.__all__) == sorted(ref.__all__), name
    for public in ref.__all__:
        assert callable(getattr(ref, public)) == callable(getattr(cy, public)), public
    assert kernels.module(name, "cython") is cy and kernels.module(name, "reference") is ref


@pytest.mark.parametrize("given,expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_wait_passively_unless_told(given, expected):
    """Spinning OpenMP threads make a two-thread product 20x slower when another process holds a core, so the
    kernels set OMP_WAIT_POLICY=PASSIVE before libgomp loads; a value the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    probe = "import os, nncodec.kernels; print(os.environ['OMP_WAIT_POLICY'])"
    proc = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == expected, proc.stderr
