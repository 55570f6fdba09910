"""Helpers that build or edit containers byte by byte, for tests and fuzzers that need hostile input.

- ``dense_tensor(name, dtype, shape, data, ...)``: a tensor record whose single dense stream holds ``data`` and
  whose declared fields (count, length, CRC, coding, params) can each be overridden to lie.
- ``stream(elem_type, values)`` and ``chain_tensor(name, dtype, shape, streams, stages)``: a chain over several
  streams through any stages (e.g. a sparse layout's index and value streams), each declared field overridable.
- ``craft(tensors, metadata=())``: container bytes from such records (valid header, CRCs and padding).
- ``header(blob)`` / ``with_header(blob, **fields)``: read or rewrite header fields, re-sealing the header CRC.
- ``with_streams(node, change)`` / ``realigned(blob, align_log2)``: rewrite stream descriptors; a container with
  every stream at another alignment.
- ``reseal(blob)``: recompute every CRC (streams when the directory parses, then directory and header), so a
  mutation reaches the checks behind the checksums.
"""

import dataclasses
import zlib

import numpy as np

from nncodec.format.assemble import PendingStream, write_container

from nncodec.format.header import HEADER_SIZE
from nncodec.format.dtypes import DTYPE_CODES, numpy_dtype
from nncodec.format.limits import DecodeLimits
from nncodec.format.records import (Alias, Chain, Composite, Directory, Node, Stage, Stream, TensorRecord, iter_streams,
                             serialize_directory)

__all__ = ["crc32", "stream", "chain_tensor", "dense_tensor", "craft", "header", "with_header", "reseal",
           "with_streams", "realigned",
           "HEADER_FIELDS"]

# name -> (offset, size) of the header's integer fields (spec 3.2)
HEADER_FIELDS = {"major": (8, 1), "minor": (9, 1), "flags": (10, 2), "directory_length": (12, 4),
                 "payload_length": (16, 8), "directory_crc": (24, 4), "header_crc": (28, 4)}


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def stream(elem_type, values=(), *, data=None, coding=0, align_log2=6, count=None, length=None, crc=None):
    """A stream for :func:`chain_tensor`: ``values`` stored raw as ``elem_type`` (a name of spec 3.7), or the stored
    bytes ``data`` as given; every declared field defaults to the truthful value (count: ``len(values)``)."""
    elem = DTYPE_CODES[elem_type]
    if data is None:
        data = np.asarray(values, dtype=numpy_dtype(elem)).tobytes()
        count = len(values) if count is None else count
    data = bytes(data)
    descriptor = Stream(coding, elem, align_log2, count, len(data) if length is None else length,
                        crc32(data) if crc is None else crc)
    return descriptor, PendingStream(coding, elem, align_log2, count, data)


def chain_tensor(name, dtype, shape, streams, stages=((1, b""),)):
    """``(TensorRecord, [PendingStream])`` for a chain node of ``dtype`` and ``shape`` reading ``streams``
    (:func:`stream` results, in payload order) through ``stages`` ((Stage_Id, params) pairs in decode order)."""
    node = Node(DTYPE_CODES[dtype], tuple(shape), Chain(tuple(d for d, _ in streams),
                                                       tuple(Stage(sid, bytes(p)) for sid, p in stages)))
    return TensorRecord(name, node), [p for _, p in streams]


def dense_tensor(name, dtype, shape, data, *, coding=0, elem_type=None, align_log2=6, count=None, length=None,
                 crc=None, params=b"", stage_id=1):
    """``(TensorRecord, [PendingStream])`` for a dense chain over one stream of stored bytes ``data``.

    ``dtype``/``elem_type`` are names of spec 3.7; every declared field defaults to the truthful value.
    """
    elements = 1
    for extent in shape:
        elements *= extent
    one = stream(elem_type or dtype, data=data, coding=coding, align_log2=align_log2,
                 count=elements if count is None else count, length=length, crc=crc)
    return chain_tensor(name, dtype, shape, [one], [(stage_id, params)])


