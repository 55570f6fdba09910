"""A LeNet-5-shaped CNN for the 8x8 digits in NumPy (im2col convolutions), for the trained-compression examples.

The LeNet-5 of Deep Compression's Table 1 (Caffe's: conv 20, conv 50, fc 500, fc 10) on 8x8 inputs, with
padding 2 so the 5x5 kernels keep the size: conv 20@5x5 -> ReLU -> max-pool 2 -> conv 50@5x5 -> ReLU -> max-pool 2
-> flatten (200) -> linear 500 -> ReLU -> linear 10 (130 K parameters). Weights are float arrays in PyTorch's layouts:
``conv{i}.weight`` (out, in, kh, kw), ``fc{i}.weight`` (out, in), NCHW activations, flatten in (C, H, W) order.
"""

import numpy as np

from ..train import Adam, train_epochs

__all__ = ["init_cnn", "train_cnn", "loss_gradients", "predict", "accuracy", "layer_inputs", "architecture",
           "SHAPES"]

SHAPES = {"conv1.weight": (20, 1, 5, 5), "conv1.bias": (20,), "conv2.weight": (50, 20, 5, 5), "conv2.bias": (50,),
          "fc1.weight": (500, 200), "fc1.bias": (500,), "fc2.weight": (10, 500), "fc2.bias": (10,)}
PADDING = 2


def architecture():
    """The model as an ``nncodec.architecture`` description (format nncodec.sequential/1)."""
    conv = {"type": "conv2d", "stride": 1, "padding": PADDING}
    pool = {"type": "maxpool2d", "kernel": 2, "stride": 2}
    layers = [dict(conv, weight="conv1.weight", bias="conv1.bias"), {"type": "relu"}, pool,
              dict(conv, weight="conv2.weight", bias="conv2.bias"), {"type": "relu"}, pool, {"type": "flatten"}]
    for i in (1, 2):
        layers += [{"type": "linear", "weight": f"fc{i}.weight", "bias": f"fc{i}.bias"}, {"type": "relu"}]
    layers[-1] = {"type": "softmax"}
    return {"format": "nncodec.sequential/1", "input_shape": [1, 8, 8], "layers": layers}


def init_cnn(seed=0):
    """float64 parameters with He initialisation (zero biases)."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in SHAPES.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        params[name] = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in) if len(shape) > 1 else np.zeros(shape)
    return params


def _patches(x, k):
    """im2col: (N*H*W, C*k*k) rows of the zero-padded ``x`` (N, C, H, W), one per output position."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (PADDING, PADDING), (PADDING, PADDING)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))  # N, C, H, W, k, k
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


def _conv(x, weight, bias):
    n, _, h, w = x.shape
    cols = _patches(x, weight.shape[-1])
    out = cols @ weight.reshape(weight.shape[0], -1).T + bias
    return out.reshape(n, h, w, -1).transpose(0, 3, 1, 2), cols


def _conv_backward(dout, cols, weight, in_shape):
    """(weight grad, bias grad, input grad) of a padded stride-1 convolution."""
    n, c, h, w = in_shape
    k = weight.shape[-1]
    d = dout.transpose(0, 2, 3, 1).reshape(n * h * w, -1)
    dcols = (d @ weight.reshape(weight.shape[0], -1)).reshape(n, h, w, c, k, k)
    dpadded = np.zeros((n, c, h + 2 * PADDING, w + 2 * PADDING))
    for i in range(k):
        for j in range(k):
            dpadded[:, :, i:i + h, j:j + w] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    dx = dpadded[:, :, PADDING:PADDING + h, PADDING:PADDING + w]
    return (d.T @ cols).reshape(weight.shape), d.sum(axis=0), dx


def _pool(x):
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    winner = blocks.argmax(axis=-1)
    return np.take_along_axis(blocks, winner[..., None], axis=-1)[..., 0], winner


def _pool_backward(dout, winner, shape):
    n, c, h, w = shape
    blocks = np.zeros((n, c, h // 2, w // 2, 4))
    np.put_along_axis(blocks, winner[..., None], dout[..., None], axis=-1)
    return blocks.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)


def _forward(params, X):
    x0 = np.asarray(X, dtype=np.float64).reshape(-1, 1, 8, 8)
    z1, cols1 = _conv(x0, params["conv1.weight"], params["conv1.bias"])
    p1, win1 = _pool(np.maximum(z1, 0))
    z2, cols2 = _conv(p1, params["conv2.weight"], params["conv2.bias"])
    p2, win2 = _pool(np.maximum(z2, 0))
    h0 = p2.reshape(len(x0), -1)
    h1 = np.maximum(h0 @ params["fc1.weight"].T + params["fc1.bias"], 0)
    logits = h1 @ params["fc2.weight"].T + params["fc2.bias"]
    return logits, (x0, z1, cols1, p1, win1, z2, cols2, p2, win2, h0, h1)


def predict(params, X):
    """Class scores for inputs ``X`` (N, 64), float64 forward pass."""
    return _forward({k: np.asarray(v, dtype=np.float64) for k, v in params.items()}, X)[0]


def layer_inputs(params, X):
    """Each conv/linear layer's input in its matrix view, ``{"conv1": (1 * 25, N * 64), "conv2": (20 * 25,
    N * 16), "fc1": (200, N), "fc2": (500, N)}`` (float64): the calibration data of data-aware fitting."""
    _, (_, _, cols1, _, _, _, cols2, _, _, h0, h1) = _forward({k: np.asarray(v, dtype=np.float64)
                                                              for k, v in params.items()}, X)
    return {"conv1": cols1.T, "conv2": cols2.T, "fc1": h0.T, "fc2": h1.T}


def accuracy(params, X, y):
    return float(np.mean(np.argmax(predict(params, X), axis=1) == y))


def loss_gradients(params, X, y):
    """float64 gradients of the mean softmax cross-entropy on inputs ``X`` (N, 64) with labels ``y``."""
    logits, (x0, z1, cols1, p1, win1, z2, cols2, p2, win2, h0, h1) = _forward(params, X)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d2 = (p - np.eye(logits.shape[1])[y]) / len(logits)
    g = {"fc2.weight": d2.T @ h1, "fc2.bias": d2.sum(axis=0)}
    d1 = (d2 @ params["fc2.weight"]) * (h1 > 0)
    g["fc1.weight"], g["fc1.bias"] = d1.T @ h0, d1.sum(axis=0)
    dp2 = (d1 @ params["fc1.weight"]).reshape(p2.shape)
    dz2 = _pool_backward(dp2, win2, z2.shape) * (z2 > 0)
    g["conv2.weight"], g["conv2.bias"], dp1 = _conv_backward(dz2, cols2, params["conv2.weight"], p1.shape)
    dz1 = _pool_backward(dp1, win1, z1.shape) * (z1 > 0)
    g["conv1.weight"], g["conv1.bias"], _ = _conv_backward(dz1, cols1, params["conv1.weight"], x0.shape)
    return g


def train_cnn(X, y, epochs=20, batch=64, lr=2e-3, seed=0):
    """float64 parameters trained by Adam from :func:`init_cnn` (deterministic for a seed)."""
    params = init_cnn(seed)
    train_epochs(params, loss_gradients, X, y, epochs, np.random.default_rng(seed), Adam(lr), batch=batch)
    return params
