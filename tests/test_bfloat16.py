"""bfloat16 is ml_dtypes.bfloat16 (a required dependency): decoders always return that dtype, nncodec.BFloat16
(uint16 bit patterns) is accepted as input, and the runtime computes with the values, not the bit patterns."""

import pathlib

import ml_dtypes
import numpy as np
import pytest

import nncodec
from nncodec import runtime
from tests.checkers import assert_same_array

ROOT = pathlib.Path(__file__).resolve().parents[1]
VECTOR = next((ROOT / "spec" / "vectors" / "valid").glob("032-*.nnc"))
BITS = np.array([[0x3F80, 0xC040, 0x0000], [0x7F80, 0x7FC1, 0x0001]], np.uint16)  # 1, -3, 0, inf, NaN, subnormal


def test_decoders_return_ml_dtypes_bfloat16(backend):
    decoded = nncodec.decode(VECTOR.read_bytes(), backend=backend)
    assert decoded and all(a.dtype == ml_dtypes.bfloat16 for a in decoded.values())


@pytest.mark.parametrize("compress", ["none", "zstd"])
def test_bfloat16_wrapper_in_ml_dtypes_out(backend, compress):
    for bits in (BITS, BITS.T, BITS[:, ::2]):
        blob = nncodec.encode({"w": nncodec.BFloat16(bits)}, compress=compress, backend=backend)
        got = nncodec.decode(blob, backend=backend)["w"]
        assert got.dtype == ml_dtypes.bfloat16
        assert_same_array(nncodec.BFloat16(bits), got)
        assert_same_array(bits.view(ml_dtypes.bfloat16), got)


@pytest.mark.parametrize("layout", ["dense", "csr", "cer"])
def test_runtime_computes_with_bfloat16_values(backend, layout):
    """Regression: without ml_dtypes the weights were uint16 bit patterns, multiplied as integers."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 5)).astype(ml_dtypes.bfloat16)
    w[rng.random(w.shape) < 0.5] = 0
    arch = {"format": "nncodec.sequential/1", "input_shape": [5], "layers": [{"type": "linear", "weight": "fc"}]}
    blob = nncodec.encode({"fc": w}, layout=layout, metadata=runtime.architecture_metadata(arch), backend=backend,
                          no_larger_than_raw=False)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    model = runtime.load(blob, backend=backend)
    assert model.layouts()[0][1] == layout
    assert np.allclose(model(x), x @ w.astype(np.float32).T, rtol=1e-5, atol=1e-6)
