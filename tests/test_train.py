"""Trained compression core (nncodec.train): masks through training, centroid updates, exact export."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nncodec
from nncodec.errors import EncodeError
from nncodec.examples.mlp import loss_gradients
from nncodec.quant import FixedCodebook
from nncodec.train import (SGD, Adam, CompressionState, PruningSchedule, SharedTensor, decayed_lr,
                           distillation_logit_gradient, distillation_loss, distilled_gradients, next_masks,
                           train_compressed, train_epochs)
from nncodec.train.distill import softmax

from checkers import check_roundtrip
from skips import optional


def tiny_problem(seed=0, n=96, sizes=(6, 12, 3)):
    """A small MLP (float64 params, He init) and a learnable 3-class problem."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    y = np.argmax(X[:, :sizes[-1]], axis=1)
    params = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"fc{i}.weight"] = rng.standard_normal((b, a)) * np.sqrt(2 / a)
        params[f"fc{i}.bias"] = np.zeros(b)
    return params, X, y


WEIGHTS = ["fc1.weight", "fc2.weight"]


@pytest.mark.parametrize("optimizer", [SGD(0.1, momentum=0.9), Adam(0.01)], ids=["sgd-momentum", "adam"])
def test_pruned_weights_stay_exactly_zero_through_training(optimizer):
    params, X, y = tiny_problem()
    state = CompressionState()
    rng = np.random.default_rng(1)
    for sparsity in (0.5, 0.75):
        masks = state.prune({n: params[n] for n in WEIGHTS}, sparsity)
        state.apply_masks(params)
        before = {n: params[n].copy() for n in WEIGHTS}
        train_epochs(params, loss_gradients, X, y, 2, rng, optimizer, state, batch=16)
        for n in WEIGHTS:
            assert np.count_nonzero(~masks[n]) == round(sparsity * params[n].size)
            assert np.all(params[n][~masks[n]] == 0.0)
            assert not np.array_equal(params[n][masks[n]], before[n][masks[n]])  # kept weights did train


def test_masks_only_tighten():
    w = {"a": np.array([[0.1, -2.0, 0.3], [4.0, -0.05, 1.0]])}
    first = next_masks(w, 0.5)
    w2 = {"a": np.where(first["a"], np.array([[9.0, 0.01, 9.0], [9.0, 9.0, 9.0]]), 0.0)}
    second = next_masks(w2, 0.67, previous=first)  # removes 4 of 6
    assert not np.any(second["a"] & ~first["a"])
    assert np.count_nonzero(second["a"]) == 2  # the previous zeros plus the new smallest kept weight


def test_global_scope_and_std_rule():
    w = {"a": np.array([1.0, 2.0, 3.0, 4.0]), "b": np.array([10.0, 20.0, 30.0, 40.0])}
    masks = next_masks(w, 0.5, scope="global")
    assert not masks["a"].any() and masks["b"].all()
    std = next_masks(w, 1.0, rule="std")  # population std of [1, 2, 3, 4] is 1.118: keep 2, 3, 4
    assert std["a"].tolist() == [False, True, True, True]
    with pytest.raises(EncodeError):
        PruningSchedule(rule="random")
    with pytest.raises(EncodeError):
        next_masks(w, 1.0, rule="std", scope="global")


def test_centroid_update_equals_grouped_gradient_sums():
    # entry 0 is the pinned zero of the pruned weights; entries 1 and 2 are shared
    shared = SharedTensor(centroids=[0.0, 0.5, -0.25], indices=[[1, 0, 2], [2, 1, 1]], pinned_zero=True)
    grad = np.array([[0.1, 5.0, -0.2], [0.4, 0.3, -0.1]])
    assert shared.centroid_gradient(grad).tolist() == pytest.approx([0.0, 0.1 + 0.3 - 0.1, -0.2 + 0.4])
    state = CompressionState()
    state.shared["w"] = shared
    weights = state.update_centroids({"w": grad}, SGD(lr=0.5))
    assert shared.centroids.tolist() == pytest.approx([0.0, 0.5 - 0.5 * 0.3, -0.25 - 0.5 * 0.2])
    expected = np.float32([[0.35, 0.0, -0.35], [-0.35, 0.35, 0.35]])
    np.testing.assert_array_equal(weights["w"], expected)


def test_cluster_pins_zero_and_orders_entries_by_use():
    w = np.array([0.0, 1.0, 1.1, 0.9, -3.0, 0.0, 1.05, -3.1])
    mask = w != 0
    shared = SharedTensor.cluster(w, k=3, mask=mask)
    entries = shared.entries()
    assert entries[0] == 0.0 and np.all(shared.indices[~mask] == 0)
    assert entries[1] == pytest.approx(1.0125) and entries[2] == pytest.approx(-3.05)
    assert np.all(shared.indices[mask] > 0)
    unmasked = SharedTensor.cluster(w, k=2)
    assert not unmasked.pinned_zero and unmasked.entries().size == 2


