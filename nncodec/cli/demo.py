"""A small built-in model for demos and smoke tests: deterministic, shaped like a trained CNN + MLP.

Weights are drawn from Laplace distributions with per-layer scales (trained weights are heavy-tailed and
centred on zero), biases and normalisation parameters are small vectors, and there is one int64 buffer, so the
example exercises several dtypes and sizes. It is synthetic: compression ratios on it only illustrate.
"""

import numpy as np

__all__ = ["demo_model"]


def demo_model(seed=0):
    """{name: array} for a LeNet-5-shaped CNN with batch norm plus a small classifier head (~62 k parameters)."""
    rng = np.random.default_rng(seed)

    def laplace(shape, fan_in):
        return rng.laplace(0.0, 0.5 / np.sqrt(fan_in), size=shape).astype(np.float32)

    return {
        "conv1.weight": laplace((6, 1, 5, 5), 25),
        "conv1.bias": laplace((6,), 25),
        "bn1.weight": (1.0 + 0.1 * rng.standard_normal(6)).astype(np.float32),
        "bn1.bias": (0.05 * rng.standard_normal(6)).astype(np.float32),
        "bn1.num_batches_tracked": np.array(1875, dtype=np.int64),
        "conv2.weight": laplace((16, 6, 5, 5), 150),
        "conv2.bias": laplace((16,), 150),
        "fc1.weight": laplace((120, 400), 400),
        "fc1.bias": laplace((120,), 400),
        "fc2.weight": laplace((84, 120), 120),
        "fc2.bias": laplace((84,), 120),
        "fc3.weight": laplace((10, 84), 84).astype(np.float16),
        "fc3.bias": laplace((10,), 84).astype(np.float16),
    }
