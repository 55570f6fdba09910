"""The public API: encode, decode, save, load and open."""

import builtins
import mmap
import os
import tempfile
from collections.abc import Mapping

import numpy as np

from . import _backend
from .container import Container, PendingStream, crc32, write_container
from .dtypes import DTYPE_NAMES, as_array, itemsize, numpy_dtype
from .errors import EncodeError, NNCodecError
from .limits import DEFAULT_LIMITS
from .records import CONCAT, Chain, Composite, Node, Stage, Stream, TensorRecord, iter_streams, node_elements
from .stages import coding_by_name, stage_by_name

__all__ = ["encode", "decode", "save", "load", "open", "Reader"]

SINGLE_ARRAY_KEY = "nncodec.single_array"
COMPRESS_CHOICES = ("none", "zstd", "zstd-shuffle", "auto")


def _normalise_weights(weights):
    """(mapping name -> (dtype code, C-contiguous LE array), was-a-single-array)."""
    if isinstance(weights, Mapping) or hasattr(weights, "items") and not hasattr(weights, "dtype"):
        items = list(weights.items())
        single = False
    else:
        items = [("", weights)]
        single = True
    out = {}
    for name, value in items:
        if not isinstance(name, str):
            raise EncodeError(f"tensor names must be str, got {type(name).__name__} {name!r}")
        try:
            out[name] = as_array(value)
        except TypeError as exc:
            raise EncodeError(f"tensor {name!r}: {exc}") from None
    return out, single


def _coding_for(name, compress):
    choice = compress.get(name, "none") if isinstance(compress, Mapping) else compress
    if choice not in COMPRESS_CHOICES:
        raise EncodeError(f"tensor {name!r}: compress={choice!r}; choose one of {', '.join(COMPRESS_CHOICES)}")
    return choice


def _chain_node(code, array, choice, zstd_level, backend):
    """A dense chain node for ``array`` and its pending stream (spec 4.1 + section 5)."""
    layout = stage_by_name("dense")
    params, stream_arrays = layout.encode(array)
    pending = []
    for values in stream_arrays:
        coding, stored = _code_stream(values, choice, zstd_level, backend)
        pending.append(PendingStream(coding.coding_id, code, coding.align_log2, values.size, stored))
    streams = tuple(Stream(p.coding, p.elem_type, p.align_log2, p.count, len(p.data), 0) for p in pending)
    return Node(code, array.shape, Chain(streams, (Stage(layout.stage_id, params),))), pending


def _code_stream(values, choice, zstd_level, backend):
    """(coding, stored bytes) for a 1-D stream: the named coding, or for "auto" the smallest candidate, kept only
    if it saves at least 3% over raw (raw streams can be memory-mapped)."""
    raw = coding_by_name("raw")
    if choice == "none" or not values.size:
        return raw, raw.encode(values)
    names = [choice] if choice != "auto" else (["zstd", "zstd-shuffle"] if values.dtype.itemsize > 1 else ["zstd"])
    candidates = []
    for name in names:
        coding = type(coding_by_name(name))(level=zstd_level)
        candidates.append((coding, coding.encode(values, backend=backend)))
    coding, stored = min(candidates, key=lambda c: len(c[1]))
    if choice == "auto" and len(stored) >= 0.97 * values.nbytes:
        return raw, raw.encode(values)
    return coding, stored


