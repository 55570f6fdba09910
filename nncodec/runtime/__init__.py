"""nncodec.runtime: products computed directly on decoded sparse structures, and a small inference engine.

- :func:`matmul` / :func:`prepare`: ``A @ x`` for float32 x of shape (n,) or (n, batch) on a dense matrix or a
  CSR, CER, CSER or relative-index structure (:mod:`nncodec.sparse`), without densifying, and on factored
  weights (``LowRankMatrix``: ``U (V x)``; ``SparsePlusLowRank``: ``S x + U (V x)``). Kernels come from the
  selected backend (``nncodec.kernels.cython.spmm`` or ``nncodec.kernels.reference.spmm``).
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
from ..sparse.operators import LAYOUTS, Operator, available_threads, matmul, prepare

__all__ = ["matmul", "prepare", "choose_layout", "LayoutChoice", "Operator", "LAYOUTS", "load", "Model",
           "architecture_metadata", "parse_architecture", "FORMAT", "METADATA_KEY", "info"]


def info(backend=None):
    """``{"backend", "parallel" (kernels built with OpenMP), "threads" (CPUs a large product uses)}``."""
    name = kernels.resolve(backend)
    parallel = bool(kernels.module("spmm", name).PARALLEL)
    return {"backend": name, "parallel": parallel, "threads": available_threads() if parallel else 1}
