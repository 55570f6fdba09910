"""Optimizers over dicts of float64 NumPy arrays, updated in place: for the reference training loop's weights
and for the shared centroids of trained quantization."""

import numpy as np

__all__ = ["SGD", "Adam"]


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
