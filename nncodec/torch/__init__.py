"""PyTorch integration (optional extra: ``pip install "nncodec-container[torch]"``, CPU torch is enough).

torch is imported only when one of these functions or classes is used; without it they raise
``nncodec.errors.BackendUnavailableError``.

A tool: may import anything in nncodec (``io``, ``train``).
"""

from ..io.torch_io import encode_state_dict, load_state_dict
from .training import TorchCompression, diagonal_fisher, distillation_loss

__all__ = ["TorchCompression", "diagonal_fisher", "distillation_loss", "encode_state_dict", "load_state_dict"]
