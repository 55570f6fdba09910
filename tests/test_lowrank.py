"""Factored weights (spec 3.5.3, nncodec.lowrank): container round trips on both backends, rank rules, the
fitting algorithms' objectives, separable exactness, the encoder's factorize option and its bad inputs."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import nncodec
from checkers import assert_same_array, check_identical_bytes, check_roundtrip
from nncodec.errors import EncodeError
from nncodec.lowrank import (Factors, admm_sparse_lowrank, choose_rank, low_rank, parse_factorize,
                             separable_factors, sparse_plus_lowrank)
from nncodec.lowrank.admm import admm_objective
from nncodec.lowrank.separable import conv_filters
from nncodec.quant import sqnr_db


def _low_rank_matrix(m, n, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)) @ rng.standard_normal((k, n))


def _separable_kernel(o, i, kh, kw, r, seed=0):
    rng = np.random.default_rng(seed)
    return np.einsum("orx,riy->oiyx", rng.standard_normal((o, r, kw)), rng.standard_normal((r, i, kh)))


small_ints = st.integers(-8, 8).map(float)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(data=st.data())
def test_integer_factors_round_trip_exactly(data, enc_backend, dec_backend):
    """Factors whose products are exact decode bit for bit: product, sparse + low-rank and separable nodes."""
    m, k, n = (data.draw(st.integers(1, 5)) for _ in range(3))

    def matrix(rows, cols):
        return np.array(data.draw(st.lists(small_ints, min_size=rows * cols, max_size=rows * cols))).reshape(rows, cols)

    left, right, sparse = matrix(m, k), matrix(k, n), matrix(m, n)
    o, kw = data.draw(st.sampled_from([(d, m // d) for d in range(1, m + 1) if m % d == 0]))
    i, kh = data.draw(st.sampled_from([(d, n // d) for d in range(1, n + 1) if n % d == 0]))
    factorize = {"p": Factors((m, n), left, right), "s": Factors((m, n), left, right, sparse),
                 "k": Factors((o, i, kh, kw), left, right, separable=True)}
    product = left @ right
    expected = {"p": product.astype(np.float32), "s": (product + sparse).astype(np.float32),
                "k": product.reshape(o, kw, i, kh).transpose(0, 2, 3, 1).astype(np.float32)}
    weights = {name: np.zeros(value.shape, np.float32) for name, value in expected.items()}
    blob = nncodec.encode(weights, factorize=factorize, backend=enc_backend, no_larger_than_raw=False)
    decoded = nncodec.decode(blob, backend=dec_backend)
    for name, value in expected.items():
        assert_same_array(value, decoded[name])


def test_separable_combine_places_elements_as_the_spec_says(backend):
    """node[o, i, y, x] = (C1 @ C2)[o * KW + x, i * KH + y], checked element by element on a 2x3x2x4 kernel."""
    rng = np.random.default_rng(1)
    left, right = rng.integers(-4, 5, (2 * 4, 2)).astype(float), rng.integers(-4, 5, (2, 3 * 2)).astype(float)
    factors = Factors((2, 3, 2, 4), left, right, separable=True)
    blob = nncodec.encode({"k": np.zeros((2, 3, 2, 4), np.float32)}, factorize={"k": factors}, backend=backend)
    got = nncodec.decode(blob, backend=backend)["k"]
    product = left @ right
    for o, i, y, x in np.ndindex(2, 3, 2, 4):
        assert got[o, i, y, x] == np.float32(product[o * 4 + x, i * 2 + y])


@pytest.mark.parametrize("spec", ["svd:rank=6", "svd:energy=0.99", "svd:sqnr=25", "svd:size=0.3",
                                  "sparse+lowrank:rank=6,density=0.05"])
def test_factorize_specs_round_trip_and_match_bytes(spec, enc_backend, dec_backend):
    """Quantized factors: both backends give the same bytes, and the decoded tensor is the factors' product."""
    w = _low_rank_matrix(48, 40, 6).astype(np.float32)
    options = dict(factorize=spec, quantize="uniform:sqnr=40", entropy="cabac")
    blob = check_identical_bytes({"w": w}, **options)
    decoded = nncodec.decode(blob, backend=dec_backend)["w"]
    assert nncodec.decode(nncodec.encode({"w": w}, backend=enc_backend, **options), backend=dec_backend)["w"].tobytes() \
        == decoded.tobytes()
    assert sqnr_db(w, decoded) > (10 if spec.startswith("sparse") or "size" in spec else 20)
    assert nncodec.open(blob).info()[0]["chain"].startswith("sum" if spec.startswith("sparse") else "product")


