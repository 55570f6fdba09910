"""The public API: encode, decode, save, load and open."""

import builtins
import contextlib
import mmap
import os
import tempfile
from collections.abc import Mapping

from . import kernels
from .kernels import parallel
from .bundle import locate
from .decoder.container import Container, write_container
from .encoder.tensor import FLOAT_CODINGS as COMPRESS_CHOICES, INTEGER_CODINGS as ENTROPY_CHOICES
from .encoder.tensor import LossyPlan, StreamCodings, with_stream_facts
from .format.dtypes import as_array
from .errors import DecodeError, EncodeError
from .format.limits import DEFAULT_LIMITS
from .format.records import Alias, Node, TensorRecord
from .decoder.summary import info_rows

__all__ = ["encode", "decode", "save", "load", "open", "Reader", "COMPRESS_CHOICES", "ENTROPY_CHOICES"]

SINGLE_ARRAY_KEY = "nncodec.single_array"


def _check_utf8(text, what):
    """Strings are stored as UTF-8 (spec 2): lone surrogates cannot be."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"{what} {text!r} is not encodable as UTF-8: {exc.reason}") from None


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
        _check_utf8(name, "tensor name")
        try:
            out[name] = as_array(value)
        except TypeError as exc:
            raise EncodeError(f"tensor {name!r}: {exc}") from None
    return out, single


def encode(weights, *, quantize=None, prune=None, entropy=None, compress="none", lossless=(), keep_small=1024,
           cast=None, importance=None, metadata=None, chunk_elements=None, zstd_level=9, backend=None, layout=None,
           factorize=None, jobs=None, progress=None):
    """Encode ``weights`` (an array, or a mapping of names to arrays) into container bytes.

    Lossy front end (float tensors only; every choice is recorded in the container, decode needs nothing else):
    quantize: a quantizer spec (``"uniform:bits=8"``, ``"uniform:step=0.01,axis=0"``, ``"uniform:sqnr=40"``,
      ``"kmeans:k=32"``, ``"log:bits=4"``, ``"binary"``, ``"ternary"``), a ``nncodec.quant.Quantizer``, or a
      mapping of fnmatch patterns to those (first match wins; ``"*"`` is the default). ``"dq:sqnr=40,scope=model"``
      (or ``uniform:``): one step for all the tensors that quantizer applies to, found once per call for SQNR >= 40
      dB over all of them together (``nncodec.quant.model_scope``).
    prune: a pruning spec (``"magnitude:0.9"``, ``"magnitude:0.8,scope=global"``, ``"std:quality=0.7"``,
      ``"rows:0.25"``) or a callable ``masks(weights) -> {name: bool mask}``; pruned weights become exact zeros.
    lossless: fnmatch patterns of tensors kept bit-exact whatever else is asked.
    keep_small: tensors with fewer elements than this, or fewer than 2 dimensions, stay lossless unless a
      quantize mapping names them explicitly (biases, norms).
    cast: ``"float16"`` or ``"bfloat16"`` (or a pattern mapping): store unquantized float32/64 tensors narrowed.
    importance: {name: array of the weight's shape}: per-weight importance for quantizers that use it.
    Codings:
    entropy: coding of integer streams (levels, indices, integer tensors): ``"raw"``, ``"zstd"``, ``"huffman"``,
      ``"cabac"`` or ``"auto"`` (the smallest); default: raw for lossless tensors when ``compress="none"``,
      else ``"auto"``. May be a mapping of tensor name -> choice.
    compress: coding of float streams: ``"none"`` (raw, memory-mappable), ``"zstd"``, ``"zstd-shuffle"`` (zstd
      over byte planes: better on floats) or ``"auto"`` (the smallest, kept where it saves >= 3% over raw).
    metadata: a str -> str mapping stored in the container.
    chunk_elements: split lossless tensors larger than this along axis 0 into independently coded chunks.
    layout: how elements are laid out (spec 4.1, 4.6 to 4.9), over the matrix view (axis 0 by the rest):
      ``"dense"`` (default: keeps raw tensors memory-mappable), ``"csr"``, ``"relidx"`` (gap bits 2..8 tried,
      the smallest kept; ``"relidx:bits=5"`` forces them), ``"cer"``, ``"cser"`` or ``"auto"`` (the smallest
      coded size, dense included); or a mapping of fnmatch patterns to those (first match wins).
    factorize: store float tensors (>= 2-D, >= keep_small elements, or named by a pattern) as factors (spec
      3.5.3): ``"svd:energy=0.99"``, ``"svd:rank=32"``, ``"svd:sqnr=30"``, ``"svd:size=0.25"`` (truncated SVD of
      the im2col matrix view), ``"sparse+lowrank:rank=16,density=0.05"``, ``"separable:rank=8"`` (4-D kernels), a
      fitted :class:`nncodec.lowrank.Factors` (e.g. from the data-aware ``admm_sparse_lowrank``), or ``"auto"``
      (a quantized tensor becomes low-rank only when that is smaller at the plain encoding's SQNR); or a mapping
      of patterns to those. Each factor (and sparse part) is quantized by the tensor's ``quantize`` choice, else
      stored in the tensor's float dtype. Pruned tensors are not factorized.
      With ``layout``: the factorize choice is made first; ``layout`` then applies to every stored part (the sparse
      part of sparse + low-rank and the factors, each its own chain), so ``layout="auto"`` keeps each in its
      smallest layout. ``layout="auto"`` alone never factorizes; ``factorize="auto"`` is the size-driven choice
      between low-rank and plain storage (and the two "auto"s combine). ``decode(materialize=False)`` returns
      product and sparse + low-rank tensors as ``nncodec.sparse.LowRankMatrix`` / ``SparsePlusLowRank``.
    Tensors that are the same memory as an earlier one (tied weights) are stored once, as an alias (spec 3.5.4).
    jobs: threads for encoding tensors independently (``None``: every core; 1: serial). The bytes do not depend
      on it.
    progress: called as ``progress(name, nbytes)`` after each tensor is encoded (from a worker thread).
    """
    kernels.resolve(backend)
    tensors, single = _normalise_weights(weights)
    meta = dict(metadata or {})
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EncodeError(f"metadata must map str to str, got {key!r}: {value!r}")
        _check_utf8(key, "metadata key")
        _check_utf8(value, "metadata value")
    if single:
        meta[SINGLE_ARRAY_KEY] = "true"
    for option, what in ((compress, "compress"), (entropy, "entropy"), (importance, "importance")):
        unknown = sorted(set(option) - set(tensors)) if isinstance(option, Mapping) else []
        if unknown:
            raise EncodeError(f"{what} names tensors that are not being encoded: {unknown}")
    plan = LossyPlan(tensors, quantize, prune, lossless, keep_small, cast, importance, factorize, jobs)

    def encode_one(item):
        name, (code, array) = item
        encoded = encode_tensor(plan, name, code, array, compress, entropy, zstd_level, backend, chunk_elements,
                                layout)
        if progress is not None:
            progress(name, array.nbytes)
        return encoded

    shared = shared_storage(tensors)
    stored = parallel.map_ordered(encode_one, [item for item in tensors.items() if item[0] not in shared], jobs,
                                  cost=lambda item: item[1][1].size)
    records = _with_aliases(list(tensors), shared, stored)
    blob = write_container(records, tuple(meta.items()))
    _check_writable(blob)
    return blob


def shared_storage(tensors):
    """{name: earlier name} for tensors whose arrays are the same memory (same address, shape, strides and dtype)
    as an earlier tensor's: tied weights, stored once as an alias (spec 3.5.4)."""
    first, shared = {}, {}
    for name, (code, array) in tensors.items():
        if array.size:
            key = (code, array.__array_interface__["data"][0], array.shape, array.strides, array.dtype.str)
            if key in first:
                shared[name] = first[key]
            else:
                first[key] = name
    return shared


def _with_aliases(names, shared, stored):
    """(record, pending) per name in order: the encoded ones from ``stored``, an Alias node for the shared ones."""
    stored = iter(stored)
    records, index = [], {}
    for i, name in enumerate(names):
        index[name] = i
        if name in shared:
            target = records[index[shared[name]]][0].node
            records.append((TensorRecord(name, Node(target.dtype, target.shape, Alias(index[shared[name]]))), []))
        else:
            records.append(next(stored))
    return records


def encode_tensor(plan, name, code, array, compress, entropy, zstd_level, backend, chunk_elements, layout=None):
    """(TensorRecord with its streams' lengths and CRCs, pending streams) of one tensor under a LossyPlan."""
    lossy = name in plan.quantizers
    codings = StreamCodings.for_tensor(name, compress, "auto" if lossy and entropy is None else entropy,
                                       zstd_level, backend, layout)
    node, pending = plan.node(name, code, array, codings, chunk_elements)
    return with_stream_facts(TensorRecord(name, node), pending), pending


def _check_writable(blob):
    """The encoder refuses to emit what the default decoder would refuse (spec section 1): the header and the
    whole directory are validated with the default limits (cheap: no stream is decoded)."""
    try:
        Container(blob, limits=DEFAULT_LIMITS)
    except DecodeError as exc:
        raise EncodeError(f"the default decoder would refuse this container: {exc}") from None


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


def load(path, *, limits=None, backend=None, jobs=None):
    """Read and decode the container at ``path`` (see :func:`decode`)."""
    with open(path, limits=limits, backend=backend, jobs=jobs) as reader:
        return _decode_all(reader, materialize=True)


class Reader(Container):
    """A lazy, validated view of a container: ``keys()``, ``reader[name]``, ``metadata``, ``info()``.

    Opening reads and checks only the header and directory. ``reader[name]`` decodes one tensor; tensors stored
    raw come back as read-only views of the file's memory map (zero-copy; 64-byte aligned).
    """

    def __init__(self, buffer, *, limits=None, backend=None, verify=True, owner=None, jobs=None):
        # owner: (mmap or None, file or None) that ``buffer`` (then a memoryview) views, closed with the reader
        self._owner = None if owner is None else (buffer, *owner)
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


def _close_file(mm, f):
    """Close a memory map (unless arrays still view it: it closes when they are collected) and a file."""
    if mm is not None:
        with contextlib.suppress(BufferError):
            mm.close()
    if f is not None:
        f.close()
