"""The directory's data model (spec 3.3 to 3.5) and its serialisation.

Parsers (``reference/directory.py`` and its Cython twin) produce these objects; the writer below turns them
back into bytes. Offsets are not part of the bytes (spec 3.4): parsers fill ``Stream.offset`` in.
"""

from dataclasses import dataclass, field
from typing import Tuple, Union

__all__ = ["Stream", "Stage", "Chain", "Composite", "Alias", "Node", "TensorRecord", "Directory",
           "CHAIN", "COMPOSITE", "ALIAS", "CONCAT", "SUM", "PRODUCT", "SEPARABLE", "MAX_NDIM", "MAX_DEPTH",
           "MAX_STREAMS", "MAX_STAGES", "MAX_CHILDREN", "MAX_ALIGN_LOG2", "write_varint", "write_str", "serialize_directory",
           "iter_streams", "node_elements"]

# Structural bounds fixed by the spec (section 3.5); they are format rules, not configurable limits.
MAX_NDIM = 32
MAX_DEPTH = 8
MAX_STREAMS = 64
MAX_STAGES = 16
MAX_CHILDREN = 4096
MAX_ALIGN_LOG2 = 12

CHAIN, COMPOSITE, ALIAS = 0, 1, 2
CONCAT, SUM, PRODUCT, SEPARABLE = 0, 1, 2, 3


@dataclass(frozen=True)
class Stream:
    """One stream descriptor (spec 3.5.1).

    ``offset`` (absolute from the container start) and ``padding`` (zero bytes in front of the stream) are
    computed by the parser, not stored (spec 3.4).
    """

    coding: int
    elem_type: int
    align_log2: int
    count: int
    length: int
    crc32: int
    offset: int = field(default=-1, compare=False)
    padding: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Stage:
    """A stage of a chain: its id (spec section 4) and its raw parameter bytes."""

    stage_id: int
    params: bytes = b""


@dataclass(frozen=True)
class Chain:
    streams: Tuple[Stream, ...]
    stages: Tuple[Stage, ...]


@dataclass(frozen=True)
class Composite:
    combine: int
    children: Tuple["Node", ...]


@dataclass(frozen=True)
class Alias:
    """A tensor stored once for several names (spec 3.5.3): the index of an earlier tensor record."""

    target: int


@dataclass(frozen=True)
class Node:
    """A node (spec 3.5): the dtype code and shape of its output and its body (a Chain, Composite or Alias)."""

    dtype: int
    shape: Tuple[int, ...]
    body: Union[Chain, Composite, Alias]


@dataclass(frozen=True)
class TensorRecord:
    name: str
    node: Node


@dataclass(frozen=True)
class Directory:
    metadata: Tuple[Tuple[str, str], ...]
    tensors: Tuple[TensorRecord, ...]


def node_elements(shape):
    """Element count of a shape (1 for a 0-d shape)."""
    n = 1
    for extent in shape:
        n *= extent
    return n


def iter_streams(node):
    """The node's streams in payload (depth-first, descriptor) order."""
    if isinstance(node.body, Chain):
        yield from node.body.streams
    elif isinstance(node.body, Composite):
        for child in node.body.children:
            yield from iter_streams(child)


def write_varint(out, value):
    """Append the canonical unsigned LEB128 encoding of ``value`` (spec 2) to bytearray ``out``."""
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"varint out of range: {value}")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def write_str(out, text):
    data = text.encode("utf-8")
    write_varint(out, len(data))
    out += data


def _write_node(out, node):
    out.append(node.dtype)
    out.append(len(node.shape))
    for extent in node.shape:
        write_varint(out, extent)
    if isinstance(node.body, Chain):
        out.append(CHAIN)
        write_varint(out, len(node.body.streams))
        for s in node.body.streams:
            out += bytes((s.coding, s.elem_type, s.align_log2))
            write_varint(out, s.count)
            write_varint(out, s.length)
            out += s.crc32.to_bytes(4, "little")
        write_varint(out, len(node.body.stages))
        for stage in node.body.stages:
            out.append(stage.stage_id)
            write_varint(out, len(stage.params))
            out += stage.params
    elif isinstance(node.body, Alias):
        out.append(ALIAS)
        write_varint(out, node.body.target)
    else:
        out.append(COMPOSITE)
        out.append(node.body.combine)
        write_varint(out, len(node.body.children))
        for child in node.body.children:
            _write_node(out, child)


def serialize_directory(directory):
    """The directory's bytes (spec 3.3)."""
    out = bytearray()
    write_varint(out, len(directory.metadata))
    for key, value in directory.metadata:
        write_str(out, key)
        write_str(out, value)
    write_varint(out, len(directory.tensors))
    for record in directory.tensors:
        write_str(out, record.name)
        _write_node(out, record.node)
    return bytes(out)
