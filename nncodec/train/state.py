"""The compression state carried between training steps: pruning masks and shared-weight codebooks, by name.

Framework-agnostic: every method takes and returns NumPy arrays, so a training loop in any framework (see
``nncodec.train.loop`` for NumPy, ``nncodec.torch`` for PyTorch) calls it between its own steps:

    pruning phase:   after backward, ``mask_gradients(grads)``; after the optimizer step, ``apply_masks(params)``
    sharing phase:   after backward, ``update_centroids(grads, optimizer)``; then the weights are ``weights()``
    at the end:      ``nncodec.encode(**state.encode_arguments(params), entropy="auto")``
"""

import numpy as np

from ..errors import EncodeError
from ..quant import FixedCodebook
from .pruning import next_masks
from .sharing import SharedTensor

__all__ = ["CompressionState"]


class CompressionState:
    """Masks (name -> bool array, True = keep) and shared tensors (name -> :class:`SharedTensor`)."""

    def __init__(self):
        self.masks = {}
        self.shared = {}

    def prune(self, weights, amount, rule="magnitude", scope="layer"):
        """Tighten the masks of ``weights`` (name -> array; only these names are pruned) to ``amount`` (see
        :func:`nncodec.train.pruning.next_masks`); weights already pruned stay pruned. Returns the masks."""
        if self.shared:
            raise EncodeError("prune before clustering: the codebooks' pinned zeros follow the masks")
        current = {name: np.where(self.masks[name], w, 0.0) if name in self.masks else np.asarray(w)
                   for name, w in weights.items()}
        self.masks.update(next_masks(current, amount, rule, scope, self.masks))
        return {name: self.masks[name] for name in weights}

    def apply_masks(self, arrays):
        """Set the pruned entries of each masked array in ``arrays`` (name -> writable array) to zero, in place."""
        for name, mask in self.masks.items():
            if name in arrays:
                arrays[name][~mask] = 0

    mask_gradients = apply_masks

    def cluster(self, weights, k, init="linear"):
        """Start trained quantization: cluster each tensor of ``weights`` into ``k`` entries (an int, or a dict
        name -> int) with its mask's pinned zero. Returns the float32 shared weights, name -> array."""
        for name, w in weights.items():
            count = k[name] if isinstance(k, dict) else k
            self.shared[name] = SharedTensor.cluster(w, count, self.masks.get(name), init)
        return self.weights()

    def centroid_gradients(self, grads):
        """name -> the gradient of each codebook entry (grouped sums of ``grads``, which must cover every shared
        tensor)."""
        missing = sorted(set(self.shared) - set(grads))
        if missing:
            raise EncodeError(f"no gradient for shared tensors {missing}")
        return {name: s.centroid_gradient(grads[name]) for name, s in self.shared.items()}

    def update_centroids(self, grads, optimizer):
        """One ``optimizer.step(centroids, centroid_gradients(grads))`` on the float64 centroids (any object with
        that method: ``nncodec.train.SGD``, ``Adam``). Returns the new float32 shared weights, name -> array."""
        centroids = {name: s.centroids for name, s in self.shared.items()}
        optimizer.step(centroids, self.centroid_gradients(grads))
        for name, s in self.shared.items():
            s.centroids = centroids[name]
        return self.weights()

    def weights(self):
        """name -> float32 weights of each shared tensor (``entries[indices]``)."""
        return {name: s.weights() for name, s in self.shared.items()}

    def sparsity(self, name):
        """Fraction of the tensor's weights that are pruned (0.0 for unmasked tensors)."""
        mask = self.masks.get(name)
        return 0.0 if mask is None or not mask.size else 1.0 - np.count_nonzero(mask) / mask.size

    def encode_arguments(self, params):
        """Keyword arguments of ``nncodec.encode`` storing exactly this state: ``weights`` (float32 ``params`` with
        the shared tensors replaced by their shared weights and masks applied) and ``quantize`` (a
        :class:`nncodec.quant.FixedCodebook` per shared tensor). Tensors neither shared nor masked stay as given."""
        unknown = sorted((set(self.shared) | set(self.masks)) - set(params))
        if unknown:
            raise EncodeError(f"params lack the state's tensors {unknown}")
        weights = {}
        for name, value in params.items():
            if name in self.shared:
                weights[name] = self.shared[name].weights()
            else:
                weights[name] = np.asarray(value, dtype=np.float32).copy()
                if name in self.masks:
                    weights[name][~self.masks[name]] = 0.0
        quantize = {name: FixedCodebook(s.entries(), s.indices) for name, s in self.shared.items()}
        return {"weights": weights, "quantize": quantize}
