"""Per-tensor summaries of a container from its header and directory alone (no payload read, no NumPy).

This is what ``nncodec info`` prints and what :meth:`nncodec.Reader.info` returns; it imports only the directory
parser, so a new ``nncodec info`` process does not pay for NumPy's start-up.
"""

import mmap
import os

from ..bundle import locate
from .directory import read_directory
from ..format.identifiers import CODING_NAMES, DTYPE_NAMES, STAGE_NAMES, itemsize
from ..format.limits import DEFAULT_LIMITS
from ..format.records import CONCAT, PRODUCT, SEPARABLE, SUM, Alias, Chain, iter_streams, node_elements

__all__ = ["describe_node", "info_rows", "read_summary"]


def describe_node(node):
    """A short human-readable description of a node's stages, e.g. ``dense<zstd>`` or ``concat[3](dense<raw>)``."""
    if isinstance(node.body, Chain):
        codings = ",".join(CODING_NAMES.get(s.coding, f"?{s.coding}") for s in node.body.streams)
        stages = "+".join(STAGE_NAMES.get(s.stage_id, f"?{s.stage_id}") for s in node.body.stages)
        return f"{stages}<{codings}>"
    if isinstance(node.body, Alias):
        return f"alias[{node.body.target}]"
    names = {CONCAT: "concat", SUM: "sum", PRODUCT: "product", SEPARABLE: "separable"}
    kids = sorted({describe_node(c) for c in node.body.children})
    return f"{names.get(node.body.combine, '?')}[{len(node.body.children)}]({'|'.join(kids)})"


def info_rows(directory):
    """One dict per tensor: name, dtype, shape, chain, nbytes, stored_bytes, ratio, bits_per_weight."""
    rows = []
    for record in directory.tensors:
        node = record.node
        n = node_elements(node.shape)
        nbytes = n * itemsize(node.dtype)
        stored = sum(s.length for s in iter_streams(node))
        rows.append({
            "name": record.name, "dtype": DTYPE_NAMES[node.dtype], "shape": node.shape,
            "chain": describe_node(node), "nbytes": nbytes, "stored_bytes": stored,
            "ratio": nbytes / stored if stored else float("inf") if nbytes else 1.0,
            "bits_per_weight": 8.0 * stored / n if n else 0.0,
        })
    return rows


def read_summary(source, *, offset=None, limits=None, backend=None):
    """``(info rows, metadata dict)`` of the container in ``source`` (a path or bytes-like object).

    The container may sit inside a larger file as for :func:`nncodec.open`. The header and directory are
    checked exactly as when opening; no stream is read, so stream CRCs are not checked (``nncodec verify`` does).
    """
    limits = limits or DEFAULT_LIMITS
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:  # mmap cannot map an empty file
                return read_summary(b"", offset=offset, limits=limits, backend=backend)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                view = locate(mm, offset)
                try:
                    directory = read_directory(view, limits, backend)
                finally:
                    view.release()  # the map can close only when no view of it is left
    else:
        directory = read_directory(locate(source, offset), limits, backend)
    return info_rows(directory), dict(directory.metadata)
