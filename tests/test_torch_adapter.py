"""nncodec.torch: the trained-compression adapter in a plain torch training loop, and the diagonal Fisher."""

import sys

import numpy as np
import pytest

import nncodec
from nncodec.errors import BackendUnavailableError
from nncodec.examples.mlp import loss_gradients
from nncodec.train import SGD, Adam, CompressionState, minibatches, train_epochs
from skips import optional

torch = optional("torch", "torch")
from nncodec.torch import TorchCompression, diagonal_fisher  # noqa: E402


def problem(seed=0, n=96):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    return X, np.argmax(X[:, :3], axis=1)


def sequential(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3)).double()


def run(model, optimizer, X, y, steps, rng):
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = minibatches(len(X), 16, rng)
    for idx in batches[:steps]:
        optimizer.zero_grad()
        loss_fn(model(torch.from_numpy(X[idx])), torch.from_numpy(y[idx])).backward()
        optimizer.step()


def test_masks_hold_under_sgd_with_momentum():
    X, y = problem()
    model = sequential()
    comp = TorchCompression(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    comp.attach(optimizer)
    rng = np.random.default_rng(0)
    for sparsity in (0.5, 0.8):
        masks = comp.prune(sparsity)
        assert set(masks) == {"0.weight", "2.weight"}
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        run(model, optimizer, X, y, 5, rng)
        for name, mask in masks.items():
            w = dict(model.named_parameters())[name].detach().numpy()
            assert np.all(w[~mask] == 0.0) and np.count_nonzero(~mask) == round(sparsity * mask.size)
            assert not np.array_equal(w[mask], before[name].numpy()[mask])
            assert np.all(dict(model.named_parameters())[name].grad.numpy()[~mask] == 0.0)


def test_centroids_move_by_grouped_gradients_and_export_is_exact():
    X, y = problem(1)
    model = sequential(1)
    comp = TorchCompression(model)
    comp.prune(0.5)
    comp.cluster(4, SGD(lr=0.05))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    comp.attach(optimizer)
    params = dict(model.named_parameters())
    for step in range(3):
        old = {n: s.centroids.copy() for n, s in comp.state.shared.items()}
        optimizer.zero_grad()
        torch.nn.CrossEntropyLoss()(model(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        grads = {n: p.grad.numpy().copy() for n, p in params.items()}
        optimizer.step()
        for name, shared in comp.state.shared.items():
            sums = np.bincount(shared.indices.reshape(-1), grads[name].reshape(-1), minlength=old[name].size)
            if shared.pinned_zero:
                sums[0] = 0.0
            np.testing.assert_allclose(shared.centroids, old[name] - 0.05 * sums, rtol=0, atol=1e-15)
            np.testing.assert_array_equal(params[name].detach().numpy(), shared.weights())
            assert np.unique(shared.weights()).size <= 4
    arguments = comp.finalize()
    decoded = nncodec.decode(nncodec.encode(**arguments, entropy="auto"))
    for name, p in params.items():
        assert decoded[name].tobytes() == p.detach().numpy().astype(np.float32).tobytes()


def test_adapter_reproduces_the_numpy_loop():
    X, y = problem(2)
    model = sequential(2)
    names = {"fc1.weight": "0.weight", "fc1.bias": "0.bias", "fc2.weight": "2.weight", "fc2.bias": "2.bias"}
    params = {ours: p.detach().numpy().copy() for ours, theirs in names.items()
              for n, p in model.named_parameters() if n == theirs}
    state = CompressionState()
    state.prune({n: params[n] for n in ("fc1.weight", "fc2.weight")}, 0.6)
    state.apply_masks(params)
    train_epochs(params, loss_gradients, X, y, 2, np.random.default_rng(7), Adam(0.01), state, batch=16)
    state.cluster(params, 4)
    for n, w in state.weights().items():
        params[n][...] = w
    train_epochs(params, loss_gradients, X, y, 2, np.random.default_rng(8), Adam(0.01), state, Adam(1e-3),
                 batch=16)

    comp = TorchCompression(model)
    comp.prune(0.6)
    for seed, clustered in ((7, False), (8, True)):
        if clustered:
            comp.cluster(4, Adam(1e-3))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        comp.attach(optimizer)
        rng = np.random.default_rng(seed)
        for _ in range(2):
            run(model, optimizer, X, y, 99, rng)
        comp.detach()
    got = dict(model.named_parameters())
    for ours, theirs in names.items():
        np.testing.assert_allclose(got[theirs].detach().numpy(), params[ours], rtol=0, atol=1e-6)


def test_diagonal_fisher_is_the_mean_squared_batch_gradient():
    X, y = problem(3)
    model = sequential(3)
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = [(torch.from_numpy(X[part]), torch.from_numpy(y[part])) for part in (slice(0, 32), slice(32, None))]
    fisher = diagonal_fisher(model, loss_fn, batches)
    expected = {}
    for inputs, targets in batches:
        grads = torch.autograd.grad(loss_fn(model(inputs), targets), list(model.parameters()))
        for (name, _), g in zip(model.named_parameters(), grads):
            expected[name] = expected.get(name, 0) + g.numpy() ** 2 / 2
    for name in expected:
        np.testing.assert_allclose(fisher[name], expected[name], rtol=1e-12)
    blob = nncodec.encode({"w": model[0].weight.detach().numpy()}, quantize="rdoq:bits=4,lam=0.1",
                          importance={"w": fisher["0.weight"]}, keep_small=0)
    assert nncodec.decode(blob)["w"].shape == (12, 6)


def test_missing_torch_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendUnavailableError, match="nncodec-container\\[torch\\]"):
        TorchCompression(object())


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_numpy_adam_matches_torch_adam(weight_decay):
    rng = np.random.default_rng(4)
    start, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(3)]
    ours, theirs = {"p": start.copy()}, torch.nn.Parameter(torch.from_numpy(start.copy()))
    adam, torch_adam = Adam(0.01, weight_decay=weight_decay), torch.optim.Adam([theirs], lr=0.01,
                                                                              weight_decay=weight_decay)
    for g in grads:
        adam.step(ours, {"p": g})
        theirs.grad = torch.from_numpy(g.copy())
        torch_adam.step()
    np.testing.assert_allclose(ours["p"], theirs.detach().numpy(), rtol=0, atol=1e-15)


def test_torch_distillation_loss_equals_the_numpy_loss_and_gradient():
    from nncodec.torch import distillation_loss as torch_loss
    from nncodec.train import distillation_logit_gradient, distillation_loss
    rng = np.random.default_rng(5)
    logits, teacher, labels = 2 * rng.standard_normal((6, 4)), 2 * rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    z = torch.tensor(logits, requires_grad=True)
    loss = torch_loss(z, torch.from_numpy(labels), torch.from_numpy(teacher), 3.0, 0.4)
    loss.backward()
    assert loss.item() == pytest.approx(distillation_loss(logits, labels, teacher, 3.0, 0.4), rel=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), distillation_logit_gradient(logits, labels, teacher, 3.0, 0.4),
                               rtol=1e-10, atol=1e-15)
    with pytest.raises(nncodec.errors.EncodeError):
        torch_loss(z, torch.from_numpy(labels), torch.from_numpy(teacher), -1.0, 0.4)


