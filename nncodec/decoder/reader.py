"""Decoding whole containers and opening them lazily: ``decode`` and ``load`` (every tensor in one call), and
``open``, whose :class:`Reader` maps a file and decodes one tensor per access."""

import builtins
import contextlib
import mmap
import os

import numpy as np

from ..bundle import locate
from ..format.records import iter_streams
from .container import Container
from .summary import info_rows

__all__ = ["decode", "load", "open", "Reader", "SINGLE_ARRAY_KEY", "drop_pages"]

SINGLE_ARRAY_KEY = "nncodec.single_array"  # metadata marking a container encoded from one array, not a mapping


def decode(blob, *, limits=None, backend=None, materialize=True, jobs=None):
    """Decode container bytes (or the file at a path) into ``{name: array}`` (or the single array that was encoded).

    ``blob`` may also be a host file's bytes ending with a container and its trailer (spec 3.9).
    Arrays are writable copies, native little-endian. With ``materialize=False``, tensors stored in a sparse
    layout come back as :mod:`nncodec.sparse` matrices (``.shape``, ``.dtype``, ``.nbytes``, ``.todense()``,
    ``@``) whose ``todense()`` equals the materialized array bit for bit, low-rank products (spec 3.5.3) as
    ``LowRankMatrix`` and a sparse part plus a product as ``SparsePlusLowRank``; the others as arrays.
    Raises a :class:`~nncodec.errors.DecodeError` subclass on any malformed input and
    :class:`~nncodec.errors.LimitExceededError` when the container exceeds ``limits``; the limits bound the whole
    call (spec 6), checked before any tensor is decoded. Names that alias one stored tensor (tied weights, spec
    3.5.4) share one array.
    ``jobs``: threads for decoding tensors (and concat chunks) independently (``None``: every core; 1: serial).
    """
    if isinstance(blob, (str, os.PathLike)):  # a path: read through the memory map, as open() does
        with open(blob, limits=limits, backend=backend, jobs=jobs) as reader:
            return _decode_all(reader, materialize)
    return _decode_all(Container(locate(blob), limits=limits, backend=backend, jobs=jobs), materialize)


def _decode_all(container, materialize):
    """Every tensor as a writable copy (one call), or the one array when the container was encoded from a single
    array."""
    arrays = container.decode_tensors(container.keys(), copy=True, materialize=materialize)
    if container.metadata.get(SINGLE_ARRAY_KEY) == "true" and len(arrays) == 1:
        return next(iter(arrays.values()))
    return arrays


def load(path, *, limits=None, backend=None, jobs=None):
    """Read and decode the container at ``path`` (see :func:`decode`)."""
    with open(path, limits=limits, backend=backend, jobs=jobs) as reader:
        return _decode_all(reader, materialize=True)


class Reader(Container):
    """A lazy, validated view of a container: ``keys()``, ``reader[name]``, ``metadata``, ``info()``.

    Opening reads and checks only the header and directory. ``reader[name]`` decodes one tensor; tensors stored
    raw come back as read-only views of the file's memory map (zero-copy; 64-byte aligned).
    """

    release_read_pages = False  # True: each concat chunk's stream pages leave RSS once it is decoded (streaming)

    def __init__(self, buffer, *, limits=None, backend=None, verify=True, owner=None, jobs=None):
        # owner: (mmap or None, file or None) that ``buffer`` (then a memoryview) views, closed with the reader
        self._owner = None if owner is None else (buffer, *owner)
        self._map_start = 0  # where ``buffer`` starts in the map (a container inside a host file starts later)
        if owner is not None and owner[0] is not None and len(buffer):
            self._map_start = np.frombuffer(buffer, np.uint8).ctypes.data - np.frombuffer(owner[0], np.uint8).ctypes.data
        try:
            super().__init__(buffer, limits=limits, backend=backend, verify=verify, jobs=jobs)
        except BaseException:
            self.close()
            raise

    def __getitem__(self, name):
        return self.decode_tensor(name)

    def get(self, name, default=None, materialize=True):
        """Tensor ``name`` (``default`` if absent); ``materialize=False`` as in :func:`decode`."""
        if name not in self:
            return default
        return self.decode_tensor(name) if materialize else self.decode_structure(name)

    def info(self):
        """One dict per tensor: name, dtype, shape, chain, nbytes, stored_bytes, ratio, bits_per_weight."""
        return info_rows(self.directory)

    def _chunk_decoded(self, node):
        if self.release_read_pages and self._owner is not None and self._owner[1] is not None:
            for stream in iter_streams(node):
                drop_pages(self._owner[1], self._map_start + stream.offset - stream.padding,
                           stream.padding + stream.length)

    def drop_pages(self):
        """Let the pages of the file's memory map read so far leave the process's resident memory (they stay in
        the page cache; reading them again costs a minor fault). For a caller that streams a container larger than
        memory one tensor at a time; nothing to do for a reader of bytes."""
        if self._owner is not None and self._owner[1] is not None:
            drop_pages(self._owner[1])

    def close(self):
        """Release the container's bytes and close the memory map and file that :func:`open` gave the reader
        (a map that decoded arrays still view closes when they are collected)."""
        owner, self._owner = self._owner, None
        if owner is not None:
            view, mm, f = owner
            buf, self._buf = getattr(self, "_buf", None), memoryview(b"")
            for v in (buf, view):  # released even if a traceback still holds them: the map can close now
                if v is not None:
                    with contextlib.suppress(BufferError):  # something still exports it: collected later
                        v.release()
            _close_file(mm, f)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def open(source, *, offset=None, limits=None, backend=None, verify=True, jobs=None):  # noqa: A001 - mirrors builtins.open
    """Open a container lazily from a path, bytes-like object, mmap or binary file object.

    Paths and real files are memory-mapped. The container may sit inside a larger file (spec 3.9): at ``offset``
    (e.g. an uncompressed zip member, see ``nncodec.bundle.zip_member_span``), or appended to a host file with a
    trailer, which is found without ``offset``. Returns a :class:`Reader`; use it as a context manager.
    """
    if isinstance(source, (bytes, bytearray, memoryview, mmap.mmap)):
        return Reader(locate(source, offset), limits=limits, backend=backend, verify=verify, jobs=jobs)
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
        return Reader(locate(data, offset), limits=limits, backend=backend, verify=verify, jobs=jobs)
    try:
        view = locate(mm if mm is not None else b"", offset)
    except BaseException:  # locate left no view of the map
        _close_file(mm, f if ours else None)
        raise
    return Reader(view, limits=limits, backend=backend, verify=verify, owner=(mm, f if ours else None), jobs=jobs)


def drop_pages(mm, start=0, length=None):
    """madvise(MADV_DONTNEED) over bytes [start, start + length) of a read-only file map (rounded out to whole
    pages): they leave the resident set and are read again from the page cache if touched. No-op where the
    platform has no such advice, or the map is closed."""
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or mm.closed:
        return
    end = len(mm) if length is None else min(len(mm), start + length)
    start -= start % mmap.PAGESIZE
    if end > start:
        mm.madvise(advice, start, end - start)


def _close_file(mm, f):
    """Close a memory map (unless arrays still view it: it closes when they are collected) and a file."""
    if mm is not None:
        with contextlib.suppress(BufferError):
            mm.close()
    if f is not None:
        f.close()
