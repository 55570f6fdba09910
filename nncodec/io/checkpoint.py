"""Hugging Face checkpoints: a directory of sharded ``.safetensors`` files with ``model.safetensors.index.json`` (or
one ``model.safetensors``), streamed into a container shard by shard, and written back from one tensor by tensor.

The index (transformers' ``save_pretrained``) is ``{"metadata": {"total_size": N, ...}, "weight_map": {tensor:
shard file name}}``. It is read as hostile input: at most ``MAX_INDEX_BYTES``, UTF-8 JSON without duplicate keys,
shard names that are plain ``*.safetensors`` file names inside the directory (no ``..``, no separators, not
absolute; symbolic links, as in the Hugging Face cache, are followed), every tensor in exactly one shard, and every
shard's header checked by the hostile-header-safe reader (``safetensors.parse_safetensors``) and holding exactly
the tensors the index gives it, before any tensor is read.

The safetensors ``__metadata__`` (the shards' maps merged, a key's first value kept) and the index's
``metadata`` (without ``total_size``, which is recomputed) are recorded in the container's metadata as JSON under
``METADATA_KEY`` and ``INDEX_METADATA_KEY``, and restored by :func:`decode_checkpoint`.
"""

import builtins
import contextlib
import fractions
import functools
import json
import math
import mmap
import os
import re
import tempfile
from collections.abc import Mapping

import numpy as np

from ..decoder.reader import drop_pages, open as open_container
from ..encoder.writer import Writer, resolved_quantize
from ..errors import DecodeError, EncodeError, FormatError, InconsistentError, LimitExceededError, NNCodecError
from ..format.dtypes import numpy_dtype
from .safetensors import header_bytes, parse_safetensors, safetensors_dtype

__all__ = ["Checkpoint", "open_checkpoint", "encode_checkpoint", "decode_checkpoint", "is_checkpoint",
           "parse_size", "safetensors_metadata", "INDEX_NAME", "SINGLE_NAME", "METADATA_KEY", "INDEX_METADATA_KEY",
           "MAX_INDEX_BYTES", "CHUNK_ELEMENTS", "DEFAULT_SHARD_SIZE"]

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
SHARD_SUFFIX = ".safetensors"
MAX_INDEX_BYTES = 2**26  # 64 MiB: a 100,000-tensor index takes about 10 MiB
METADATA_KEY = "nncodec.safetensors_metadata"              # the shards' __metadata__, a JSON object of strings
INDEX_METADATA_KEY = "nncodec.safetensors_index_metadata"  # the index's "metadata" but total_size, a JSON object
CHUNK_ELEMENTS = 2**20  # encode_checkpoint's default chunk: 2 MiB of bf16, coded and decoded on every core
DEFAULT_SHARD_SIZE = "5GB"  # transformers' default max_shard_size
RESOLVE_OPTIONS = ("quantize", "lossless", "keep_small", "factorize")
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30, "TIB": 2**40, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(size):
    """Bytes of a size such as transformers' ``max_shard_size``: an int, or a string with a unit, decimal
    ``KB``/``MB``/``GB``/``TB`` (``"5GB"`` is 5 * 10**9) or binary ``KiB``/``MiB``/``GiB``/``TiB`` (and ``K``/``M``/
    ``G``/``T`` alone, as nncodec's other size options)."""
    if isinstance(size, int) and not isinstance(size, bool):
        number, unit = size, ""
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([A-Za-z]*)\s*", str(size))
        if not match or match.group(2).upper() not in _UNITS:
            raise EncodeError(f"not a size: {size!r} (e.g. 5GB, 500MB, 2GiB or a number of bytes)")
        number, unit = fractions.Fraction(match.group(1)), match.group(2).upper()
    nbytes = int(number * _UNITS[unit])
    if nbytes < 1:
        raise EncodeError(f"a size must be at least 1 byte, got {size!r}")
    return nbytes


def is_checkpoint(path):
    """True for what :func:`open_checkpoint` reads: a directory, or a ``.safetensors`` file."""
    return os.path.isdir(path) or str(path).lower().endswith(SHARD_SUFFIX)


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise InconsistentError(f"checkpoint index: key {key!r} appears twice in one JSON object (in the "
                                    f"weight_map: a tensor in two shards; each must be in exactly one)")
        result[key] = value
    return result


