"""Streaming writer: add tensors one at a time, so a model larger than memory can be encoded.

Each tensor is encoded as soon as it is added and its streams go to an anonymous spool file beside the
destination; ``close()`` writes header, directory and payload (spec 3) and renames the result into place.
Peak memory is about one tensor plus its encoded streams, whatever the model's size; for a lossless tensor coded
in chunks (``chunk_elements``), about a few chunks, as each chunk's streams are spooled as soon as it is coded.
"""

import glob
import os
import tempfile
from collections.abc import Mapping

from ..decoder.reader import SINGLE_ARRAY_KEY, open as open_container
from .atomic import about_path, atomic_file
from .model import check_utf8, encode_tensor
from ..format.header import HEADER_SIZE, container_header
from ..format.dtypes import as_array
from .tensor import LossyPlan
from ..errors import DecodeError, EncodeError
from ..quant import parse_prune, parse_quantizer
from ..format.records import Directory, serialize_directory

__all__ = ["Writer", "resolved_quantize"]

COPY_BLOCK = 1 << 24  # bytes moved from the spool to the container per read


def _check_writable(path):
    """As nncodec.encode does: refuse a file the default decoder would refuse (header and directory only)."""
    try:
        open_container(path).close()
    except DecodeError as exc:
        raise EncodeError(f"the default decoder would refuse this container: {exc}") from None


