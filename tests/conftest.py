"""Shared fixtures: every backend-dependent test runs on both backends, and codec tests on the encoder x decoder
product (encode on one backend, decode on the other)."""

import os
import pathlib

import pytest
from hypothesis import HealthCheck, settings

import nncodec

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
                                            reason="Cython backend not built")])]


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
        pytest.skip("../shared/data/easyocr_english_g2.npz not present")
    import numpy as np
    with np.load(SHARED_NPZ, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
