"""Trained compression (issue 8): pruning masks, shared-weight codebooks and their export to ``nncodec.encode``,
framework-agnostic (NumPy only). ``nncodec.torch`` plugs the same state into a PyTorch training loop.

>>> state = CompressionState()
>>> state.prune({"fc1.weight": w}, 0.9)                  # then retrain with state.mask_gradients/apply_masks
>>> state.cluster({"fc1.weight": w}, k=16)                # then state.update_centroids(grads, Adam(1e-4))
>>> blob = nncodec.encode(**state.encode_arguments(params), entropy="auto")

Retraining options of the loop: ``lr_decay="cosine"`` anneals each phase's learning rate, and
``distilled_gradients(forward_backward, teacher)`` trains against the float model's soft targets.

May import: ``api`` and everything below it (``quant`` for masks and codebooks); not the runtime or the tools.
"""

from .distill import distillation_logit_gradient, distillation_loss, distilled_gradients
from .loop import minibatches, train_compressed, train_epochs
from .optim import LR_DECAYS, SGD, Adam, decayed_lr
from .pruning import PruningSchedule, next_masks
from .sharing import SharedTensor
from .state import CompressionState

__all__ = ["CompressionState", "SharedTensor", "PruningSchedule", "next_masks", "SGD", "Adam", "LR_DECAYS",
           "decayed_lr", "minibatches", "train_epochs", "train_compressed", "distillation_loss",
           "distillation_logit_gradient", "distilled_gradients"]
