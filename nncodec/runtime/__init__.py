"""nncodec.runtime: products computed directly on decoded sparse structures, and a small inference engine.

- :func:`matmul` / :func:`prepare`: a weight in a layout of :mod:`nncodec.sparse` (the same objects
  ``decode(materialize=False)`` returns: a decoded structure is used as it is) and ``A @ x`` on it for float32
  x of shape (n,) or (n, batch), without densifying, also on factored weights (``LowRankMatrix``: ``U (V x)``;
  ``SparsePlusLowRank``: ``S x + U (V x)``). Kernels come from the selected backend
  (``nncodec.kernels.cython.spmm`` or ``nncodec.kernels.reference.spmm``).
- :func:`choose_layout`: the per-layer layout pick (a measured trial).
- :func:`load` / :class:`Model`: sequential models described in the container's metadata
  (spec/runtime-architecture.md).
- :func:`info`: backend, whether the kernels were built with OpenMP, and the thread count.

May import: ``api`` and everything below it (``sparse`` for the layouts it multiplies); not the tools.
"""

from .. import kernels
from .architecture import FORMAT, METADATA_KEY, parse_architecture
from .choose import LayoutChoice, choose_layout
from .engine import Model, architecture_metadata, load
from ..sparse.convert import LAYOUTS, matmul, prepare
from ..sparse.matrices import SparseMatrix, available_threads

# the common interface of what prepare returns (every layout class of nncodec.sparse)
Operator = SparseMatrix

__all__ = ["matmul", "prepare", "choose_layout", "LayoutChoice", "Operator", "LAYOUTS", "load", "Model",
           "architecture_metadata", "parse_architecture", "FORMAT", "METADATA_KEY", "info"]


def info(backend=None):
    """``{"backend", "parallel" (kernels built with OpenMP), "threads" (CPUs a large product uses)}``."""
    name = kernels.resolve(backend)
    parallel = bool(kernels.module("spmm", name).PARALLEL)
    return {"backend": name, "parallel": parallel, "threads": available_threads() if parallel else 1}
