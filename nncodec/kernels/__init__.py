"""The kernels of every stage, in two twins that give identical bytes and arrays: ``cython/`` (compiled) and
``reference/`` (pure NumPy), and the choice between them.

May import: ``nncodec.errors`` and ``nncodec.format`` (the kernels parse directory records). Nothing above.
Also here: ``dq_machine`` (the state machine of spec 5.5.3 both twins share) and ``parallel`` (the thread policy).

``NNCODEC_BACKEND`` = ``auto`` (default: Cython if it imports, else reference) | ``cython`` | ``reference``.
Any other value is an error at import. Every public entry point also takes ``backend=`` to override it per call,
which tests and the differential fuzzer use. ``NNCODEC_REQUIRE_CYTHON=1`` turns a silent fallback into an error.
"""

import importlib
import os

from ..errors import BackendUnavailableError

__all__ = ["BACKENDS", "default_backend", "available_backends", "module", "resolve"]

BACKENDS = ("cython", "reference")
_PACKAGES = {"cython": "nncodec.kernels.cython", "reference": "nncodec.kernels.reference"}
_cache = {}

# OpenMP threads that spin while they wait (libgomp's default) turn a 0.4 ms two-thread product into 8-12 ms as
# soon as another process holds a core (measured: 4096 x 4096 CSR, 10 %, batch 1, load average 2). Waiting
# passively costs a few microseconds per parallel region instead. libgomp reads this when it is loaded, i.e. when
# the first OpenMP kernel is imported, so it is set here, before; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _cython_available():
    try:
        importlib.import_module("nncodec.kernels.cython.directory")
    except ImportError:
        return False
    return True


def available_backends():
    """Names of the backends that can be used in this installation."""
    return tuple(b for b in BACKENDS if b == "reference" or _cython_available())


def _select(choice):
    if choice == "auto":
        return "cython" if _cython_available() else "reference"
    if choice not in BACKENDS:
        raise ValueError(f"unknown nncodec backend {choice!r}: use auto, cython or reference")
    if choice == "cython" and not _cython_available():
        raise BackendUnavailableError("the Cython backend was requested but nncodec.kernels.cython is not built "
                                      "(reinstall with a C compiler: pip install .)")
    return choice


default_backend = _select(os.environ.get("NNCODEC_BACKEND", "auto").strip().lower() or "auto")
if os.environ.get("NNCODEC_REQUIRE_CYTHON") == "1" and default_backend != "cython":
    raise BackendUnavailableError("NNCODEC_REQUIRE_CYTHON=1 but the Cython backend is not in use")


def resolve(backend):
    """The backend name to use for a call: ``backend`` if given (validated), else the default."""
    return default_backend if backend is None else _select(backend)


def module(name, backend=None):
    """The kernel module ``name`` of the chosen backend (e.g. ``module("huffman", "cython")``)."""
    backend = resolve(backend)
    key = (name, backend)
    module = _cache.get(key)
    if module is None:
        module = _cache[key] = importlib.import_module(f"{_PACKAGES[backend]}.{name}")
    return module