def test_lossless_factors_decode_to_their_float32_product(backend):
    w = _low_rank_matrix(30, 20, 3)
    factors = low_rank(w, rank=3)
    blob = nncodec.encode({"w": w.astype(np.float32)}, factorize={"w": factors}, backend=backend)
    f32 = [f.astype(np.float32).astype(np.float64) for f in (factors.left, factors.right)]
    assert_same_array((f32[0] @ f32[1]).astype(np.float32), nncodec.decode(blob, backend=backend)["w"])


def test_conv_kernel_uses_the_im2col_view(backend):
    kernel = _low_rank_matrix(8, 4 * 3 * 3, 2).reshape(8, 4, 3, 3).astype(np.float32)
    blob = check_roundtrip({"conv": kernel}, backend, backend, atol=1e-4, factorize={"conv": "svd:rank=2"})
    node = nncodec.open(blob).directory.tensors[0].node
    assert [c.shape for c in node.body.children] == [(8, 2), (2, 36)]


def test_small_and_1d_tensors_stay_plain_unless_named():
    w = {"w": _low_rank_matrix(40, 40, 2).astype(np.float32), "b": np.ones(40, np.float32),
         "tiny": np.ones((4, 4), np.float32)}
    rows = {r["name"]: r["chain"] for r in nncodec.open(nncodec.encode(w, factorize="svd:rank=2")).info()}
    assert rows == {"w": "product[2](dense<raw>)", "b": "dense<raw>", "tiny": "dense<raw>"}
    named = nncodec.encode(w, factorize={"tiny": "svd:rank=1"})
    assert nncodec.open(named).info()[2]["chain"].startswith("product")


def test_auto_factorizes_only_when_smaller_at_the_same_sqnr():
    low = _low_rank_matrix(96, 80, 4).astype(np.float32)
    noise = np.random.default_rng(3).standard_normal((96, 80)).astype(np.float32)
    blob = nncodec.encode({"low": low, "noise": noise}, factorize="auto", quantize="uniform:sqnr=30")
    rows = {r["name"]: r for r in nncodec.open(blob).info()}
    assert rows["low"]["chain"].startswith("product") and rows["noise"]["chain"].startswith("dense")
    decoded = nncodec.decode(blob)
    plain = nncodec.decode(nncodec.encode({"low": low}, quantize="uniform:sqnr=30"))
    assert sqnr_db(low, decoded["low"]) >= sqnr_db(low, plain["low"]) - 0.05  # float32 rounding of the product
    assert nncodec.open(nncodec.encode({"low": low}, factorize="auto")).info()[0]["chain"] == "dense<raw>"


# -- rank rules ---------------------------------------------------------------------------------------------------

S = np.array([10.0, 5.0, 2.0, 1.0, 0.5])


@pytest.mark.parametrize("rule,rank", [({"energy": 0.75}, 1), ({"energy": 0.96}, 3), ({"energy": 1.0}, 5),
                                       ({"rank": 3}, 3), ({"rank": 9}, 5), ({"size": 0.5}, 1), ({"size": 1.0}, 2), ({"size": 0.0}, 0),
                                       ({"sqnr": 10}, 2), ({"sqnr": 20}, 3), ({"sqnr": 300}, 5)])
def test_choose_rank_rules(rule, rank):
    # kept energy 100, 125, 129, 130, 130.25 of 130.25; error tails 30.25, 5.25, 1.25, 0.25, 0;
    # (m, n) = (5, 5): size allows k * 10 <= size * 25
    assert choose_rank(S, (5, 5), **rule) == rank


@given(st.lists(st.floats(0.0, 100.0), min_size=1, max_size=12), st.floats(1.0, 60.0))
def test_sqnr_rank_is_the_smallest_that_reaches_the_target(values, target):
    s = np.sort(np.array(values))[::-1]
    total, k = float(np.sum(s ** 2)), choose_rank(s, (20, 20), sqnr=target)
    allowed = total / 10 ** (target / 10) * (1 + 1e-12)
    assert np.sum(s[k:] ** 2) <= allowed
    assert k == 0 or np.sum(s[k - 1:] ** 2) > allowed


def test_low_rank_reaches_its_energy_and_recovers_known_rank():
    w = _low_rank_matrix(50, 30, 5)
    assert low_rank(w, energy=1 - 1e-12).rank == 5
    assert np.allclose(low_rank(w, rank=5).reconstruct(), w)
    f = low_rank(w, sqnr=20)
    assert sqnr_db(w, f.reconstruct()) >= 20