def craft(tensors, metadata=()):
    """Container bytes for ``tensors`` (a list of ``dense_tensor`` results) and ``metadata`` pairs."""
    return write_container(list(tensors), tuple(metadata))


def header(blob):
    """The header's integer fields as a dict (see HEADER_FIELDS)."""
    return {name: int.from_bytes(blob[off:off + size], "little") for name, (off, size) in HEADER_FIELDS.items()}


def with_header(blob, reseal_header=True, **fields):
    """``blob`` with header fields replaced (values wrap to the field width) and, by default, the header CRC fixed."""
    out = bytearray(blob)
    for name, value in fields.items():
        off, size = HEADER_FIELDS[name]
        out[off:off + size] = (value % (1 << (8 * size))).to_bytes(size, "little")
    if reseal_header and "header_crc" not in fields and len(out) >= HEADER_SIZE:
        out[28:32] = crc32(bytes(out[:28])).to_bytes(4, "little")
    return bytes(out)


def with_streams(node, change):
    """``node`` with each stream descriptor replaced by ``change(stream)``, depth-first (aliases have none)."""
    body = node.body
    if isinstance(body, Chain):
        return Node(node.dtype, node.shape, Chain(tuple(change(s) for s in body.streams), body.stages))
    if isinstance(body, Alias):
        return node
    return Node(node.dtype, node.shape, Composite(body.combine, tuple(with_streams(c, change) for c in body.children)))


def realigned(blob, align_log2):
    """Valid container ``blob`` rewritten with every stream at ``Align_Log2 = align_log2`` (spec 3.4: offsets and
    padding follow; the stream bytes, and so their CRCs, are unchanged)."""
    from nncodec.kernels.reference.directory import parse_directory
    dir_len = header(blob)["directory_length"]
    parsed, _ = parse_directory(bytes(blob[HEADER_SIZE:HEADER_SIZE + dir_len]), HEADER_SIZE + dir_len, len(blob),
                                DecodeLimits())
    records = []
    for record in parsed.tensors:
        pending = [PendingStream(s.coding, s.elem_type, align_log2, s.count, blob[s.offset:s.offset + s.length])
                   for s in iter_streams(record.node)]
        node = with_streams(record.node, lambda s: dataclasses.replace(s, align_log2=align_log2))
        records.append((TensorRecord(record.name, node), pending))
    return write_container(records, parsed.metadata)


def _stream_crcs_fixed(directory_bytes, blob):
    """The directory with each stream's CRC recomputed from ``blob``, or None when it does not parse."""
    from nncodec.kernels.reference.directory import parse_directory
    start = HEADER_SIZE + len(directory_bytes)
    try:
        parsed, _ = parse_directory(directory_bytes, start, len(blob), DecodeLimits())
    except ValueError:
        return None

    def fix(stream):
        return dataclasses.replace(stream, crc32=crc32(blob[stream.offset:stream.offset + stream.length]))

    fixed = Directory(parsed.metadata, tuple(TensorRecord(t.name, with_streams(t.node, fix)) for t in parsed.tensors))
    out = serialize_directory(fixed)
    return out if len(out) == len(directory_bytes) else None


def reseal(blob):
    """``blob`` with stream, directory and header CRCs recomputed wherever the bytes allow it."""
    blob = bytes(blob)
    if len(blob) < HEADER_SIZE:
        return blob
    out = bytearray(blob)
    dir_len = header(blob)["directory_length"]
    if HEADER_SIZE + dir_len <= len(blob):
        directory = blob[HEADER_SIZE:HEADER_SIZE + dir_len]
        fixed = _stream_crcs_fixed(directory, blob)
        if fixed is not None:
            out[HEADER_SIZE:HEADER_SIZE + dir_len] = fixed
            directory = fixed
        out[24:28] = crc32(directory).to_bytes(4, "little")
    out[28:32] = crc32(bytes(out[:28])).to_bytes(4, "little")
    return bytes(out)
