"""Every reason a test may be skipped, in one place.

Tests skip only through :func:`skip` and :func:`optional`, so each skip names one of ``REASONS``. Under
``NNCODEC_CI=1`` (set by ``.ci/run``, which installs every optional extra and has ``../shared`` beside the
checkout) a skip whose reason is not in ``CI_ALLOWED`` fails the run (see ``conftest.py``).
"""

import pytest

REASONS = {
    "cython-missing": "the Cython backend is not built",
    "shared-missing": "../shared/data/easyocr_english_g2.npz is not present",
    "optional-package": "optional package not installed:",
    "fuzz-opt-in": "opt-in: set NNCODEC_FUZZ_SMOKE=1 (needs atheris)",
    "reference-too-slow": "needs the Cython backend: the bit-serial reference takes minutes here",
    "zstd-version": "zstd vectors pin the bytes of the libzstd that wrote them:",
}
CI_ALLOWED = {"fuzz-opt-in", "zstd-version"}


def skip(key, detail=""):
    """Skip the running test for the named reason ``key`` (one of ``REASONS``)."""
    pytest.skip(f"{REASONS[key]} {detail}".strip())


def optional(module, extra=None):
    """Import the optional ``module`` or skip (reason ``optional-package``)."""
    return pytest.importorskip(module, reason=f"{REASONS['optional-package']} {module}"
                               + (f" (pip install {extra})" if extra else ""))


def key_of(reason):
    """The ``REASONS`` key a skip message was made from, or None."""
    for key, text in REASONS.items():
        if reason.startswith(text):
            return key
    return None
