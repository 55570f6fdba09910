"""The lossy front end through the container: quantize/prune/cast options, transform stages on both backends,
error bounds as decoded, and rd_sweep reproducibility."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import nncodec
from nncodec.errors import EncodeError
from nncodec.quant import parse_quantizer, sqnr_db

from checkers import assert_same_array, check_identical_bytes

RNG = np.random.default_rng(7)
MODEL = {
    "conv.weight": RNG.laplace(0, 0.05, size=(16, 8, 3, 3)).astype(np.float32),
    "conv.bias": RNG.normal(0, 0.01, size=16).astype(np.float32),
    "fc.weight": RNG.laplace(0, 0.02, size=(64, 96)).astype(np.float32),
    "fc.bias": RNG.normal(0, 0.01, size=64).astype(np.float32),
    "steps": np.array(12, dtype=np.int64),
}
QUANTIZERS = ["uniform:bits=8", "uniform:bits=4,axis=0", "uniform:step=0.01", "uniform:sqnr=30",
              "kmeans:k=16", "log:bits=4", "binary", "ternary", "rdoq:bits=6,lam=0.3", "dq:bits=6,axis=0",
              "dq:sqnr=25,lam=0.2"]


def _decode_both(blob, enc_model=MODEL):
    outs = [nncodec.decode(blob, backend=b) for b in nncodec.available_backends()]
    for other in outs[1:]:
        for name in outs[0]:
            assert_same_array(outs[0][name], other[name])
    return outs[0]


@pytest.mark.parametrize("spec", QUANTIZERS)
def test_quantized_model_matches_quantizer_reconstruction(spec, enc_backend, dec_backend):
    blob = nncodec.encode(MODEL, quantize=spec, backend=enc_backend)
    decoded = nncodec.decode(blob, backend=dec_backend)
    for name in ("conv.weight", "fc.weight"):  # quantized: exactly what the quantizer reconstructs
        expected = parse_quantizer(spec).quantize(MODEL[name].astype(np.float64)).reconstruct()
        assert decoded[name].dtype == np.float32
        assert decoded[name].tobytes() == expected.astype(np.float32).tobytes()
    for name in ("conv.bias", "fc.bias", "steps"):  # small and 1-D tensors stay lossless by default
        assert_same_array(MODEL[name], decoded[name])


@pytest.mark.parametrize("entropy", ["raw", "zstd", "huffman", "cabac", "auto"])
def test_every_entropy_coding_gives_identical_bytes_and_arrays(entropy):
    blob = check_identical_bytes(MODEL, quantize="uniform:bits=6,axis=0", entropy=entropy)
    decoded = _decode_both(blob)
    assert sqnr_db({k: MODEL[k] for k in ("fc.weight",)}, {k: decoded[k] for k in ("fc.weight",)}) > 25


def test_uniform_error_bound_after_decode():
    step = 0.004
    decoded = nncodec.decode(nncodec.encode(MODEL, quantize=f"uniform:step={step}"))
    err = np.abs(decoded["fc.weight"].astype(np.float64) - MODEL["fc.weight"])
    assert err.max() <= np.float32(step) / 2 + 1e-6  # half a step, plus float32 output rounding


def test_pruning_sparsity_and_exact_zeros():
    blob = nncodec.encode(MODEL, prune="magnitude:0.75", quantize="uniform:bits=8")
    decoded = nncodec.decode(blob)
    w = decoded["fc.weight"]
    assert np.count_nonzero(w == 0) >= round(0.75 * w.size)
    kept = MODEL["fc.weight"][w != 0]
    assert np.abs(kept).min() >= np.sort(np.abs(MODEL["fc.weight"]).ravel())[round(0.75 * w.size) - 1]


def test_pruning_without_quantization_keeps_the_survivors_exact():
    decoded = nncodec.decode(nncodec.encode(MODEL, prune="magnitude:0.5", compress="auto"))
    w, original = decoded["fc.weight"], MODEL["fc.weight"]
    assert np.count_nonzero(w) == w.size - round(0.5 * w.size)
    assert np.array_equal(w[w != 0], original[w != 0])


def test_lossless_patterns_and_explicit_small_tensors():
    blob = nncodec.encode(MODEL, quantize={"fc.bias": "uniform:bits=4", "*": "uniform:bits=8"},
                          lossless=["conv.*"])
    decoded = nncodec.decode(blob)
    assert_same_array(MODEL["conv.weight"], decoded["conv.weight"])   # lossless pattern wins
    assert not np.array_equal(decoded["fc.bias"], MODEL["fc.bias"])   # named explicitly: quantized though 1-D
    with nncodec.open(blob) as reader:
        chains = {row["name"]: row["chain"] for row in reader.info()}
    assert chains["fc.weight"].startswith("dense+uniform<")
    assert chains["conv.weight"].startswith("dense<")


# half an ulp of the narrow type: relative 2^-p for p significand bits, and half the smallest subnormal below the
# normal range, where the spacing is fixed (float16 weights under 2^-14 lose relative precision)
CAST_BOUNDS = {"float16": (2.0 ** -11, 2.0 ** -25), "bfloat16": (2.0 ** -8, 2.0 ** -134)}


@pytest.mark.parametrize("target", ["float16", "bfloat16"])
def test_cast_storage_widens_exactly(target):
    blob = nncodec.encode(MODEL, cast=target)
    decoded = _decode_both(blob)
    w = decoded["fc.weight"]
    assert w.dtype == np.float32
    relative, absolute = CAST_BOUNDS[target]
    original = MODEL["fc.weight"].astype(np.float64)
    assert np.all(np.abs(w - original) <= np.maximum(relative * np.abs(original), absolute))
    if target == "float16":  # the model has subnormal float16 weights: only the absolute term covers them
        assert np.any(np.abs(original) < 2.0 ** -14)
    assert_same_array(MODEL["steps"], decoded["steps"])


def test_bfloat16_cast_rounds_to_nearest_even():
    x = np.array([1.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -2.5, np.inf, 0.0], dtype=np.float32)
    decoded = nncodec.decode(nncodec.encode({"x": x.reshape(2, 3)}, cast="bfloat16"))["x"].ravel()
    assert decoded.tolist() == [1.0, 1.0, 1.0 + 4 * 2 ** -8, -2.5, np.inf, 0.0]


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=3, max_side=12),
                  elements=st.floats(-4, 4, width=32)),
       st.sampled_from(QUANTIZERS), st.sampled_from(["huffman", "cabac", "zstd", "raw"]))
def test_random_tensors_round_trip_on_both_backends(w, spec, entropy):
    blob = check_identical_bytes({"w": w}, quantize=spec, entropy=entropy, keep_small=0)
    decoded = _decode_both(blob)["w"]
    expected = parse_quantizer(spec).quantize(w.astype(np.float64)).reconstruct().astype(np.float32)
    with nncodec.open(blob) as reader:
        row = reader.info()[0]
    if row["chain"] == "dense<raw>":  # levels and step would take more than the raw floats: stored exactly
        expected = w
    assert row["stored_bytes"] <= w.nbytes and decoded.tobytes() == expected.tobytes()


def test_bad_lossy_options_raise_encode_error():
    with pytest.raises(EncodeError):
        nncodec.encode(MODEL, quantize="nonsense:k=3")
    with pytest.raises(EncodeError):
        nncodec.encode(MODEL, cast="int4")
    with pytest.raises(EncodeError):
        nncodec.encode(MODEL, quantize="uniform:bits=8", importance={"fc.weight": np.ones(3)})


def test_rd_sweep_rows_reproduce_and_span_the_range():
    rows = nncodec.rd_sweep(MODEL, evaluate=lambda w: float(np.abs(w["fc.weight"]).sum()))
    assert {"config", "bytes", "bits_per_weight", "sqnr_db", "max_abs_error", "score"} <= set(rows[0])
    sqnrs = [r["sqnr_db"] for r in rows]
    assert min(sqnrs) < 25 and max(sqnrs) > 45
    assert [r["bytes"] for r in rows] == sorted(r["bytes"] for r in rows)
    for row in rows[::4]:
        assert len(nncodec.encode(MODEL, **row["config"])) == row["bytes"]


def test_rd_sweep_settings_code_the_tensors_they_keep_lossless():
    """rd_sweep's default settings code the float tensors they leave lossless (biases, norms) with
    compress="auto" instead of storing them raw: a LayerNorm-like weight shrinks, the matrix is quantized."""
    from nncodec.encoder.rd import default_settings
    norm = (1 + RNG.normal(0, 0.05, 4096)).astype(np.float32)
    weights = {"fc.weight": MODEL["fc.weight"], "norm.weight": norm}
    settings = default_settings(weights)
    assert all(setting.get("compress") == "auto" for setting in settings)
    for setting in settings[::7]:
        with nncodec.open(nncodec.encode(weights, **setting)) as reader:
            rows = {row["name"]: row for row in reader.info()}
        assert rows["norm.weight"]["stored_bytes"] < 0.9 * norm.nbytes
        assert rows["fc.weight"]["stored_bytes"] < 0.5 * MODEL["fc.weight"].nbytes
        np.testing.assert_array_equal(nncodec.decode(nncodec.encode(weights, **setting))["norm.weight"], norm)


def test_rdoq_never_increases_the_lagrangian_cost():
    from nncodec.quant.rate import level_bits, level_cost
    w = MODEL["fc.weight"].astype(np.float64)
    for lam in (0.05, 0.5, 2.0):
        plain = parse_quantizer("uniform:bits=5").quantize(w)
        rdoq = parse_quantizer(f"rdoq:bits=5,lam={lam}").quantize(w)
        step = float(plain.steps[0])
        bits = level_bits(rdoq.levels)  # the model RDOQ's last pass optimised against

        def cost(q):
            return np.sum((w - q.reconstruct()) ** 2) / step ** 2 + lam * level_cost(bits, q.levels).sum()

        assert cost(rdoq) <= cost(plain) + 1e-9


def test_trellis_twins_choose_identical_levels():
    from nncodec.kernels.reference.trellis import trellis_levels as reference_search
    rng = np.random.default_rng(3)
    w = rng.laplace(0, 1, 2000)
    step = np.full(w.size, 0.25)
    bits = np.linspace(6, 1, 21) ** 0.5 + np.abs(np.arange(-10, 11)) * 0.3
    for backend in nncodec.available_backends():
        module = nncodec.kernels.module("trellis", backend)
        for lam in (0.0, 0.3):
            assert np.array_equal(module.trellis_levels(w, step, bits, lam), reference_search(w, step, bits, lam))


def test_dependent_quantization_beats_uniform_at_equal_error():
    w = {"w": RNG.laplace(0, 1, size=(64, 512)).astype(np.float32)}
    uniform = nncodec.encode(w, quantize="uniform:sqnr=30", entropy="cabac")
    dependent = nncodec.encode(w, quantize="dq:sqnr=30", entropy="cabac")
    assert sqnr_db(w, nncodec.decode(dependent)) >= 29.8
    assert len(dependent) < len(uniform)


@pytest.mark.parametrize("name", ["huffman", "cabac"])
def test_coders_are_usable_at_stage_level(name, backend):
    from nncodec.stages import coding_by_name
    coding = coding_by_name(name)
    values = np.array([0, 3, -2, 0, 0, 7, -40000], dtype=np.int32)
    data = coding.encode(values, backend=backend)
    assert_same_array(values, coding.decode_array(data, values.size, np.int32, backend=backend))


@pytest.mark.parametrize("entropy", ["huffman", "cabac", "auto"])
def test_bfloat16_bits_are_not_an_integer_stream(entropy, backend):
    bits = nncodec.BFloat16(np.arange(7, dtype=np.uint16))  # uint16 in memory, bfloat16 in the format
    decoded = nncodec.decode(nncodec.encode(bits, entropy=entropy, compress="auto", backend=backend), backend=backend)
    assert decoded.view(np.uint16).tolist() == list(range(7))


def test_saliency_pruning_removes_the_least_salient_weights():
    w = MODEL["fc.weight"]
    importance = np.ones_like(w, dtype=np.float64)
    importance[:, :48] = 0.0  # half the inputs never matter: their weights go first, whatever their magnitude
    decoded = nncodec.decode(nncodec.encode(MODEL, prune="saliency:0.5", importance={"fc.weight": importance},
                                            compress="auto"))
    assert np.all(decoded["fc.weight"][:, :48] == 0)
    assert np.array_equal(decoded["fc.weight"][:, 48:], w[:, 48:])
    assert_same_array(MODEL["conv.weight"], decoded["conv.weight"])  # no importance given: kept whole


def test_saliency_pruning_needs_importance():
    with pytest.raises(EncodeError, match="importance"):
        nncodec.encode(MODEL, prune="saliency:0.5")
    with pytest.raises(EncodeError, match="no options"):
        nncodec.encode(MODEL, prune="saliency:0.5,scope=global", importance={"fc.weight": np.ones((64, 96))})


@pytest.mark.parametrize("dtype", ["<i8", "<u8"])
def test_dq_level_bound_is_exact_at_2p62(dtype, backend):
    """[R4.5-a] at N and N+1: |k| = 2**62 - 1 reconstructs, 2**62 is rejected; uint64 levels never wrap negative
    (found by fuzz/fuzz_dq_decode.py: float64 rounding and the uint64 -> int64 cast made the twins differ)."""
    from nncodec import kernels
    from nncodec.errors import InconsistentError
    dependent = kernels.module("dequant", backend).dependent
    steps = np.array([0.5], dtype="<f4")
    top = (1 << 62) - 1
    ok = np.array([top, 1] if dtype == "<u8" else [top, -top], dtype=dtype)
    got = dependent(ok, steps, None, np.float64)
    # state 0 then (top is odd) state 2, where the multiple is 2k - sgn(k)
    assert got.tolist() == [float(2 * top) * 0.5, 0.5 if dtype == "<u8" else -float(2 * top - 1) * 0.5]
    bad = [[1 << 62], [2 ** 64 - 1], [1 << 63]] if dtype == "<u8" else [[1 << 62], [-(1 << 62)], [-(1 << 63)]]
    for levels in bad:
        with pytest.raises(InconsistentError, match="R4.5-a"):
            dependent(np.array(levels, dtype=dtype), steps, None, np.float64)


def test_uniform_uint64_levels_keep_their_value(backend):
    """A uint64 level of 2**63 or more is that integer times the step, not a wrapped negative (spec 4.2)."""
    from nncodec import kernels
    uniform = kernels.module("dequant", backend).uniform
    levels = np.array([2 ** 64 - 1, 1 << 63, 3], dtype="<u8")
    got = uniform(levels, np.array([2.0], dtype="<f4"), None, np.float64)
    assert got.tolist() == [2.0 ** 65, 2.0 ** 64, 6.0]
