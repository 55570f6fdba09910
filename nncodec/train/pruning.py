"""Iterative pruning masks (True = keep) for training: each new mask only removes weights, never restores one.

Rules: ``magnitude`` removes the ``round(sparsity * n)`` smallest |w| of each tensor (``scope="layer"``; the
sparsity may be a dict name -> fraction) or of all tensors together (``scope="global"``); ``std`` is Deep
Compression's threshold, keeping ``|w| >= quality * std`` with the standard deviation of the tensor's kept weights.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import EncodeError
from ..quant.prune import SCOPES, magnitude_masks

__all__ = ["PruningSchedule", "next_masks", "RULES"]

RULES = ("magnitude", "std")


def next_masks(weights, amount, rule="magnitude", scope="layer", previous=None):
    """Masks for ``weights`` (name -> array) at ``amount`` (a sparsity, or a quality for ``rule="std"``), ANDed
    with ``previous`` masks so pruned weights stay pruned. Pruned weights should already be 0.0 in ``weights``
    (they are then the smallest and are removed first)."""
    if rule == "magnitude":
        masks = magnitude_masks(weights, amount, scope)
    elif rule == "std":
        if scope != "layer":
            raise EncodeError("the std rule is per layer; use scope='layer'")
        masks = {}
        for name, w in weights.items():
            w = np.asarray(w, dtype=np.float64)
            kept = w[previous[name]] if previous and name in previous else w.reshape(-1)
            quality = amount[name] if isinstance(amount, dict) else amount
            masks[name] = np.abs(w) >= float(quality) * (np.std(kept) if kept.size else 0.0)
    else:
        raise EncodeError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    if previous:
        masks = {name: m & previous[name] if name in previous else m for name, m in masks.items()}
    return masks


@dataclass(frozen=True)
class PruningSchedule:
    """Prune-retrain stages: for each entry of ``amounts`` (a sparsity or quality, or a dict name -> value), prune
    with ``rule``/``scope``, then retrain ``epochs`` epochs with the masks applied."""

    amounts: tuple = (0.5, 0.7, 0.8, 0.9)
    rule: str = "magnitude"
    scope: str = "layer"
    epochs: int = 4

    def __post_init__(self):
        if self.rule not in RULES:
            raise EncodeError(f"rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        if self.scope not in SCOPES:
            raise EncodeError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