@given(seed=st.integers(0, 2 ** 16), sparsity=st.sampled_from([0.0, 0.3, 0.9, 1.0]), k=st.integers(2, 40))
def test_export_decodes_to_exactly_the_trained_weights(seed, sparsity, k):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((7, 9)), "b": rng.standard_normal(7), "other": rng.standard_normal(4)}
    state = CompressionState()
    state.prune({"w": params["w"]}, sparsity)
    state.cluster({"w": params["w"], "b": params["b"]}, {"w": k, "b": 3})
    grads = {"w": rng.standard_normal((7, 9)), "b": rng.standard_normal(7)}
    state.update_centroids(grads, Adam(0.01))
    args = state.encode_arguments(params)
    for name, w in state.weights().items():
        np.testing.assert_array_equal(args["weights"][name], w)
    blob = nncodec.encode(**args, entropy="auto")
    decoded = nncodec.decode(blob)
    for name in ("w", "b"):
        assert decoded[name].tobytes() == state.weights()[name].tobytes()
    assert np.all(decoded["w"][~state.masks["w"]] == 0)
    assert decoded["other"].tobytes() == params["other"].astype(np.float32).tobytes()


def test_export_roundtrip_on_both_backends(enc_backend, dec_backend):
    params, _, _ = tiny_problem(3)
    state = CompressionState()
    state.prune({n: params[n] for n in WEIGHTS}, 0.6)
    state.cluster(params, {n: 4 for n in params})
    args = state.encode_arguments(params)
    check_roundtrip(args["weights"], enc_backend, dec_backend, quantize=args["quantize"], entropy="cabac")


def test_fixed_codebook_rejects_drift_and_bad_tables():
    entries, indices = np.float32([0.0, 0.5]), np.array([[0, 1], [1, 1]])
    q = FixedCodebook(entries, indices).quantize(np.array([[0.0, 0.5], [0.5, 0.5]]))
    assert q.kind == "codebook" and q.levels.tolist() == [[0, 1], [1, 1]]
    with pytest.raises(EncodeError, match="differ"):
        FixedCodebook(entries, indices).quantize(np.array([[0.0, 0.5], [0.5, 0.50001]]))
    with pytest.raises(EncodeError, match="shape"):
        FixedCodebook(entries, indices).quantize(np.zeros(4))
    with pytest.raises(EncodeError):
        FixedCodebook(entries, np.array([0, 2]))
    with pytest.raises(EncodeError):
        FixedCodebook(np.float32([np.nan]), np.array([0]))
    with pytest.raises(EncodeError):
        FixedCodebook(entries, np.array([0.0, 1.0]))


def test_state_rejects_misuse():
    state = CompressionState()
    state.cluster({"w": np.ones((2, 2))}, 2)
    with pytest.raises(EncodeError, match="prune before"):
        state.prune({"w": np.ones((2, 2))}, 0.5)
    with pytest.raises(EncodeError, match="no gradient"):
        state.centroid_gradients({})
    with pytest.raises(EncodeError, match="lack"):
        state.encode_arguments({})


def test_train_compressed_end_to_end():
    params, X, y = tiny_problem(5, n=160)
    stages = []
    state = train_compressed(params, loss_gradients, X, y, PruningSchedule((0.5, 0.8), epochs=3),
                             {n: 4 for n in params}, WEIGHTS, quant_epochs=2, lr=0.01, centroid_lr=1e-3,
                             batch=32, log=lambda stage, p, s: stages.append(stage))
    assert stages == ["pruned 0.5", "pruned 0.8", "clustered", "trained quantization"]
    for n in WEIGHTS:
        assert state.sparsity(n) == pytest.approx(0.8, abs=0.02)
        assert np.all(params[n][~state.masks[n]] == 0)
    for n, w in state.weights().items():
        np.testing.assert_array_equal(params[n], w)
        assert np.unique(w).size <= 4
    decoded = nncodec.decode(nncodec.encode(**state.encode_arguments(params), entropy="auto"))
    assert all(decoded[n].tobytes() == params[n].astype(np.float32).tobytes() for n in params)


