"""Factored weights in the runtime (issue #9): lazy decode of product and sum(sparse, product) composites as
LowRankMatrix / SparsePlusLowRank, their products on both backends, and models loaded with factored layers."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import nncodec
from nncodec import runtime
from nncodec.errors import LimitExceededError
from nncodec.sparse import (CERMatrix, CSRMatrix, LowRankMatrix, RelIdxMatrix, SparsePlusLowRank, cer_from_dense,
                            cser_from_dense, csr_from_dense, relidx_from_dense)
from tests.strategies import record_containers
from tests.test_runtime import CNN, MLP, dense_forward

SPARSE_BUILDERS = {"dense": lambda a: a, "csr": csr_from_dense, "cer": cer_from_dense, "cser": cser_from_dense,
                   "relidx": lambda a: relidx_from_dense(a, 3)}


def check_factored_product(weight, x, backend):
    """``weight @ x`` (runtime, 1 and 2 threads) equals ``weight.todense() @ x`` in float64 within the float32
    summation bound over the terms it adds: ``(n + k + 3) * 2**-23 * ((|S| + |U| |V|) @ |x|)``, with |S| replaced by
    ``|S| + |c| + |S - c|`` when a CER/CSER part's implicit value c is not zero (the runtime's stated tolerance)."""
    m, n = weight.shape
    lowrank = weight.lowrank if isinstance(weight, SparsePlusLowRank) else weight
    sparse = 0
    if isinstance(weight, SparsePlusLowRank):
        dense_part = weight.sparse_matrix().astype(np.float64)
        sparse = np.abs(dense_part)
        implicit = getattr(weight.S, "omega", np.zeros(1))[:1]
        if implicit.size and implicit[0] != 0:  # CER/CSER add c * sum(x) to the products over A - c (runtime bound)
            c = float(implicit[0])
            sparse = sparse + abs(c) + np.abs(dense_part - c)
    size = sparse + np.abs(lowrank.U.astype(np.float64)) @ np.abs(lowrank.V.astype(np.float64))
    exact = weight.todense().reshape(m, n).astype(np.float64) @ x.astype(np.float64)
    bound = (n + lowrank.rank + 3) * 2.0 ** -23 * (size @ np.abs(x).astype(np.float64))
    op = runtime.prepare(weight)
    assert op.layout == ("sparse+lowrank" if isinstance(weight, SparsePlusLowRank) else "lowrank")
    for threads in (1, 2):
        y = op.matmul(x, backend=backend, threads=threads)
        assert y.dtype == np.float32 and y.shape == exact.shape
        assert np.all(np.abs(y - exact) <= bound + 1e-30), float(np.max(np.abs(y - exact) - bound))
    assert np.array_equal(runtime.matmul(weight, x, backend=backend, threads=1), op.matmul(x, backend=backend,
                                                                                        threads=1))
    return op


@st.composite
def factored_matrices(draw):
    """A LowRankMatrix or SparsePlusLowRank (sparse part in any stored layout), float32, up to 30 x 40, rank 0-6."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    m, n, k = draw(st.integers(1, 30)), draw(st.integers(1, 40)), draw(st.integers(0, 6))
    lowrank = LowRankMatrix(rng.standard_normal((m, k)).astype(np.float32),
                            rng.standard_normal((k, n)).astype(np.float32))
    layout = draw(st.sampled_from([None] + list(SPARSE_BUILDERS)))
    if layout is None:
        return lowrank
    s = np.round(rng.standard_normal((m, n)), 1).astype(np.float32)
    s[rng.random((m, n)) > draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))] = 0
    return SparsePlusLowRank(SPARSE_BUILDERS[layout](s), lowrank)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(weight=factored_matrices(), batch=st.sampled_from([0, 1, 3, 64]), seed=st.integers(0, 2 ** 32 - 1))
def test_factored_products_match_dense(backend, weight, batch, seed):
    shape = (weight.shape[1], batch) if batch else (weight.shape[1],)
    check_factored_product(weight, np.random.default_rng(seed).standard_normal(shape).astype(np.float32), backend)


