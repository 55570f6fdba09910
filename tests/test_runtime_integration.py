"""The runtime on what the decoder returns: products on ``decode(blob, materialize=False)`` structures of every
stored sparse layout (with codebook and uniform transforms applied to their values), and ``runtime.load`` on
containers whose weights are stored sparse (computed on as decoded, never densified), with the example models."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import nncodec
from nncodec import runtime
from nncodec import sparse
from nncodec.examples import cnn, digits, mlp
from nncodec.sparse import SparseMatrix
from tests.checkers import check_structure_product
from skips import optional

STORED = ("csr", "cer", "cser", "relidx")
QUANTIZERS = (None, "kmeans:k=8", "uniform:step=0.05")


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(layout=st.sampled_from(STORED), quantize=st.sampled_from(QUANTIZERS),
       m=st.integers(1, 24), n=st.integers(1, 70), batch=st.sampled_from([0, 1, 5, 64]),
       density=st.sampled_from([0.0, 0.1, 0.5, 1.0]), seed=st.integers(0, 2 ** 32 - 1))
def test_decoded_structures_multiply(backend, layout, quantize, m, n, batch, density, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, n)).astype(np.float32)
    w[rng.random((m, n)) >= density] = 0
    options = {"layout": layout, "no_larger_than_raw": False}
    if quantize:
        options["quantize"] = quantize
    blob = nncodec.encode({"w": w}, **options)
    structure = nncodec.decode(blob, materialize=False)["w"]
    assert isinstance(structure, SparseMatrix) and sparse.layout_of(structure) == layout
    x = rng.standard_normal((n, batch) if batch else n).astype(np.float32)
    y = check_structure_product(structure, x, backend)
    assert np.array_equal(structure.todense(), nncodec.decode(blob)["w"])
    if backend == nncodec.backend:
        assert np.array_equal(structure @ x, y)  # ``@`` runs the same kernels


def _forbid_densify(monkeypatch):
    """Densifying a weight (a structure of two or more dimensions) fails the test; 1-D biases may be densified."""
    densify = SparseMatrix.todense_matrix

    def refuse(self):
        if len(self.tensor_shape) >= 2:
            raise AssertionError(f"{type(self).__name__} {self.tensor_shape} was densified")
        return densify(self)
    monkeypatch.setattr(SparseMatrix, "todense_matrix", refuse)


@pytest.mark.parametrize("layout", STORED)
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_load_computes_on_stored_layouts(backend, model, layout, monkeypatch):
    """runtime.load keeps each weight in its stored layout (its todense is never called), holds less memory than
    the dense weights, and predicts what the examples' own dense NumPy forward pass predicts."""
    rng = np.random.default_rng(7)
    if model == "mlp":
        arch, weights, predict = mlp.architecture(), mlp.train_mlp(*_digits_sample(), epochs=1), mlp.predict
        x = rng.random((16, 64)).astype(np.float32)
    else:
        arch, predict = cnn.architecture(), cnn.predict
        weights = {name: w.astype(np.float32) for name, w in cnn.init_cnn(seed=1).items()}
        x = rng.random((16, 1, 8, 8)).astype(np.float32)
    blob = nncodec.encode(weights, layout=layout, prune="magnitude:0.8", quantize="kmeans:k=16",
                          lossless=["*.bias"], metadata=runtime.architecture_metadata(arch), no_larger_than_raw=False)
    dense = nncodec.decode(blob)
    with monkeypatch.context() as patch:
        _forbid_densify(patch)
        model_ = runtime.load(blob, backend=backend)
        scores = model_(x)
    names = [name for name, _, _ in model_.layouts()]
    assert [got for _, got, _ in model_.layouts()] == [layout] * len(names)
    dense_bytes = sum(dense[name].size * 4 for name in names)
    assert sum(nbytes for _, _, nbytes in model_.layouts()) < dense_bytes
    logits = np.asarray(predict(dense, x.reshape(len(x), -1)), dtype=np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    assert np.allclose(scores, probabilities, rtol=1e-4, atol=1e-5)
    assert np.array_equal(scores.argmax(axis=1), logits.argmax(axis=1))


def _digits_sample():
    optional("sklearn", "scikit-learn")
    X_train, _, y_train, _ = mlp.load_digits_split()
    return X_train[:200], y_train[:200]


def test_digits_example_containers_run(backend, tmp_path):
    """The two files of ``python -m nncodec.examples.digits`` (built the same way, after one epoch of training)
    run through runtime.load and give the dense NumPy model's predictions on the whole test split."""
    optional("sklearn", "scikit-learn")
    X_train, X_test, y_train, _ = mlp.load_digits_split()
    weights = mlp.train_mlp(X_train, y_train, epochs=1)
    meta = digits.metadata(mlp.architecture())
    nncodec.save(tmp_path / "float.nnc", weights, metadata=meta)
    digits.save_post_training(tmp_path / "compressed.nnc", weights, meta)
    for name, layouts in (("float.nnc", ("stored", "auto")), ("compressed.nnc", ("stored", "csr8", "auto"))):
        path = tmp_path / name
        expected = mlp.predict(nncodec.load(path), X_test).argmax(axis=1)
        for layout in layouts:
            model = runtime.load(path, layout=layout, backend=backend)
            assert np.array_equal(model(X_test).argmax(axis=1), expected), (name, layout)


def test_load_memory_stays_below_dense(backend):
    """Loading a 2000 x 2000 linear layer stored as CSR at 2% density never allocates its dense matrix: the peak
    traced allocation (NumPy arrays included) stays under half of the dense weight's 16 MB."""
    import tracemalloc
    rng = np.random.default_rng(8)
    w = rng.choice(np.float32([-0.5, -0.25, 0.25, 0.5]), size=(2000, 2000))
    w[rng.random(w.shape) >= 0.02] = 0
    arch = {"format": "nncodec.sequential/1", "input_shape": [2000],
            "layers": [{"type": "linear", "weight": "fc.weight"}]}
    blob = nncodec.encode({"fc.weight": w}, layout="csr", metadata=runtime.architecture_metadata(arch))
    tracemalloc.start()
    try:
        model = runtime.load(blob, backend=backend)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < w.nbytes // 2, peak
    assert model.layouts()[0][1] == "csr" and model.layouts()[0][2] < w.nbytes // 10
    x = rng.standard_normal((3, 2000)).astype(np.float32)
    assert np.allclose(model(x), x @ w.T, rtol=1e-4, atol=1e-4)