# -- fitting algorithms -------------------------------------------------------------------------------------------

def test_rpca_error_never_increases_and_finds_planted_parts():
    rng = np.random.default_rng(4)
    low = _low_rank_matrix(40, 30, 3, seed=5)
    sparse = np.zeros((40, 30))
    sparse.ravel()[rng.choice(1200, 24, replace=False)] = 20 * rng.choice([-1, 1], 24)
    history = []
    f = sparse_plus_lowrank(low + sparse, rank=3, density=24 / 1200, iterations=50, history=history)
    scale = np.linalg.norm(low + sparse)
    assert all(b <= a + 1e-9 * scale for a, b in zip(history, history[1:]))
    assert history[-1] < 1e-6 * scale
    assert np.count_nonzero(f.sparse) <= 24 and f.rank == 3


def test_admm_decreases_its_objective_and_trades_rank_for_sparsity():
    rng = np.random.default_rng(6)
    w, x = rng.standard_normal((20, 30)), rng.standard_normal((30, 200))
    bias = rng.standard_normal(20)
    history = []
    f = admm_sparse_lowrank(w, x, lam_sparse=5.0, lam_rank=100.0, bias=bias, iterations=60, history=history)
    start = admm_objective(w, x, np.zeros_like(w), w, 5.0, 100.0, bias)
    assert history[-1] < 0.95 * start
    assert f.rank < 20
    heavy = admm_sparse_lowrank(w, x, lam_sparse=5.0, lam_rank=300.0, bias=bias, iterations=60)
    assert heavy.rank < f.rank


def test_separable_factors_are_exact_on_a_separable_kernel():
    kernel = _separable_kernel(6, 4, 3, 3, 2)
    f = separable_factors(kernel, energy=1 - 1e-12)
    assert f.rank == 2 and np.allclose(f.reconstruct(), kernel)
    vertical, horizontal = conv_filters(f)
    assert vertical.shape == (2, 4, 3, 1) and horizontal.shape == (6, 2, 1, 3)
    composed = np.einsum("orx,riy->oiyx", horizontal[:, :, 0, :], vertical[:, :, :, 0])
    assert np.allclose(composed, kernel)


# -- bad inputs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["svd", "svd:rank=2,energy=0.9", "svd:bogus=1", "sparse+lowrank:rank=2", "sparse+lowrank:energy=0.9,density=0.1",
                                  "separable:rank=x", "tucker:rank=2", 3])
def test_bad_factorize_specs_raise_encode_error(spec):
    with pytest.raises(EncodeError):
        parse_factorize(spec)
    with pytest.raises(EncodeError):
        nncodec.encode({"w": np.ones((40, 40), np.float32)}, factorize=spec)


def test_mismatched_factors_raise_encode_error():
    with pytest.raises(EncodeError):
        Factors((4, 5), np.ones((4, 2)), np.ones((3, 5)))
    with pytest.raises(EncodeError):
        nncodec.encode({"w": np.ones((4, 6), np.float32)}, factorize={"w": Factors((4, 5), np.ones((4, 1)),
                                                                                      np.ones((1, 5)))})
    with pytest.raises(EncodeError):
        nncodec.encode({"w": np.ones((40, 40), np.float32)}, factorize={"w": "separable:rank=2"})


def test_cnn_forward_matches_the_convolution_sums():
    """The example LeNet-5 (its im2col forward pass, and the matrix-view layer inputs used as ADMM calibration
    data) computes the direct convolution sums of an independent dense forward pass."""
    from nncodec.examples import cnn
    from tests.test_runtime import dense_forward
    params = cnn.init_cnn(seed=3)
    params = {k: v + 0.01 if k.endswith(".bias") else v for k, v in params.items()}
    X = np.random.default_rng(7).random((3, 64))
    scores = cnn.predict(params, X)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    assert np.allclose(probs, dense_forward(cnn.architecture(), params, X.reshape(3, 1, 8, 8)), atol=1e-10)
    inputs = cnn.layer_inputs(params, X)
    assert {k: v.shape for k, v in inputs.items()} == {"conv1": (25, 192), "conv2": (500, 48), "fc1": (200, 3),
                                                      "fc2": (500, 3)}
    fc2_in = np.maximum(params["fc1.weight"] @ inputs["fc1"] + params["fc1.bias"][:, None], 0)
    assert np.allclose(inputs["fc2"], fc2_in)
