"""``scope=model``: one quantization step shared by several tensors, chosen for an SQNR target over all of them
together, ``10 log10(sum w^2 / sum (w - w_hat)^2)`` (issue 4's measure). For that measure one shared step is the
best allocation (BENCHMARKS 3), and NNC itself uses one qp for every tensor.

The step is found once per encode call, before any tensor is quantized, on a deterministic strided sample of the
kept weights: every ``stride``-th position of the tensors laid end to end, at most ``MODEL_SAMPLE`` weights, so
each tensor contributes in proportion to its size. Pruned weights count as 0 (no signal, no error); importance
plays no part. Each scope=model quantizer is then replaced by its twin with that fixed ``step``, so tensors are
still quantized independently (and in parallel), and the container records an ordinary step.
"""

import dataclasses

import numpy as np

from ..errors import EncodeError

__all__ = ["MODEL_SAMPLE", "sample_plan", "resolve_model_scope", "resolve_for_tensor"]

MODEL_SAMPLE = 1 << 20  # weights the shared step is fitted on (dq runs its trellis on them 2-3 times). On the CRNN
                        # (3.8M weights, dq at 25/35/45 dB) 1 << 18 missed the total target by 0.01-0.02 dB,
                        # 1 << 20 reaches it (+0.01 dB)


def sample_plan(sizes):
    """``(stride, starts)`` for tensors of ``sizes`` elements laid end to end: tensor i contributes
    ``flat[starts[i]::stride]`` (the positions that are multiples of ``stride``), at most ``MODEL_SAMPLE`` in all."""
    stride = max(1, -(-sum(sizes) // MODEL_SAMPLE))
    starts, offset = [], 0
    for size in sizes:
        starts.append((-offset) % stride)
        offset += size
    return stride, starts


def with_step(quantizer, step):
    """The per-tensor twin of a scope=model ``quantizer`` with the fixed float32 ``step``."""
    return dataclasses.replace(quantizer, step=step, sqnr=None, scope="tensor")


def resolve_model_scope(quantizers, sizes, kept_sample, jobs=None):
    """``{name: quantizer}`` with each scope=model quantizer replaced by its step-fixed twin; the others as given.

    Tensors with equal scope=model quantizers share one step, found by the quantizer's ``model_step`` over all of
    them; different quantizers resolve over their own tensors. ``sizes[name]`` is a tensor's element count and
    ``kept_sample(name, start, stride)`` its float64 weights ``flat[start::stride]`` with pruned ones set to 0;
    ``jobs`` the threads a quantizer's search may use (``nncodec.parallel``).
    Raises EncodeError on non-finite weights or an unreachable target."""
    groups = {}
    for name, quantizer in quantizers.items():
        if getattr(quantizer, "scope", "tensor") == "model":
            groups.setdefault(quantizer, []).append(name)
    resolved = dict(quantizers)
    for quantizer, names in groups.items():
        stride, starts = sample_plan([sizes[name] for name in names])
        pieces = []
        for name, start in zip(names, starts):
            piece = kept_sample(name, start, stride)
            if not np.all(np.isfinite(piece)):
                raise EncodeError(f"tensor {name!r}: weights must be finite (found NaN or infinity)")
            pieces.append(piece)
        twin = with_step(quantizer, quantizer.model_step(pieces, jobs))
        resolved.update(dict.fromkeys(names, twin))
    return resolved


def resolve_for_tensor(quantizer, w, mask):
    """The step-fixed twin of a scope=model ``quantizer`` for the float64 tensor ``w`` alone (``mask``: True =
    keep): what quantizing one tensor directly, outside an encode call, means."""
    stride, (start,) = sample_plan([w.size])
    piece = w.reshape(-1)[start::stride]
    if mask is not None:
        piece = np.where(mask.reshape(-1)[start::stride], piece, 0.0)
    return with_step(quantizer, quantizer.model_step([piece]))