def test_adapter_reproduces_the_numpy_loop_with_distillation_and_cosine_decay():
    """The loop-level options (a distillation loss, cosine lr decay) written in a torch loop with the adapter give
    the NumPy loop's weights: the loss is nncodec.torch.distillation_loss, the lr comes from decayed_lr."""
    from nncodec.examples.mlp import forward_backward
    from nncodec.torch import distillation_loss
    from nncodec.train import decayed_lr, distilled_gradients
    X, y = problem(6)
    model, teacher = sequential(6), sequential(7)
    names = {"fc1.weight": "0.weight", "fc1.bias": "0.bias", "fc2.weight": "2.weight", "fc2.bias": "2.bias"}

    def ours(m):
        named = dict(m.named_parameters())
        return {n: named[t].detach().numpy().copy() for n, t in names.items()}

    params = ours(model)
    gradients = distilled_gradients(forward_backward, ours(teacher), temperature=2.0, alpha=0.5)
    state = CompressionState()
    state.prune({n: params[n] for n in ("fc1.weight", "fc2.weight")}, 0.6)
    state.apply_masks(params)
    train_epochs(params, gradients, X, y, 2, np.random.default_rng(7), Adam(0.01), state, batch=16,
                 lr_decay="cosine")
    state.cluster(params, 4)
    for n, w in state.weights().items():
        params[n][...] = w
    train_epochs(params, gradients, X, y, 2, np.random.default_rng(8), Adam(0.01), state, Adam(1e-3),
                 batch=16, lr_decay="cosine")

    comp = TorchCompression(model)
    comp.prune(0.6)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    for seed, clustered in ((7, False), (8, True)):
        if clustered:
            comp.cluster(4, Adam(1e-3))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        comp.attach(optimizer)
        rng, step = np.random.default_rng(seed), 0
        for _ in range(2):
            for idx in minibatches(len(X), 16, rng):
                optimizer.param_groups[0]["lr"] = decayed_lr(0.01, step, 12, "cosine")
                if clustered:
                    comp.centroid_optimizer.lr = decayed_lr(1e-3, step, 12, "cosine")
                step += 1
                optimizer.zero_grad()
                with torch.no_grad():
                    teacher_logits = teacher(inputs[idx])
                distillation_loss(model(inputs[idx]), targets[idx], teacher_logits, 2.0, 0.5).backward()
                optimizer.step()
        comp.detach()
    got = ours(model)
    for name in names:
        np.testing.assert_allclose(got[name], params[name], rtol=0, atol=1e-6)
    assert not np.allclose(got["fc1.bias"], ours(sequential(6))["fc1.bias"])  # it did train


def test_state_dict_round_trip_is_exact_for_scalars_and_tied_weights():
    """Lossless state dicts come back exactly: dtype, shape (0-d tensors stay 0-d), values and tied storage."""
    from nncodec.torch import encode_state_dict, load_state_dict
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 4))
    model[2].weight = torch.nn.Parameter(model[0].weight.detach().t().contiguous())
    model(torch.randn(8, 4))  # one training step's statistics: num_batches_tracked becomes 1
    embed = torch.randn(5, 3)
    sd = {**model.state_dict(), "scale": torch.tensor(0.25), "bf": torch.tensor(1.5, dtype=torch.bfloat16),
          "embed.weight": embed, "head.weight": embed, "half": torch.randn(2, 2).half()}
    assert sd["1.num_batches_tracked"].shape == ()
    for preset in (None, "lossless"):
        out = load_state_dict(encode_state_dict(sd) if preset is None else encode_state_dict(sd, preset=preset))
        assert list(out) == list(sd)
        for name, tensor in sd.items():
            assert (out[name].dtype, out[name].shape) == (tensor.dtype, tensor.shape), name
            assert torch.equal(out[name], tensor), name
        assert out["head.weight"].data_ptr() == out["embed.weight"].data_ptr()
        assert out["0.weight"].data_ptr() != out["embed.weight"].data_ptr()
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 4))
    fresh.load_state_dict({k: v for k, v in out.items() if k.split(".")[0].isdigit()})
    assert int(fresh[1].num_batches_tracked) == 1
