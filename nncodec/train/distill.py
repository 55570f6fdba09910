"""Knowledge distillation (Hinton, Vinyals and Dean 2015, "Distilling the Knowledge in a Neural Network") for
retraining a compressed model: the float model is the teacher, and the compressed student learns from its
temperature-softened class probabilities as well as from the hard labels.

The loss of a batch of N examples, with student logits ``z``, teacher logits ``t``, labels ``y``, temperature T
and soft-target weight ``alpha`` (softmax over classes, CE = cross-entropy, KL = Kullback-Leibler divergence):

    (1 - alpha) * mean CE(y, softmax(z))  +  alpha * T**2 * mean KL(softmax(t / T) || softmax(z / T))

The T**2 factor keeps the soft term's gradient on the scale of the hard term's as T changes (Hinton et al.,
section 2). Its gradient with respect to ``z`` is
``((1 - alpha) * (softmax(z) - onehot(y)) + alpha * T * (softmax(z / T) - softmax(t / T))) / N``.
"""

import numpy as np

from ..errors import EncodeError

__all__ = ["check_distillation", "distillation_logit_gradient", "distillation_loss", "distilled_gradients",
           "log_softmax", "softmax"]


def softmax(logits, temperature=1.0):
    """Row-wise ``softmax(logits / temperature)`` in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def log_softmax(logits, temperature=1.0):
    """Row-wise ``log(softmax(logits / temperature))`` in float64, finite where the softmax underflows to 0."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def check_distillation(temperature, alpha):
    """Raise :class:`nncodec.errors.EncodeError` unless ``temperature > 0`` and ``0 <= alpha <= 1``."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise EncodeError(f"temperature must be a positive number, got {temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise EncodeError(f"alpha must be in [0, 1], got {alpha!r}")


def distillation_loss(logits, labels, teacher_logits, temperature, alpha):
    """The batch loss of the module docstring (float)."""
    check_distillation(temperature, alpha)
    n = len(logits)
    hard = -log_softmax(logits)[np.arange(n), labels]
    teacher = log_softmax(teacher_logits, temperature)
    kl = np.sum(np.exp(teacher) * (teacher - log_softmax(logits, temperature)), axis=1)
    return float(np.mean((1 - alpha) * hard + alpha * temperature ** 2 * kl))


def distillation_logit_gradient(logits, labels, teacher_logits, temperature, alpha):
    """float64 gradient of :func:`distillation_loss` with respect to ``logits`` (N, classes)."""
    check_distillation(temperature, alpha)
    n = len(logits)
    hard = softmax(logits)
    hard[np.arange(n), labels] -= 1.0
    soft = temperature * (softmax(logits, temperature) - softmax(teacher_logits, temperature))
    return ((1 - alpha) * hard + alpha * soft) / n


def distilled_gradients(forward_backward, teacher, temperature=4.0, alpha=0.7):
    """A ``gradients(params, X, y)`` for :func:`nncodec.train.train_epochs` and ``train_compressed`` that trains on
    :func:`distillation_loss` with ``teacher`` (name -> array, e.g. the float model before compression; copied)
    as the teacher. ``forward_backward(params, X) -> (logits, backward)``, with ``backward(dlogits)`` returning the
    parameter gradients of ``sum(dlogits * logits)``, is the model (e.g. ``nncodec.examples.mlp.forward_backward``).
    ``alpha=0`` is plain cross-entropy training."""
    check_distillation(temperature, alpha)
    teacher = {name: np.array(w, dtype=np.float64) for name, w in teacher.items()}

    def gradients(params, X, y):
        teacher_logits = forward_backward(teacher, X)[0]
        logits, backward = forward_backward(params, X)
        return backward(distillation_logit_gradient(logits, y, teacher_logits, temperature, alpha))

    return gradients
