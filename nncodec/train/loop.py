"""The NumPy reference training loop for trained compression (Deep Compression's pipeline): prune and retrain
on a schedule, then cluster and train the shared centroids. Used by the examples, the benchmarks and the tests;
any model works that gives ``gradients(params, X, y) -> {name: float64 array}`` of its mean loss.
"""

import numpy as np

from .optim import Adam, decayed_lr
from .state import CompressionState

__all__ = ["minibatches", "train_epochs", "train_compressed"]


def minibatches(n, batch, rng):
    """Index arrays of one epoch: a ``rng.permutation(n)`` cut into batches of ``batch`` (the last may be short)."""
    order = rng.permutation(n)
    return [order[start:start + batch] for start in range(0, n, batch)]


def train_epochs(params, gradients, X, y, epochs, rng, optimizer, state=None, centroid_optimizer=None, batch=64,
                 lr_decay="constant"):
    """Train ``params`` (name -> float64 array, updated in place) for ``epochs`` epochs of minibatches.

    With ``state``: gradients and weights of masked tensors are masked around each step (pruned weights stay
    exactly 0.0); shared tensors are not touched by ``optimizer`` but rebuilt from their centroids after
    ``centroid_optimizer`` steps them. ``lr_decay`` (see :func:`nncodec.train.decayed_lr`) sets each optimizer's
    ``lr`` before every step from its value at the call (restored at the end), over the
    ``epochs * ceil(len(X) / batch)`` steps."""
    decayed_lr(1.0, 0, 1, lr_decay)  # rejects an unknown decay before any step
    optimizers = [o for o in (optimizer, centroid_optimizer) if o is not None]
    bases = [o.lr for o in optimizers]
    total = epochs * -(-len(X) // batch)
    step = 0
    for _ in range(epochs):
        for idx in minibatches(len(X), batch, rng):
            for o, base in zip(optimizers, bases):
                o.lr = decayed_lr(base, step, total, lr_decay)
            step += 1
            grads = gradients(params, X[idx], y[idx])
            if state is None:
                optimizer.step(params, grads)
                continue
            state.mask_gradients(grads)
            if state.shared:
                for name, w in state.update_centroids(grads, centroid_optimizer).items():
                    params[name][...] = w
            optimizer.step(params, {k: g for k, g in grads.items() if k not in state.shared})
            state.apply_masks(params)
    for o, base in zip(optimizers, bases):
        o.lr = base
    return params


def train_compressed(params, gradients, X, y, schedule, clusters, prune_names, quant_epochs=8, lr=1e-3,
                     centroid_lr=1e-4, weight_decay=0.0, seed=0, batch=64, lr_decay="constant", log=None):
    """Deep Compression on trained ``params`` (name -> float64 array, updated in place): for each stage of
    ``schedule`` (a :class:`PruningSchedule`), prune the tensors in ``prune_names`` and retrain with a fresh Adam
    (``lr``, ``weight_decay``);
    then cluster the tensors in ``clusters`` (name -> k) and train the centroids by Adam for ``quant_epochs``.
    ``lr_decay`` applies to each of these phases on its own (``"cosine"``: every retraining and the centroid
    training anneal from their lr towards 0). ``gradients`` may be a distillation loss
    (:func:`nncodec.train.distilled_gradients`); it is used in every phase.
    ``log(stage, params, state)`` is called after each stage. Returns the :class:`CompressionState`."""
    rng = np.random.default_rng(seed)
    state = CompressionState()
    for amount in schedule.amounts:
        state.prune({name: params[name] for name in prune_names}, amount, schedule.rule, schedule.scope)
        state.apply_masks(params)
        train_epochs(params, gradients, X, y, schedule.epochs, rng, Adam(lr, weight_decay=weight_decay), state,
                     batch=batch, lr_decay=lr_decay)
        if log:
            log(f"pruned {amount}", params, state)
    for name, w in state.cluster({name: params[name] for name in clusters}, clusters).items():
        params[name][...] = w
    if log:
        log("clustered", params, state)
    train_epochs(params, gradients, X, y, quant_epochs, rng, Adam(lr), state, Adam(centroid_lr), batch=batch,
                 lr_decay=lr_decay)
    if log:
        log("trained quantization", params, state)
    return state