def _tensor_node(code, array, choice, zstd_level, chunk_elements, backend):
    if chunk_elements and array.ndim >= 1 and array.size > chunk_elements and array.shape[0] > 1:
        row = max(1, array.size // array.shape[0])
        rows = max(1, chunk_elements // row)
        children, pending = [], []
        for start in range(0, array.shape[0], rows):
            child, streams = _chain_node(code, array[start:start + rows], choice, zstd_level, backend)
            children.append(child)
            pending += streams
        if len(children) > 1:
            return Node(code, array.shape, Composite(CONCAT, tuple(children))), pending
    return _chain_node(code, array, choice, zstd_level, backend)


def encode(weights, *, compress="none", metadata=None, chunk_elements=None, zstd_level=9, backend=None):
    """Encode ``weights`` (an array, or a mapping of names to arrays) into container bytes.

    compress: ``"none"`` (raw, memory-mappable), ``"zstd"``, ``"zstd-shuffle"`` (zstd over byte planes: better on
    floats), or ``"auto"`` (the smaller zstd variant where it saves >= 3% over raw); a mapping name -> choice sets
    it per tensor (missing names: ``"none"``).
    metadata: a str -> str mapping stored in the container.
    chunk_elements: split tensors larger than this along axis 0 into independently coded chunks.
    The result is lossless for every supported dtype; decode gives native little-endian C-contiguous arrays.
    """
    _backend.resolve(backend)
    tensors, single = _normalise_weights(weights)
    meta = dict(metadata or {})
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EncodeError(f"metadata must map str to str, got {key!r}: {value!r}")
    if single:
        meta[SINGLE_ARRAY_KEY] = "true"
    records = []
    for name, (code, array) in tensors.items():
        choice = _coding_for(name, compress)
        node, pending = _tensor_node(code, array, choice, zstd_level, chunk_elements, backend)
        records.append((_with_stream_facts(TensorRecord(name, node), pending), pending))
    blob = write_container(records, tuple(meta.items()))
    _check_writable(blob)
    return blob


def _with_stream_facts(record, pending):
    """Fill each placeholder Stream's length and CRC from its pending data (the writer's last step)."""
    it = iter(pending)

    def fill(node):
        if isinstance(node.body, Chain):
            streams = []
            for s in node.body.streams:
                p = next(it)
                streams.append(Stream(s.coding, s.elem_type, s.align_log2, s.count, len(p.data), crc32(p.data)))
            return Node(node.dtype, node.shape, Chain(tuple(streams), node.body.stages))
        return Node(node.dtype, node.shape, Composite(node.body.combine, tuple(fill(c) for c in node.body.children)))

    return TensorRecord(record.name, fill(record.node))


def _check_writable(blob):
    """The encoder refuses to emit what the default decoder would refuse (spec section 1)."""
    if len(blob) > DEFAULT_LIMITS.max_input_bytes:
        raise EncodeError(f"the container would be {len(blob)} bytes, over the default decoder's max_input_bytes")


def decode(blob, *, limits=None, backend=None):
    """Decode container bytes into ``{name: array}`` (or the single array that was encoded).

    Arrays are writable copies, native little-endian. Raises a :class:`~nncodec.errors.DecodeError` subclass on
    any malformed input and :class:`~nncodec.errors.LimitExceededError` when the container exceeds ``limits``.
    """
    container = Container(blob, limits=limits, backend=backend)
    arrays = container.decode_all(copy=True)
    if container.metadata.get(SINGLE_ARRAY_KEY) == "true" and len(arrays) == 1:
        return next(iter(arrays.values()))
    return arrays


def save(path, weights, **options):
    """Encode ``weights`` (see :func:`encode`) and write the container to ``path`` atomically."""
    blob = encode(weights, **options)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".nncodec-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(blob)


def load(path, *, limits=None, backend=None):
    """Read and decode the container at ``path`` (see :func:`decode`)."""
    with open(path, limits=limits, backend=backend) as reader:
        arrays = reader.decode_all(copy=True)
        if reader.metadata.get(SINGLE_ARRAY_KEY) == "true" and len(arrays) == 1:
            return next(iter(arrays.values()))
        return arrays


class Reader(Container):
    """A lazy, validated view of a container: ``keys()``, ``reader[name]``, ``metadata``, ``info()``.

    Opening reads and checks only the header and directory. ``reader[name]`` decodes one tensor; tensors stored
    raw come back as read-only views of the file's memory map (zero-copy; 64-byte aligned).
    """

    def __init__(self, buffer, *, limits=None, backend=None, verify=True, owner=None):
        self._owner = owner
        try:
            super().__init__(buffer, limits=limits, backend=backend, verify=verify)
        except BaseException:
            self.close()
            raise

    def __getitem__(self, name):
        return self.decode_tensor(name)

    def get(self, name, default=None):
        return self.decode_tensor(name) if name in self else default

    def info(self):
        """One dict per tensor: name, dtype, shape, chain, nbytes, stored_bytes, ratio, bits_per_weight."""
        rows = []
        for record in self.directory.tensors:
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

    def close(self):
        owner, self._owner = self._owner, None
        if owner is not None:
            mm, f = owner
            self._buf = memoryview(b"")
            if mm is not None:
                try:
                    mm.close()
                except BufferError:  # arrays still view the map; it closes when they are collected
                    pass
            if f is not None:
                f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def describe_node(node):
    """A short human-readable description of a node's stages, e.g. ``dense<zstd>`` or ``concat[3](dense<raw>)``."""
    from .stages import CODINGS, STAGES
    if isinstance(node.body, Chain):
        codings = ",".join(CODINGS[s.coding].name if s.coding in CODINGS else f"?{s.coding}"
                           for s in node.body.streams)
        stages = "+".join(STAGES[s.stage_id].name if s.stage_id in STAGES else f"?{s.stage_id}"
                          for s in node.body.stages)
        return f"{stages}<{codings}>"
    names = {0: "concat", 1: "sum", 2: "product"}
    kids = sorted({describe_node(c) for c in node.body.children})
    return f"{names.get(node.body.combine, '?')}[{len(node.body.children)}]({'|'.join(kids)})"


def open(source, *, limits=None, backend=None, verify=True):  # noqa: A001 - mirrors builtins.open on purpose
    """Open a container lazily from a path, bytes-like object, mmap or binary file object.

    Paths and real files are memory-mapped. Returns a :class:`Reader`; use it as a context manager.
    """
    if isinstance(source, (bytes, bytearray, memoryview, mmap.mmap)):
        return Reader(source, limits=limits, backend=backend, verify=verify)
    if isinstance(source, (str, os.PathLike)):
        f = builtins.open(source, "rb")
        ours = True
    elif hasattr(source, "read"):
        f, ours = source, False
    else:
        raise TypeError(f"cannot open a container from {type(source).__name__}")
    try:
        size = os.fstat(f.fileno()).st_size
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
    except (OSError, ValueError, AttributeError):  # not a real file (a pipe, BytesIO): read it whole
        data = f.read()
        if ours:
            f.close()
        return Reader(data, limits=limits, backend=backend, verify=verify)
    return Reader(mm if mm is not None else b"", limits=limits, backend=backend, verify=verify,
                  owner=(mm, f if ours else None))
