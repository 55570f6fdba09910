"""A LeNet-5-shaped CNN for 8x8 digits: trained with PyTorch (deterministic seed), run with NumPy.

conv1 6@5x5 (pad 2) - ReLU - max-pool 2 - conv2 16@5x5 (pad 2) - ReLU - max-pool 2 - fc1 64->120 - ReLU - fc2 120->84
- ReLU - fc3 84->10. Weights are ``{"conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,), ..., "fc3.bias": (10,)}``
float32 arrays (PyTorch's layouts). ``forward(layers, X)`` takes each layer as a callable on its im2col input, so
benchmarks can swap a layer for a factored one.
"""

import numpy as np

__all__ = ["train_lenet", "im2col", "dense_layers", "forward", "accuracy", "LAYERS"]

LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")
PAD = 2


def train_lenet(X, y, epochs=30, batch=64, lr=2e-3, seed=0):
    """Weights of the CNN trained by Adam on ``X`` (N, 64) in [0, 1] with labels ``y`` (needs torch)."""
    import torch
    from torch import nn
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=PAD), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5, padding=PAD), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(64, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    images = torch.tensor(np.asarray(X, np.float32).reshape(-1, 1, 8, 8))
    labels = torch.tensor(np.asarray(y, np.int64))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images[idx]), labels[idx]).backward()
            optimizer.step()
    modules = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    weights = {}
    for name, module in zip(LAYERS, modules):
        weights[f"{name}.weight"] = module.weight.detach().numpy().astype(np.float32)
        weights[f"{name}.bias"] = module.bias.detach().numpy().astype(np.float32)
    return weights


def im2col(x, kh, kw, pad):
    """Patches of ``x`` (N, C, H, W), stride 1: (C * kh * kw, N * H' * W') in the kernel's (c, y, x) order."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_h, out_w = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
    cols = np.empty((c, kh, kw, n, out_h, out_w), dtype=x.dtype)
    for dy in range(kh):
        for dx in range(kw):
            cols[:, dy, dx] = padded[:, :, dy:dy + out_h, dx:dx + out_w].transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * out_h * out_w), (n, out_h, out_w)


def _pool(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def dense_layers(weights):
    """{layer: callable(columns) -> pre-activation (out, columns)} for the plain weights."""
    layers = {}
    for name in LAYERS:
        w = weights[f"{name}.weight"]
        matrix, bias = w.reshape(w.shape[0], -1), weights[f"{name}.bias"][:, None]
        layers[name] = lambda cols, matrix=matrix, bias=bias: matrix @ cols + bias
    return layers


def forward(layers, X, inputs=None):
    """Class scores (N, 10) for ``X`` (N, 64); ``inputs``, a dict, receives each layer's im2col input."""
    x = np.asarray(X, np.float32).reshape(-1, 1, 8, 8)
    for name in ("conv1", "conv2"):
        cols, (n, h, w) = im2col(x, 5, 5, PAD)
        if inputs is not None:
            inputs[name] = cols
        z = layers[name](cols)
        x = _pool(np.maximum(z, 0).reshape(-1, n, h, w).transpose(1, 0, 2, 3))
    h = x.reshape(len(x), -1).T
    for name in ("fc1", "fc2", "fc3"):
        if inputs is not None:
            inputs[name] = h
        h = layers[name](h)
        if name != "fc3":
            h = np.maximum(h, 0)
    return h.T


def accuracy(layers, X, y):
    return float(np.mean(np.argmax(forward(layers, X), axis=1) == y))