def test_factored_structures_interface():
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((6, 2)).astype(np.float32), rng.standard_normal((2, 12)).astype(np.float32)
    lr = LowRankMatrix(U, V, tensor_shape=(6, 3, 2, 2))
    assert lr.shape == (6, 12) and lr.tensor_shape == (6, 3, 2, 2) and lr.rank == 2 and lr.dtype == np.float32
    assert lr.nbytes == U.nbytes + V.nbytes and lr.todense().shape == (6, 3, 2, 2)
    assert np.array_equal(lr.todense_matrix(), (U.astype(np.float64) @ V).astype(np.float32))
    s = csr_from_dense(np.eye(6, 12, dtype=np.float32))
    spl = SparsePlusLowRank(s, LowRankMatrix(U, V))
    assert spl.nbytes == s.nbytes + lr.nbytes
    assert np.array_equal(spl.todense(), np.eye(6, 12, dtype=np.float32) + lr.todense_matrix())
    assert np.allclose(spl @ np.ones(12, np.float32), spl.todense() @ np.ones(12), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        LowRankMatrix(U, V.T)
    with pytest.raises(ValueError):
        SparsePlusLowRank(csr_from_dense(np.eye(5, 12, dtype=np.float32)), LowRankMatrix(U, V))
    with pytest.raises(ValueError):
        SparsePlusLowRank(runtime.prepare(np.eye(5, 12, dtype=np.float32)), lr)


def test_factored_keeps_its_layout_or_densifies():
    rng = np.random.default_rng(2)
    lr = LowRankMatrix(rng.standard_normal((5, 2)).astype(np.float32), rng.standard_normal((2, 7)).astype(np.float32))
    assert runtime.prepare(lr, "lowrank").layout == "lowrank"
    dense = runtime.prepare(lr, "dense")
    assert dense.layout == "dense" and np.array_equal(dense.matrix, lr.todense_matrix())
    with pytest.raises(ValueError, match="unknown layout"):
        runtime.prepare(np.ones((2, 2), np.float32), "lowrank")
    choice = runtime.choose_layout(lr, 4, repeats=1)
    assert set(choice.seconds) == {"dense", "csr", "csr8", "cer", "cser", "lowrank"}   # 35 values: csr8 applies


def _factored_blob(factorize, layout, rng):
    w = (rng.standard_normal((40, 4)) @ rng.standard_normal((4, 60))).astype(np.float32)
    w[rng.random(w.shape) < 0.05] += 3
    conv = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    return nncodec.encode({"w": w, "conv": conv, "b": np.ones(8, np.float32)}, factorize=factorize, layout=layout,
                          keep_small=0, no_larger_than_raw=False)


@pytest.mark.parametrize("factorize, layout, sparse_type", [
    ("svd:rank=4", None, None),
    ("sparse+lowrank:rank=4,density=0.05", None, np.ndarray),
    ("sparse+lowrank:rank=4,density=0.05", "csr", CSRMatrix),
    ("sparse+lowrank:rank=4,density=0.05", "cer", CERMatrix),
    ("sparse+lowrank:rank=4,density=0.05", "relidx", RelIdxMatrix),
])
def test_lazy_decode_of_factored_tensors(backend, factorize, layout, sparse_type):
    """decode(materialize=False) gives factored structures whose todense() is the materialized array bit for bit;
    the sparse part of sparse + low-rank is stored (and comes back) in the tensor's ``layout=`` choice."""
    blob = _factored_blob(factorize, layout, np.random.default_rng(3))
    whole = nncodec.decode(blob, backend=backend)
    lazy = nncodec.decode(blob, backend=backend, materialize=False)
    assert not isinstance(lazy["b"], (LowRankMatrix, SparsePlusLowRank))  # 1-D: never factored
    for name in ("w", "conv"):
        got = lazy[name]
        assert isinstance(got, SparsePlusLowRank if sparse_type else LowRankMatrix), type(got)
        assert got.tensor_shape == whole[name].shape and got.dtype == whole[name].dtype
        assert np.array_equal(got.todense(), whole[name])
        if sparse_type:
            assert isinstance(got.S, sparse_type)
        x = np.random.default_rng(4).standard_normal((got.shape[1], 5)).astype(np.float32)
        check_factored_product(got, x, backend)


def test_separable_kernels_arrive_dense():
    """Separable kernels are densified by the lazy decode (the runtime runs them as one im2col product)."""
    rng = np.random.default_rng(5)
    conv = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    lazy = nncodec.decode(nncodec.encode({"c": conv}, factorize="separable:rank=2", keep_small=0),
                          materialize=False)
    assert isinstance(lazy["c"], np.ndarray) and lazy["c"].shape == conv.shape


def test_lazy_factored_decode_forms_no_product():
    blob = _factored_blob("svd:rank=4", None, np.random.default_rng(6))
    limits = nncodec.DecodeLimits(max_product_macs=40 * 4 * 60 - 1)
    with pytest.raises(LimitExceededError):  # materialized, the product is computed: its multiply-adds count
        nncodec.decode(blob, limits=limits)
    lazy = nncodec.decode(blob, materialize=False, limits=limits)
    assert any(isinstance(value, LowRankMatrix) for value in lazy.values())


def _low_rank_weights(rng, arch_weights):
    """Weights of rank 2 (per matrix view) plus a few large entries, so both factorizations fit them well."""
    out = {}
    for name, w in arch_weights.items():
        if w.ndim < 2:
            out[name] = w
            continue
        m, n = w.shape[0], int(np.prod(w.shape[1:]))
        lr = rng.standard_normal((m, 2)) @ rng.standard_normal((2, n)) / 2
        lr[rng.random((m, n)) < 0.05] += 2
        out[name] = lr.reshape(w.shape).astype(np.float32)
    return out


@pytest.mark.parametrize("arch, shapes", [
    (MLP, {"fc1.weight": (30, 20), "fc1.bias": (30,), "fc2.weight": (5, 30)}),
    (CNN, {"c1.weight": (3, 2, 3, 3), "c1.bias": (3,), "c2.weight": (4, 3, 3, 3), "fc.weight": (6, 4),
           "fc.bias": (6,)})], ids=["mlp", "cnn"])
@pytest.mark.parametrize("factorize", ["svd:rank=2", "sparse+lowrank:rank=2,density=0.05"])
def test_load_keeps_factored_layers(backend, arch, shapes, factorize):
    """A container encoded with factorize=... runs through runtime.load with factored operators and predicts
    as the dense model of the decoded weights."""
    rng = np.random.default_rng(7)
    weights = _low_rank_weights(rng, {k: np.zeros(s, np.float32) for k, s in shapes.items()})
    blob = nncodec.encode(weights, factorize={"*.weight": factorize}, layout="auto",
                          metadata=runtime.architecture_metadata(arch))
    decoded = nncodec.decode(blob)
    x = rng.standard_normal((7,) + tuple(arch["input_shape"])).astype(np.float32)
    expected = dense_forward(arch, decoded, x)
    model = runtime.load(blob, backend=backend, batch=7)
    kind = "sparse+lowrank" if factorize.startswith("sparse") else "lowrank"
    assert {layout for _, layout, _ in model.layouts()} == {kind}
    y = model(x)
    assert np.allclose(y, expected, rtol=1e-4, atol=1e-5)
    assert np.array_equal(y.argmax(axis=1), expected.argmax(axis=1))
    densified = runtime.load(blob, backend=backend, layout="dense")
    assert {layout for _, layout, _ in densified.layouts()} == {"dense"}
    assert np.allclose(densified(x), y, rtol=1e-4, atol=1e-5)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None,
          max_examples=200)
@given(blob=record_containers())
def test_lazy_decode_of_any_composite_tree_equals_materialized(backend, blob):
    """Random valid record trees (products of any factor shapes, sums, concats, every dtype): the lazy decode's
    arrays or structures densify to the materialized arrays byte for byte."""
    whole = nncodec.decode(blob, backend=backend)
    lazy = nncodec.decode(blob, backend=backend, materialize=False)
    whole, lazy = (d if isinstance(d, dict) else {"": d} for d in (whole, lazy))
    assert whole.keys() == lazy.keys()
    for name, array in whole.items():
        # a 0-d tensor comes back from the lazy decode as a NumPy scalar (decode_tensor's copy), hence asarray
        got = lazy[name].todense() if hasattr(lazy[name], "todense") else np.asarray(lazy[name])
        assert got.dtype == array.dtype and got.shape == array.shape and got.tobytes() == array.tobytes(), name
