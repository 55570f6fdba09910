"""Trained compression in an ordinary PyTorch training loop: :class:`TorchCompression` keeps a
:class:`nncodec.train.CompressionState` in step with a module's parameters; :func:`diagonal_fisher` estimates
per-weight importance for RDOQ and saliency pruning.

    comp = TorchCompression(model)
    comp.prune(0.9); comp.attach(optimizer)      # masked gradients and weights around every optimizer.step()
    ... train ...
    comp.cluster(16, Adam(1e-4)); comp.attach(new_optimizer)   # centroids move after every optimizer.step()
    ... train ...
    blob = nncodec.encode(**comp.finalize(), entropy="auto")
"""

import numpy as np

from ..errors import BackendUnavailableError, EncodeError
from ..train import CompressionState
from ..train.distill import check_distillation

__all__ = ["TorchCompression", "diagonal_fisher", "distillation_loss"]


def _torch():
    try:
        import torch
    except ImportError:
        raise BackendUnavailableError('nncodec.torch needs PyTorch: pip install "nncodec-container[torch]"') from None
    return torch


class TorchCompression:
    """Pruning masks and shared-weight codebooks for the parameters of ``model`` (a ``torch.nn.Module``).

    Gradient hooks zero the pruned weights' gradients; after each step of an attached optimizer, pruned weights
    are set back to 0.0 and, once clustered, the shared tensors' centroids take one ``centroid_optimizer`` step on
    the grouped gradients (``param.grad`` summed per codebook entry) and the weights are rebuilt from them, so
    whatever the optimizer did to a shared tensor is replaced."""

    def __init__(self, model, state=None):
        self.torch = _torch()
        self.params = dict(model.named_parameters())
        self.state = state if state is not None else CompressionState()
        self.centroid_optimizer = None
        self._grad_hooks = {}
        self._step_hooks = []

    def _numpy(self, names):
        return {name: self.params[name].detach().cpu().double().numpy() for name in names}

    def _write(self, arrays):
        with self.torch.no_grad():
            for name, value in arrays.items():
                p = self.params[name]
                p.copy_(self.torch.from_numpy(np.asarray(value)).to(dtype=p.dtype, device=p.device))

    def _mask_of(self, name):
        mask = self.state.masks[name]
        p = self.params[name]
        return self.torch.from_numpy(mask).to(device=p.device)

    def prune(self, amount, names=None, rule="magnitude", scope="layer"):
        """Tighten the masks of ``names`` (default: every parameter with 2 or more dimensions) to ``amount`` (see
        :meth:`CompressionState.prune`) and zero the pruned weights. Returns the masks (name -> bool array)."""
        names = [n for n, p in self.params.items() if p.dim() >= 2] if names is None else list(names)
        masks = self.state.prune(self._numpy(names), amount, rule, scope)
        for name in names:
            if name not in self._grad_hooks:
                self._grad_hooks[name] = self.params[name].register_hook(
                    lambda grad, name=name: grad * self._mask_of(name).to(grad.dtype))
        self.apply_masks()
        return masks

    def apply_masks(self):
        """Set every pruned weight to exactly 0.0."""
        with self.torch.no_grad():
            for name in self.state.masks:
                self.params[name].mul_(self._mask_of(name).to(self.params[name].dtype))

    def cluster(self, k, centroid_optimizer, names=None, init="linear"):
        """Start trained quantization of ``names`` (default: every parameter) with ``k`` entries each (int or dict
        name -> k); ``centroid_optimizer`` (``nncodec.train.SGD``/``Adam``) moves the centroids after each step."""
        names = list(self.params) if names is None else list(names)
        self.centroid_optimizer = centroid_optimizer
        self._write(self.state.cluster(self._numpy(names), k, init))

    def after_step(self, *_):
        """What runs after each ``optimizer.step()`` (called by the hook :meth:`attach` installs): centroid update
        from the current ``param.grad`` of the shared tensors, then the masks."""
        if self.state.shared:
            grads = {}
            for name in self.state.shared:
                grad = self.params[name].grad
                if grad is None:
                    raise EncodeError(f"shared parameter {name!r} has no gradient at the optimizer step")
                grads[name] = grad.detach().cpu().double().numpy()
            self._write(self.state.update_centroids(grads, self.centroid_optimizer))
        self.apply_masks()

    def attach(self, optimizer):
        """Run :meth:`after_step` after every ``optimizer.step()`` (a step post-hook; detach with ``detach()``)."""
        self._step_hooks.append(optimizer.register_step_post_hook(self.after_step))

    def detach(self):
        """Remove the gradient and optimizer hooks (the state is kept)."""
        for handle in list(self._grad_hooks.values()) + self._step_hooks:
            handle.remove()
        self._grad_hooks, self._step_hooks = {}, []

    def finalize(self):
        """Remove the hooks and return the keyword arguments of ``nncodec.encode`` that store exactly the trained
        state (see :meth:`CompressionState.encode_arguments`): every parameter, by its ``named_parameters`` name."""
        self.detach()
        return self.state.encode_arguments(self._numpy(self.params))


def diagonal_fisher(model, loss_fn, batches):
    """name -> float64 array: the mean over ``batches`` (iterable of (inputs, targets)) of each parameter's
    squared gradient of ``loss_fn(model(inputs), targets)`` (the empirical diagonal Fisher information, from
    batch gradients), for ``nncodec.encode(importance=...)``. Leaves the parameters' ``.grad`` cleared."""
    torch = _torch()
    params = dict(model.named_parameters())
    total = {name: torch.zeros_like(p, dtype=torch.float64) for name, p in params.items()}
    count = 0
    for inputs, targets in batches:
        model.zero_grad(set_to_none=True)
        loss_fn(model(inputs), targets).backward()
        for name, p in params.items():
            if p.grad is not None:
                total[name] += p.grad.detach().double() ** 2
        count += 1
    model.zero_grad(set_to_none=True)
    if count == 0:
        raise EncodeError("diagonal_fisher needs at least one batch")
    return {name: (t / count).cpu().numpy() for name, t in total.items()}


def distillation_loss(logits, labels, teacher_logits, temperature=4.0, alpha=0.7):
    """The knowledge-distillation loss of :func:`nncodec.train.distillation_loss` as a torch scalar (same value
    and gradient): ``(1 - alpha) * cross_entropy(logits, labels) + alpha * temperature**2 * KL(teacher || student)``
    at ``temperature``, batch means. ``teacher_logits`` are detached (the float model's outputs)."""
    torch = _torch()
    check_distillation(temperature, alpha)
    functional = torch.nn.functional
    hard = functional.cross_entropy(logits, labels)
    soft = functional.kl_div(functional.log_softmax(logits / temperature, dim=1),
                             functional.log_softmax(teacher_logits.detach() / temperature, dim=1),
                             reduction="batchmean", log_target=True)
    return (1 - alpha) * hard + alpha * temperature ** 2 * soft