def read_index(path):
    """(index metadata, {tensor: shard file name}) of the index file at ``path``, checked (see the module)."""
    with builtins.open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_INDEX_BYTES:
            raise LimitExceededError(f"checkpoint index {path}: {size} bytes exceeds {MAX_INDEX_BYTES}",
                                     limit="checkpoint_index", declared=size, maximum=MAX_INDEX_BYTES)
        data = f.read(MAX_INDEX_BYTES + 1)
    if len(data) > MAX_INDEX_BYTES:  # it grew after fstat
        raise LimitExceededError(f"checkpoint index {path}: more than {MAX_INDEX_BYTES} bytes",
                                 limit="checkpoint_index", declared=len(data), maximum=MAX_INDEX_BYTES)
    try:
        index = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, DecodeError):
            raise
        raise FormatError(f"checkpoint index {path} is not UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise FormatError(f"checkpoint index {path}: the JSON is nested too deeply") from None
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
        raise FormatError(f"checkpoint index {path}: expected an object with a \"weight_map\" object "
                          f"{{tensor: shard file}}")
    metadata = index.get("metadata", {})
    if not isinstance(metadata, dict):
        raise FormatError(f"checkpoint index {path}: \"metadata\" must be an object")
    for tensor, shard in index["weight_map"].items():
        if not isinstance(shard, str):
            raise FormatError(f"checkpoint index {path}: tensor {tensor!r} maps to {shard!r}, not a file name")
        if (shard != os.path.basename(shard) or "/" in shard or "\\" in shard or "\0" in shard
                or os.path.isabs(shard) or not shard.endswith(SHARD_SUFFIX) or shard == SHARD_SUFFIX):
            raise FormatError(f"checkpoint index {path}: tensor {tensor!r} is in shard {shard!r}; a shard must be "
                              f"a plain *{SHARD_SUFFIX} file name in the checkpoint's directory")
    return metadata, index["weight_map"]


class _Shard:
    """One memory-mapped, validated safetensors file."""

    def __init__(self, path):
        self.path = path
        with builtins.open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        self.view = memoryview(self.map if self.map is not None else b"")
        try:
            self.metadata, entries, self.start = parse_safetensors(self.view)
        except DecodeError as exc:  # same class and fields, the file named
            exc.args = (f"{path}: {exc.args[0]}",) + exc.args[1:]
            self.close()
            raise
        self.entries = sorted(entries, key=lambda e: e[3])  # file order: sequential reads

    def array(self, entry):
        _, dtype, shape, begin, end = entry
        return np.frombuffer(self.view[self.start + begin:self.start + end], dtype=dtype).reshape(shape)

    def drop(self, entry, start_row=0, stop_row=None):
        """Let the pages of rows [start_row, stop_row) of ``entry`` (all by default) leave the resident set."""
        _, _, shape, begin, end = entry
        row = (end - begin) // shape[0] if shape and shape[0] else 0
        first = begin + start_row * row
        last = end if stop_row is None else begin + stop_row * row
        if self.map is not None and last > first:
            drop_pages(self.map, self.start + first, last - first)

    def close(self):
        with contextlib.suppress(BufferError):  # arrays still view the map: it closes when they are collected
            self.view.release()
            if self.map is not None:
                self.map.close()


class Checkpoint(Mapping):
    """A validated checkpoint, ``{name: read-only array}`` viewing its memory-mapped shards (see the module).

    ``metadata`` is the shards' ``__metadata__`` merged, ``index_metadata`` the index's ``metadata`` (None
    without an index). :meth:`tensors` yields the tensors shard by shard in file order and lets each one's pages
    leave the resident set once the consumer moves on, so reading a checkpoint larger than memory keeps RSS near
    one tensor. Use it as a context manager (or call :meth:`close`).
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.metadata, self.index_metadata = {}, None
        self._shards, self._where = [], {}
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self):
        if not os.path.isdir(self.path):
            self._add(_Shard(self.path), None)
            return
        single, index = os.path.join(self.path, SINGLE_NAME), os.path.join(self.path, INDEX_NAME)
        if os.path.isfile(single):  # transformers' own precedence
            self._add(_Shard(single), None)
            return
        if not os.path.isfile(index):
            raise NNCodecError(f"{self.path} holds neither {SINGLE_NAME} nor {INDEX_NAME}: not a safetensors "
                               f"checkpoint directory")
        self.index_metadata, weight_map = read_index(index)
        groups = {}
        for tensor, shard in weight_map.items():
            groups.setdefault(shard, set()).add(tensor)
        for shard in sorted(groups):
            if not os.path.isfile(os.path.join(self.path, shard)):
                raise InconsistentError(f"checkpoint index {index}: shard {shard!r} ({len(groups[shard])} tensors) "
                                        f"is missing from {self.path} (or not a regular file)")
        for shard in sorted(groups):
            self._add(_Shard(os.path.join(self.path, shard)), groups[shard])

    def _add(self, shard, expected):
        self._shards.append(shard)
        names = {entry[0] for entry in shard.entries}
        if expected is not None and names != expected:
            lacks, extra = sorted(expected - names), sorted(names - expected)
            raise InconsistentError(f"{shard.path}: " + (f"lacks {lacks[0]!r}, which the index puts there"
                                    if lacks else f"holds {extra[0]!r}, which the index puts in another shard "
                                    f"or nowhere"))
        for entry in shard.entries:
            self._where[entry[0]] = (shard, entry)
        for key, value in shard.metadata.items():
            self.metadata.setdefault(key, value)

    def __getitem__(self, name):
        shard, entry = self._where[name]
        return shard.array(entry)

    def __iter__(self):
        return iter(self._where)

    def __len__(self):
        return len(self._where)

    def tensors(self):
        """``(name, array)`` shard by shard; each array's pages are dropped from RSS when the next is asked for."""
        for shard in self._shards:
            for entry in shard.entries:
                yield entry[0], shard.array(entry)
                shard.drop(entry)

    def release(self, name, start_row, stop_row):
        """Let the pages of rows [start_row, stop_row) of tensor ``name`` leave the resident set (they are read
        again from the page cache if touched): ``nncodec.Writer.add``'s ``done`` for a chunked tensor."""
        shard, entry = self._where[name]
        shard.drop(entry, start_row, stop_row)

    def container_metadata(self):
        """The container metadata entries that record this checkpoint's safetensors metadata (see the module)."""
        entries = {}
        if self.metadata:
            entries[METADATA_KEY] = json.dumps(self.metadata, sort_keys=True)
        extra = {k: v for k, v in (self.index_metadata or {}).items() if k != "total_size"}
        if extra:
            entries[INDEX_METADATA_KEY] = json.dumps(extra, sort_keys=True)
        return entries

    def close(self):
        for shard in self._shards:
            shard.close()
        self._shards, self._where = [], {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_checkpoint(path):
    """A :class:`Checkpoint` over ``path``: a directory with ``model.safetensors`` (preferred, as transformers
    does) or ``model.safetensors.index.json`` and its shards, or one ``.safetensors`` file. Raises DecodeError
    subclasses naming the file on malformed input, NNCodecError for a directory that holds no checkpoint."""
    return Checkpoint(path)


def encode_checkpoint(source, output, *, metadata=None, progress=None, chunk_elements=CHUNK_ELEMENTS, **options):
    """Encode a checkpoint into the container file ``output`` tensor by tensor (nncodec.Writer), so memory stays
    near the largest tensor however large the model; returns the container's size in bytes.

    ``source``: a path :func:`open_checkpoint` accepts, an open :class:`Checkpoint`, or any ``{name: array}``
    mapping. A checkpoint's safetensors metadata is recorded (see the module) besides ``metadata``.
    ``chunk_elements``: tensors larger than this are coded as independent chunks, on up to ``jobs`` threads, and
    decode on as many. ``options``: those of :class:`nncodec.Writer` (``compress="auto"``, ``jobs``, ...);
    ``scope=model`` quantizers get their steps from a first pass over every tensor. ``progress(name, nbytes)`` is
    called after each tensor.
    """
    if not isinstance(source, Mapping):
        with open_checkpoint(source) as checkpoint:
            return encode_checkpoint(checkpoint, output, metadata=metadata, progress=progress,
                                     chunk_elements=chunk_elements, **options)
    metadata = dict(metadata or {})
    if isinstance(source, Checkpoint):
        metadata.update(source.container_metadata())
    if options.get("prune") is None:
        options["quantize"] = resolved_quantize(source, **{k: options[k] for k in RESOLVE_OPTIONS if k in options})
    writer = Writer(output, metadata=metadata, chunk_elements=chunk_elements, **options)
    mapped = isinstance(source, Checkpoint)
    try:
        for name, array in source.tensors() if mapped else source.items():
            writer.add(name, array, done=functools.partial(source.release, name) if mapped else None)
            if progress is not None:
                progress(name, np.asarray(array).nbytes)
    except BaseException:
        writer.discard()
        raise
    return writer.close()


def _json_object(metadata, key):
    try:
        value = json.loads(metadata[key])
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise FormatError(f"container metadata {key!r} is not a JSON object")
    return value


def safetensors_metadata(metadata):
    """The safetensors ``__metadata__`` to write for a container with ``metadata``: the one recorded under
    ``METADATA_KEY`` if any, else the container's user entries (keys not starting with ``nncodec.``)."""
    if METADATA_KEY not in metadata:
        return {k: v for k, v in metadata.items() if not k.startswith("nncodec.")}
    value = _json_object(metadata, METADATA_KEY)
    if not all(isinstance(v, str) for v in value.values()):
        raise FormatError(f"container metadata {METADATA_KEY!r} must map strings to strings")
    return value


def _shard_plan(entries, limit):
    """Lists of entries, in order, each list's tensor bytes at most ``limit`` unless one tensor alone exceeds it
    (transformers' rule)."""
    shards, size = [[]], 0
    for entry in entries:
        if shards[-1] and size + entry[3] > limit:
            shards.append([])
            size = 0
        shards[-1].append(entry)
        size += entry[3]
    return shards


def _write_safetensors(path, reader, entries, metadata, progress):
    """Write ``entries`` (name, dtype, shape, nbytes) of ``reader`` to the safetensors file ``path`` (atomically),
    decoding one tensor per Reader access and letting the container's pages go after each."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, nbytes in entries:
        if name == "__metadata__":
            raise EncodeError("a tensor named '__metadata__' cannot be stored in safetensors (the name is the "
                              "header's metadata entry)")
        header[name] = {"dtype": safetensors_dtype(dtype), "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    with _replacing(path, "wb") as f:
        f.write(header_bytes(header))
        for name, _, _, nbytes in entries:
            array = reader.decode_tensor(name)
            f.write(array.reshape(-1).view(np.uint8))
            del array
            reader.drop_pages()
            if progress is not None:
                progress(name, nbytes)


def _check_output_directory(path):
    os.makedirs(path, exist_ok=True)
    taken = sorted(n for n in os.listdir(path) if n in (INDEX_NAME, SINGLE_NAME)
                   or re.fullmatch(r"model-\d+-of-\d+\.safetensors", n))
    if taken:
        raise EncodeError(f"{path} already holds a checkpoint ({', '.join(taken[:3])}): remove it or choose "
                          f"another directory")


def decode_checkpoint(source, output, *, shard_size=DEFAULT_SHARD_SIZE, limits=None, backend=None, jobs=None,
                      progress=None):
    """Decode the container at ``source`` into safetensors tensor by tensor (one Reader access each, so memory
    stays near the largest tensor); returns the paths written.

    ``output`` ending in ``.safetensors`` is one file. Any other path is a checkpoint directory (created if
    needed; refused if it already holds one), loadable by transformers: ``model-00001-of-0000N.safetensors`` shards
    of at most ``shard_size`` tensor bytes each (:func:`parse_size`; a larger tensor gets a shard of its own) and
    ``model.safetensors.index.json`` with ``metadata.total_size``, or one ``model.safetensors`` when everything fits
    one shard. Names, dtypes and shapes are kept; the ``__metadata__`` is :func:`safetensors_metadata` (in a
    directory, ``{"format": "pt"}`` when it has no ``format``, as transformers requires). The whole decode is
    checked against ``limits`` as one call before anything is written (spec 6). ``progress(name, nbytes)`` is
    called after each tensor.
    """
    single = str(output).lower().endswith(SHARD_SUFFIX)
    limit = parse_size(shard_size)
    with open_container(source, limits=limits, backend=backend, jobs=jobs) as reader:
        reader.release_read_pages = True
        names = reader.keys()
        reader.check_call(names)
        entries = []
        for name in names:
            node = reader.record(name).node
            dtype = numpy_dtype(node.dtype)
            entries.append((name, dtype, node.shape, dtype.itemsize * math.prod(node.shape)))
        metadata = safetensors_metadata(reader.metadata)
        if single:
            _write_safetensors(output, reader, entries, metadata, progress)
            return [os.fspath(output)]
        index_metadata = _json_object(reader.metadata, INDEX_METADATA_KEY) if INDEX_METADATA_KEY in reader.metadata \
            else {}
        metadata.setdefault("format", "pt")
        _check_output_directory(output)
        shards = _shard_plan(entries, limit)
        files = [SINGLE_NAME] if len(shards) == 1 else [f"model-{i + 1:05d}-of-{len(shards):05d}{SHARD_SUFFIX}"
                                                         for i in range(len(shards))]
        written = []
        try:
            for file, shard in zip(files, shards):
                written.append(os.path.join(output, file))
                _write_safetensors(written[-1], reader, shard, metadata, progress)
            if len(shards) > 1:
                index = {"metadata": {**index_metadata, "total_size": sum(e[3] for e in entries)},
                         "weight_map": {e[0]: file for file, shard in zip(files, shards) for e in shard}}
                written.append(os.path.join(output, INDEX_NAME))
                with _replacing(written[-1], "w") as f:
                    f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
        except BaseException:
            for path in written:
                if os.path.exists(path):
                    os.unlink(path)
            raise
    return written


@contextlib.contextmanager
def _replacing(path, mode):
    """A file written beside ``path`` under a temporary name and renamed onto it when the block succeeds, with the
    permissions a new file gets (mkstemp's are owner-only)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".nncodec-", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
