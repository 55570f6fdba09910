"""Optional packages (torch, onnx): imported when a file needs them, with an install hint when they are absent."""

import importlib

from ..errors import BackendUnavailableError

__all__ = ["require"]


def require(module, purpose, install=None):
    """The imported ``module``; when it is not installed, BackendUnavailableError (an ImportError) saying that
    ``purpose`` needs it and how to install it (``pip install`` of ``install``, default the module's name)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name != module.split(".")[0]:  # installed but broken: its own error says more
            raise
        raise BackendUnavailableError(f"{purpose} needs the {module} package: pip install {install or module}") \
            from None