class Writer:
    """``with nncodec.Writer(path, **options) as w: w.add(name, array)``: a container written tensor by tensor.

    ``options`` are the per-tensor options of :func:`nncodec.encode` (quantize, prune, entropy, compress, lossless,
    keep_small, cast, chunk_elements, zstd_level, backend, layout, factorize, no_larger_than_raw) and ``metadata``;
    ``jobs`` threads code the chunks of one tensor (``chunk_elements``) in parallel (``None``: every core; 1:
    serial; the bytes do not depend on it). Pruning with ``scope=global`` needs
    every tensor at once and is refused, and so are quantizers with ``scope=model`` (:func:`resolved_quantize`
    turns them into per-tensor ones first); tensors are not checked for shared storage (no aliases, spec 3.5.4).
    Leaving the ``with`` block through an exception writes nothing.
    """

    def __init__(self, path, *, metadata=None, quantize=None, prune=None, entropy=None, compress=None,
                 lossless=(), keep_small=1024, cast=None, chunk_elements=None, zstd_level=9, backend=None, layout=None,
                 factorize=None, no_larger_than_raw=True, jobs=None):
        self.path = os.fspath(path)
        pruner = None if prune is None or callable(prune) else parse_prune(prune)
        if getattr(pruner, "scope", None) == "global":
            raise EncodeError("a streaming Writer sees one tensor at a time: global pruning is not possible")
        if _has_model_scope(quantize):
            raise EncodeError("a streaming Writer sees one tensor at a time: quantizers with scope=model need every "
                              "tensor; resolve them first with nncodec.writer.resolved_quantize")
        self._prune = pruner if pruner is not None else prune
        self._jobs = jobs
        self._options = dict(quantize=quantize, lossless=lossless, keep_small=keep_small, cast=cast,
                             factorize=factorize)
        self._codings = dict(compress=compress, entropy=entropy, zstd_level=zstd_level, backend=backend,
                             chunk_elements=chunk_elements, layout=layout, bounded=no_larger_than_raw)
        self.metadata = dict(metadata or {})
        for key, value in self.metadata.items():
            if not isinstance(key, str) or not isinstance(value, str) or key == SINGLE_ARRAY_KEY:
                raise EncodeError(f"metadata must map str to str (not {SINGLE_ARRAY_KEY}), got {key!r}: {value!r}")
            check_utf8(key, "metadata key")
            check_utf8(value, "metadata value")
        self._records = []      # TensorRecord, in the order added
        self._streams = []      # (align_log2, stored length), in payload order
        self._names = set()
        try:
            self._spool = tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(self.path)), prefix=".nncodec-")
        except OSError as exc:
            raise about_path(exc, self.path) from None

    def add(self, name, array, importance=None, done=None):
        """Encode one tensor now and spool its streams; ``importance`` as in :func:`nncodec.encode`. A lossless
        tensor split into chunks (``chunk_elements``) is spooled chunk by chunk as they are coded, and
        ``done(start, stop)`` is called after rows ``start`` to ``stop`` are (a caller reading a memory map may let
        their pages go), so memory stays near a few chunks, not the tensor."""
        if self._spool is None:
            raise EncodeError("the Writer is closed")
        if not isinstance(name, str):
            raise EncodeError(f"tensor names must be str, got {type(name).__name__} {name!r}")
        check_utf8(name, "tensor name")
        if name in self._names:
            raise EncodeError(f"tensor {name!r} was already added")
        try:
            code, array = as_array(array)
        except TypeError as exc:
            raise EncodeError(f"tensor {name!r}: {exc}") from None
        plan = LossyPlan({name: (code, array)}, self._options["quantize"], self._prune, self._options["lossless"],
                         self._options["keep_small"], self._options["cast"],
                         None if importance is None else {name: importance}, self._options["factorize"], self._jobs)
        c = self._codings

        def spool(pending, start=None, stop=None):
            for p in pending:
                self._spool.write(p.data)
                self._streams.append((p.align_log2, len(p.data)))
            if done is not None and start is not None:
                done(start, stop)

        record, pending = encode_tensor(plan, name, code, array, c["compress"], c["entropy"], c["zstd_level"],
                                        c["backend"], c["chunk_elements"], c["layout"], c["bounded"], sink=spool)
        spool(pending)
        self._records.append(record)
        self._names.add(name)

    def close(self):
        """Write the container to ``path`` (atomically) and return its size in bytes."""
        if self._spool is None:
            raise EncodeError("the Writer is closed")
        spool, self._spool = self._spool, None
        directory = serialize_directory(Directory(tuple(self.metadata.items()), tuple(self._records)))
        start = position = HEADER_SIZE + len(directory)
        pads = []
        for align_log2, length in self._streams:  # spec 3.4: offsets follow from the directory alone
            pad = -position % (1 << align_log2)
            pads.append(pad)
            position += pad + length
        with spool, atomic_file(self.path) as out:
            out.write(container_header(directory, position - start))
            out.write(directory)
            spool.seek(0)
            for pad, (_, length) in zip(pads, self._streams):
                out.write(bytes(pad))
                while length:
                    block = spool.read(min(length, COPY_BLOCK))
                    if not block:
                        raise EncodeError("the spool file ended early (was it modified?)")
                    out.write(block)
                    length -= len(block)
            out.flush()
            _check_writable(out.name)
        return position

    def discard(self):
        """Drop everything added; nothing is written."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.discard()


def _has_model_scope(quantize):
    specs = quantize.values() if isinstance(quantize, Mapping) else [quantize]
    return any(getattr(parse_quantizer(spec), "scope", "tensor") == "model" for spec in specs if spec is not None)


def resolved_quantize(weights, *, quantize=None, lossless=(), keep_small=1024, factorize=None):
    """The ``quantize`` option for a :class:`Writer` of ``weights`` (name -> array, e.g. memory-mapped): as given
    when no quantizer has ``scope=model``, else each tensor's step-fixed quantizer by exact name, the steps found
    over all of ``weights`` as :func:`nncodec.encode` finds them (a first pass reading a sample of each tensor).
    Pruning needs every mask, so it does not combine with this (the Writer refuses scope=model)."""
    if not _has_model_scope(quantize):
        return quantize
    tensors = {name: as_array(array) for name, array in weights.items()}
    plan = LossyPlan(tensors, quantize, None, lossless, keep_small, None, None, factorize)
    return {glob.escape(name): quantizer for name, quantizer in plan.quantizers.items()}