def test_cnn_gradients_match_finite_differences():
    from nncodec.examples import cnn
    params = cnn.init_cnn(1)
    rng = np.random.default_rng(0)
    X, y = rng.random((4, 64)), rng.integers(0, 10, 4)

    def loss(p):
        logits = cnn.predict(p, X)
        logits = logits - logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(y)), y]))

    grads = cnn.loss_gradients(params, X, y)
    for name in ("conv1.weight", "conv1.bias", "conv2.weight", "fc1.weight", "fc2.bias"):
        for _ in range(3):
            idx = tuple(int(rng.integers(0, s)) for s in params[name].shape)
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][idx] += 1e-6
            up = loss(shifted)
            shifted[name][idx] -= 2e-6
            assert (up - loss(shifted)) / 2e-6 == pytest.approx(grads[name][idx], rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_architecture_metadata_names_the_weights(model):
    import json

    from nncodec.examples import cnn, mlp
    from nncodec.examples.digits import metadata
    if model == "mlp":
        arch, shapes = mlp.architecture(), {"fc1.weight": (300, 64), "fc2.weight": (100, 300), "fc3.weight": (10, 100)}
    else:
        arch, shapes = cnn.architecture(), cnn.SHAPES
    stored = json.loads(metadata(arch)["nncodec.architecture"])
    assert stored == arch and stored["format"] == "nncodec.sequential/1" and stored["layers"][-1] == {"type": "softmax"}
    named = [layer for layer in stored["layers"] if "weight" in layer]
    assert [layer["weight"] for layer in named] == [n for n in shapes if n.endswith("weight")]
    for layer in named:  # linear weights (out, in): each layer's input is the previous layer's output
        assert shapes[layer["weight"]][0] == shapes.get(layer["bias"], (shapes[layer["weight"]][0],))[0]


def test_digits_example_files_run_in_the_runtime(tmp_path):
    """The example's trained path (tiny epochs): both files are written, nncodec.runtime.load runs them, and the
    runtime's predictions equal a dense NumPy forward pass of the decoded weights."""
    optional("sklearn", "scikit-learn")
    from nncodec import runtime
    from nncodec.examples import digits, mlp
    from nncodec.train import PruningSchedule
    recipe = {**digits.MLP_RECIPE, "schedule": PruningSchedule((0.5, 0.9), rule="magnitude", scope="global",
                                                                epochs=1), "quant_epochs": 1}
    messages = []
    rows = digits.write_models(tmp_path, True, recipe, float_epochs=1, runtime_layout="dense", log=messages.append)
    assert [path.name for _, path, _, _ in rows] == ["float.nnc", "compressed.nnc"]
    assert rows[1][2] < rows[0][2] / 10 and any("90.0% of the weights pruned" in m for m in messages)
    X_test, y_test = mlp.load_digits_split()[1::2]
    for _, path, size, acc in rows:
        assert path.stat().st_size == size
        decoded = nncodec.load(path)
        logits = mlp.predict(decoded, X_test)
        expected = np.exp(logits - logits.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
        probabilities = runtime.load(path, layout="dense", batch=len(X_test))(X_test)
        np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-6)
        assert acc == np.mean(np.argmax(probabilities, axis=1) == y_test) == mlp.accuracy(decoded, X_test, y_test)
        np.testing.assert_allclose(runtime.load(path)(X_test[:4]), expected[:4], rtol=1e-4, atol=1e-6)
    compressed = nncodec.load(rows[1][1])
    kept = sum(np.count_nonzero(compressed[name]) for name in digits.WEIGHTS)
    assert kept <= 0.1 * sum(compressed[name].size for name in digits.WEIGHTS)


def test_digits_example_without_scikit_learn_says_so(tmp_path, monkeypatch, capsys):
    """The README's example command, without scikit-learn: one line naming the package to install, exit 2, no
    traceback, nothing written."""
    import sys
    from nncodec.examples import digits
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    with pytest.raises(SystemExit) as exit_:
        digits.main(["--trained", "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert "pip install scikit-learn" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@given(seed=st.integers(0, 2 ** 16), temperature=st.sampled_from([0.5, 1.0, 4.0]),
       alpha=st.sampled_from([0.0, 0.3, 1.0]))
def test_distillation_gradient_matches_finite_differences(seed, temperature, alpha):
    rng = np.random.default_rng(seed)
    logits, teacher = 3 * rng.standard_normal((5, 4)), 3 * rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, 5)
    grad = distillation_logit_gradient(logits, labels, teacher, temperature, alpha)
    for i, j in [(0, 0), (2, 3), (4, 1)]:
        step = np.zeros_like(logits)
        step[i, j] = 1e-6
        numeric = (distillation_loss(logits + step, labels, teacher, temperature, alpha)
                   - distillation_loss(logits - step, labels, teacher, temperature, alpha)) / 2e-6
        assert numeric == pytest.approx(grad[i, j], rel=1e-5, abs=1e-8)


def test_distillation_loss_limits():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.3, -0.2]])
    labels = np.array([0, 2])
    hard = -np.mean(np.log(softmax(logits)[[0, 1], labels]))
    assert distillation_loss(logits, labels, logits + 7.0, 3.0, 0.0) == pytest.approx(hard)
    assert distillation_loss(logits, labels, logits + 7.0, 3.0, 1.0) == pytest.approx(0.0, abs=1e-12)  # same soft
    far = np.array([[900.0, 0.0, -900.0]])  # softmax underflows to exactly 0: the loss stays finite
    assert np.isfinite(distillation_loss(far, np.array([2]), -far, 1.0, 0.5))
    for temperature, alpha in ((0.0, 0.5), (np.nan, 0.5), (2.0, 1.5), (2.0, -0.1)):
        with pytest.raises(EncodeError):
            distillation_logit_gradient(logits, labels, logits, temperature, alpha)


