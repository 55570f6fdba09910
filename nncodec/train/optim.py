"""Optimizers over dicts of float64 NumPy arrays, updated in place: for the reference training loop's weights
and for the shared centroids of trained quantization."""

import math

import numpy as np

from ..errors import EncodeError

__all__ = ["LR_DECAYS", "SGD", "Adam", "decayed_lr"]

LR_DECAYS = ("constant", "cosine")


def decayed_lr(base, step, total, decay="constant"):
    """The learning rate of step ``step`` (0-based) of ``total``: ``base`` for ``"constant"``; for ``"cosine"``
    (Loshchilov and Hutter 2017, one cycle without restart) ``base * (1 + cos(pi * step / total)) / 2``, from
    ``base`` at step 0 down towards 0 at the last step."""
    if decay == "constant":
        return base
    if decay == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * step / total))
    raise EncodeError(f"lr decay must be one of {', '.join(LR_DECAYS)}, got {decay!r}")


class SGD:
    """``p -= lr * g`` (with ``momentum``, PyTorch's heavy-ball form: ``b = momentum * b + g; p -= lr * b``)."""

    def __init__(self, lr, momentum=0.0):
        self.lr, self.momentum, self.buffers = lr, momentum, {}

    def step(self, params, grads):
        for name, g in grads.items():
            if self.momentum:
                b = self.buffers.setdefault(name, np.zeros_like(g))
                b *= self.momentum
                b += g
                g = b
            params[name] -= self.lr * g


class Adam:
    """Adam (Kingma and Ba), as ``torch.optim.Adam`` computes it; ``weight_decay`` adds ``weight_decay * p`` to
    each gradient (L2, not AdamW). Under Adam's normalisation even a small decay drives weights that get no data
    gradient (inputs that are always zero) to 0, so magnitude pruning removes them first."""

    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.moments, self.steps = {}, {}

    def step(self, params, grads):
        b1, b2 = self.betas
        for name, g in grads.items():
            if self.weight_decay:
                g = g + self.weight_decay * params[name]
            m, v = self.moments.setdefault(name, (np.zeros_like(g), np.zeros_like(g)))
            t = self.steps[name] = self.steps.get(name, 0) + 1
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            denominator = np.sqrt(v) / np.sqrt(1 - b2 ** t) + self.eps
            params[name] -= (self.lr / (1 - b1 ** t)) * m / denominator
