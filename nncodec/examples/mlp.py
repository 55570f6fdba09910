"""A small NumPy multilayer perceptron with deterministic training, for examples and benchmarks.

``train_mlp(X, y, sizes)`` trains a ReLU MLP with softmax cross-entropy by Adam on minibatches; weights are stored
as ``{"fc{i}.weight": (out, in), "fc{i}.bias": (out,)}`` float32 arrays (PyTorch's Linear layout), and
``predict(weights, X)`` runs it. No framework needed; the same seed gives the same weights.
"""

import numpy as np

__all__ = ["accuracy", "architecture", "forward_backward", "load_digits_split", "loss_gradients", "predict",
           "train_mlp", "validation_split"]


def load_digits_split():
    """scikit-learn's digits, X scaled to [0, 1], split 75/25 stratified with random_state=0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    X = (data.data / 16.0).astype(np.float32)
    return train_test_split(X, data.target, test_size=0.25, random_state=0, stratify=data.target)


def validation_split(X_train, y_train):
    """(X_fit, X_val, y_fit, y_val): 20% of the training split held out for choosing recipes, stratified,
    random_state=0; the test split stays untouched until the chosen model is reported."""
    from sklearn.model_selection import train_test_split
    return train_test_split(X_train, y_train, test_size=0.2, random_state=0, stratify=y_train)


def architecture(sizes=(64, 300, 100, 10)):
    """The MLP as an ``nncodec.architecture`` description (format nncodec.sequential/1, weights (out, in))."""
    layers = []
    for i in range(1, len(sizes)):
        layers += [{"type": "linear", "weight": f"fc{i}.weight", "bias": f"fc{i}.bias"}, {"type": "relu"}]
    layers[-1] = {"type": "softmax"}
    return {"format": "nncodec.sequential/1", "input_shape": [sizes[0]], "layers": layers}


def _layers(weights):
    n = len([k for k in weights if k.endswith(".weight")])
    return [(weights[f"fc{i}.weight"], weights[f"fc{i}.bias"]) for i in range(1, n + 1)]


def predict(weights, X):
    """Class scores of the MLP ``weights`` for inputs ``X`` (float32 forward pass)."""
    h = np.asarray(X, dtype=np.float32)
    layers = _layers(weights)
    for i, (w, b) in enumerate(layers):
        h = h @ np.asarray(w, dtype=np.float32).T + np.asarray(b, dtype=np.float32)
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def accuracy(weights, X, y):
    return float(np.mean(np.argmax(predict(weights, X), axis=1) == y))


def train_mlp(X, y, sizes=(64, 300, 100, 10), epochs=40, batch=64, lr=2e-3, seed=0):
    """Weights of a ReLU MLP trained by Adam (He initialisation, softmax cross-entropy), deterministic."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"fc{i}.weight"] = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float64)
        params[f"fc{i}.bias"] = np.zeros(n_out)
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    X = np.asarray(X, dtype=np.float64)
    onehot = np.eye(sizes[-1])[y]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            grads = _gradients(params, X[idx], onehot[idx])
            step += 1
            for k, g in grads.items():
                m, v = moments[k]
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                params[k] -= lr * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    return {k: v.astype(np.float32) for k, v in params.items()}


def loss_gradients(params, X, y):
    """float64 gradients of the mean softmax cross-entropy of the MLP ``params`` on inputs ``X``, labels ``y``."""
    depth = len([k for k in params if k.endswith(".weight")])
    classes = params[f"fc{depth}.bias"].shape[0]
    return _gradients(params, X, np.eye(classes)[y])


def forward_backward(params, X):
    """(logits, backward) of the MLP ``params`` (float64 arrays) on inputs ``X``: float64 logits (N, classes) and
    ``backward(dlogits)`` -> name -> float64 gradient of ``sum(dlogits * logits)`` (a vector-Jacobian product).
    Any loss of the logits trains the MLP through it (:func:`nncodec.train.distilled_gradients`)."""
    depth = len([k for k in params if k.endswith(".weight")])
    activations = [np.asarray(X, dtype=np.float64)]
    for i in range(1, depth + 1):
        z = activations[-1] @ params[f"fc{i}.weight"].T + params[f"fc{i}.bias"]
        activations.append(np.maximum(z, 0) if i < depth else z)

    def backward(dlogits):
        delta, grads = dlogits, {}
        for i in range(depth, 0, -1):
            grads[f"fc{i}.weight"] = delta.T @ activations[i - 1]
            grads[f"fc{i}.bias"] = delta.sum(axis=0)
            if i > 1:
                delta = (delta @ params[f"fc{i}.weight"]) * (activations[i - 1] > 0)
        return grads

    return activations[-1], backward


def _gradients(params, X, targets):
    logits, backward = forward_backward(params, X)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return backward((p - targets) / len(X))