def test_distilled_gradients_train_the_mlp_through_its_backward():
    """alpha=0 gives exactly the cross-entropy gradients; with alpha>0 the gradients equal finite differences
    of the distillation loss of the MLP's logits (teacher = another MLP)."""
    from nncodec.examples.mlp import forward_backward
    params, X, y = tiny_problem(11, n=20)
    teacher = tiny_problem(12)[0]
    plain = distilled_gradients(forward_backward, teacher, alpha=0.0)(params, X, y)
    for name, g in loss_gradients(params, X, y).items():
        np.testing.assert_allclose(plain[name], g, rtol=1e-12, atol=1e-15)
    grads = distilled_gradients(forward_backward, teacher, temperature=3.0, alpha=0.6)(params, X, y)
    teacher_logits = forward_backward(teacher, X)[0]

    def loss(p):
        return distillation_loss(forward_backward(p, X)[0], y, teacher_logits, 3.0, 0.6)

    for name, idx in (("fc1.weight", (2, 1)), ("fc2.weight", (0, 5)), ("fc2.bias", (1,))):
        shifted = {k: v.copy() for k, v in params.items()}
        shifted[name][idx] += 1e-6
        up = loss(shifted)
        shifted[name][idx] -= 2e-6
        assert (up - loss(shifted)) / 2e-6 == pytest.approx(grads[name][idx], rel=1e-5, abs=1e-9)


def test_cosine_lr_decay_steps_each_optimizer():
    assert decayed_lr(0.1, 5, 10) == 0.1
    assert [decayed_lr(2.0, s, 4, "cosine") for s in range(4)] == pytest.approx(
        [2.0, 1 + np.cos(np.pi / 4), 1.0, 1 + np.cos(3 * np.pi / 4)])
    with pytest.raises(EncodeError, match="decay"):
        decayed_lr(0.1, 0, 1, "linear")
    # a constant gradient of 1 moves the parameter by the sum of the step sizes: 2 epochs x 3 batches
    params = {"w": np.zeros(1)}
    optimizer = SGD(0.5)
    train_epochs(params, lambda p, X, y: {"w": np.ones(1)}, np.zeros((5, 1)), np.zeros(5), 2,
                 np.random.default_rng(0), optimizer, batch=2, lr_decay="cosine")
    assert params["w"][0] == pytest.approx(-sum(decayed_lr(0.5, s, 6, "cosine") for s in range(6)))
    assert optimizer.lr == 0.5  # restored
    with pytest.raises(EncodeError, match="decay"):
        train_epochs(params, None, np.zeros((2, 1)), np.zeros(2), 1, np.random.default_rng(0), optimizer,
                     lr_decay="step")


def test_train_compressed_with_distillation_and_cosine_decay():
    from nncodec.examples.mlp import forward_backward
    params, X, y = tiny_problem(13, n=160)
    teacher = {k: v.copy() for k, v in params.items()}
    train_epochs(teacher, loss_gradients, X, y, 5, np.random.default_rng(0), Adam(0.01), batch=32)
    for k, v in teacher.items():
        params[k][...] = v
    state = train_compressed(params, distilled_gradients(forward_backward, teacher, 2.0, 0.5), X, y,
                             PruningSchedule((0.5, 0.7), epochs=2), {n: 4 for n in params}, WEIGHTS,
                             quant_epochs=2, lr=0.01, centroid_lr=1e-3, batch=32, lr_decay="cosine")
    for n in WEIGHTS:
        assert np.all(params[n][~state.masks[n]] == 0) and state.sparsity(n) == pytest.approx(0.7, abs=0.02)
    for n, w in state.weights().items():
        np.testing.assert_array_equal(params[n], w)
    decoded = nncodec.decode(nncodec.encode(**state.encode_arguments(params), entropy="auto"))
    assert all(decoded[n].tobytes() == params[n].astype(np.float32).tobytes() for n in params)
