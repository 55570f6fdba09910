"""Shared fixtures: every backend-dependent test runs on both backends, and codec tests on the encoder x decoder
product (encode on one backend, decode on the other)."""

import os
import pathlib

import pytest
from hypothesis import HealthCheck, settings

import nncodec
from skips import CI_ALLOWED, REASONS, key_of

settings.register_profile("default", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("deep", deadline=None, max_examples=5000,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SHARED_NPZ = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "easyocr_english_g2.npz"


def _backend_params():
    return [pytest.param("reference", id="ref"),
            pytest.param("cython", id="cy", marks=[pytest.mark.cython,
                         pytest.mark.skipif("cython" not in nncodec.available_backends(),
                                            reason=REASONS["cython-missing"])])]


@pytest.fixture(params=_backend_params())
def backend(request):
    """Each backend in turn."""
    return request.param


@pytest.fixture(params=_backend_params())
def enc_backend(request):
    return request.param


@pytest.fixture(params=_backend_params())
def dec_backend(request):
    return request.param


@pytest.fixture(scope="session")
def shared_weights():
    """The real CRNN weights from ../shared, or skip when they are absent."""
    if not SHARED_NPZ.exists():
        pytest.skip(REASONS["shared-missing"])
    import numpy as np
    with np.load(SHARED_NPZ, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


_unnamed_skips = []


def _check_skip(report):
    """Under NNCODEC_CI=1, remember skips whose reason is not a named, CI-allowed one (tests/skips.py)."""
    if report.skipped and os.environ.get("NNCODEC_CI") == "1" and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2].removeprefix("Skipped: ")
        if key_of(reason) not in CI_ALLOWED:
            _unnamed_skips.append(f"{report.nodeid}: {reason}")


def pytest_runtest_logreport(report):
    _check_skip(report)


def pytest_collectreport(report):
    _check_skip(report)


def pytest_sessionfinish(session, exitstatus):
    if _unnamed_skips:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _unnamed_skips:
        terminalreporter.section("skips that CI does not allow (NNCODEC_CI=1, tests/skips.py)")
        for line in _unnamed_skips:
            terminalreporter.write_line(line)
