"""Shared fuzzing harness: instrumented imports, small limits, and the differential decode check.

``run_decode(data)`` decodes ``data`` on every available backend (whole-container ``decode`` and the lazy
reader, tensor by tensor) and raises AssertionError when any backend lets something other than a
:class:`nncodec.errors.DecodeError` escape, or when the backends disagree (different arrays, or different error
classes or rule ids). It repeats the check on ``reseal(data)``, the same bytes with every CRC recomputed, so that mutations
reach the parser and stream decoders behind the checksums. ``tests/test_fuzz_regressions.py`` replays the corpus
and the regressions through the same function in ordinary pytest.

``run_stream_decode(coding, data, limits)`` is the same differential check on one integer stream decoder (the
cabac and huffman targets): ``data`` carries the element count, then the stream (:func:`split_count`).
``run_coding_decode(name, data, limits)`` does it for any stream coding of spec 3.8 through its stage class (the
zstd target), and ``run_transform_decode(name, data, limits)`` for a transform stage of spec 4 (params parse, then
the reconstruction: codebook, uniform, dq, cast), ``run_layout_decode(name, data, limits)`` for a layout stage
(the declaration check, then the decode of raw streams: dense, relidx, csr, cer, cser). A target per new
stage decoder is a module whose
``TestOneInput`` calls one of these with the stage's name, plus a ``seeds()`` list (see ``fuzz_codebook_decode.py``).
:func:`fuzz` runs a target under atheris.
"""

import importlib
import pathlib
import re
import sys
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

try:
    import atheris
except ImportError:  # the harness also runs without atheris (regression replay in pytest)
    atheris = None

# instrument nncodec for coverage only when a fuzz target is the program (not under pytest or fuzz/replay.py)
_PROGRAM = pathlib.Path(getattr(sys.modules["__main__"], "__file__", "") or "").name
FUZZING = atheris is not None and _PROGRAM.startswith("fuzz_")
if FUZZING:
    with atheris.instrument_imports(include=["nncodec"]):
        import nncodec
else:
    import nncodec

import numpy as np  # noqa: E402

from nncodec import kernels  # noqa: E402
from nncodec.errors import DecodeError  # noqa: E402

from crafting import reseal  # noqa: E402

__all__ = ["atheris", "LIMITS", "BACKENDS", "outcome", "run_decode", "run_roundtrip", "import_instrumented",
           "split_count", "join_count", "run_stream_decode", "run_coding_decode", "run_transform_decode",
           "transform_input", "run_layout_decode", "layout_input", "layout_seeds", "fuzz"]

# small enough that no input can make a fuzz iteration slow or memory-hungry, large enough for real containers
LIMITS = nncodec.DecodeLimits(
    max_input_bytes=1 << 20, max_directory_bytes=1 << 16, max_tensors=256, max_metadata_bytes=1 << 12,
    max_params_bytes=1 << 12, max_elements=1 << 20, max_output_bytes=1 << 22, max_expansion=64,
    expansion_slack=1 << 16, max_alphabet=1 << 12, max_bins_per_element=64)

BACKENDS = nncodec.available_backends()


def _arrays(result):
    result = result if isinstance(result, dict) else {"": result}
    return {name: (a.dtype.str, a.shape, a.tobytes()) for name, a in result.items()}


def error_id(exc):
    """What two backends must agree on when they refuse an input: the DecodeError's class and the rule id its
    message starts with (``"InconsistentError R4.8-b"``)."""
    rule = re.match(r"\[(R[0-9][^\]\s]*)\]", str(exc))
    return f"{type(exc).__name__} {rule.group(1) if rule else '(no rule id)'}"


def _guard(backend, what, fn):
    """("ok", value) or ("error", :func:`error_id`); anything else is a bug and raises AssertionError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning from a decoder is a defect too (and a crash under -W error)
            return "ok", fn()
    except DecodeError as exc:
        return "error", error_id(exc)
    except Exception as exc:
        raise AssertionError(f"{backend} backend, {what}: {type(exc).__name__} escaped the decoder: {exc}") from exc


def outcome(data, backend, limits=LIMITS):
    """Everything one backend says about ``data``: the whole decode, then the lazy reader tensor by tensor."""
    whole = _guard(backend, "decode", lambda: _arrays(nncodec.decode(data, limits=limits, backend=backend)))
    opened = _guard(backend, "open", lambda: nncodec.open(data, limits=limits, backend=backend))
    if opened[0] == "error":
        return whole, opened
    reader = opened[1]
    info = _guard(backend, "info", reader.info)
    if info[0] == "error":
        raise AssertionError(f"{backend} backend: info() raised {info[1]} on an opened container")
    tensors = [(name, _guard(backend, f"reader[{name!r}]", lambda name=name: _arrays({name: reader[name]})))
               for name in reader.keys()]
    if whole[0] == "ok" and any(status == "error" for _, (status, _) in tensors):
        raise AssertionError(f"{backend} backend: decode() accepted what the reader rejects: {tensors}")
    return whole, ("opened", reader.metadata, info[1], tensors)


def _check_one(data):
    results = {backend: outcome(data, backend) for backend in BACKENDS}
    first = results[BACKENDS[0]]
    for backend, result in results.items():
        if result != first:
            raise AssertionError(f"backends disagree on {data[:64].hex()}...: "
                                 f"{BACKENDS[0]}={_short(first)} {backend}={_short(result)}")
    return first


def _short(result):
    text = repr(result)
    return text if len(text) < 400 else text[:400] + "..."


def run_decode(data):
    """The differential check on ``data`` and on ``reseal(data)``; returns the outcome for ``data``."""
    data = bytes(data)
    result = _check_one(data)
    sealed = reseal(data)
    if sealed != data:
        _check_one(sealed)
    return result


def run_roundtrip(weights, options):
    """Encode on every backend (twice each: identical bytes), decode on every backend: the arrays come back exact."""
    from checkers import assert_same_array
    blobs = {nncodec.encode(weights, backend=b, **options) for b in BACKENDS for _ in range(2)}
    if len(blobs) != 1:
        raise AssertionError(f"encoders disagree or are not deterministic: {len(blobs)} different outputs")
    blob = blobs.pop()
    for backend in BACKENDS:
        decoded = nncodec.decode(blob, backend=backend)
        if isinstance(weights, dict):
            assert isinstance(decoded, dict) and list(decoded) == list(weights), (list(decoded), list(weights))
            for name, array in weights.items():
                assert_same_array(array, decoded[name])
        else:
            assert_same_array(weights, decoded)
    return blob


def import_instrumented(name):
    """Import module ``name`` (a kernel nncodec imports lazily), instrumented for coverage when fuzzing."""
    if FUZZING:
        with atheris.instrument_imports(include=["nncodec"]):
            return importlib.import_module(name)
    return importlib.import_module(name)


def split_count(data):
    """(count, stream) from a stream fuzz input: byte 0 below 0x80 is the element count itself; byte 0 >= 0x80
    means bytes 1..8 hold the count (u64le, so counts far beyond the stream's size come up). The rest is the
    stream."""
    if not data:
        return 0, b""
    if data[0] < 0x80:
        return data[0], data[1:]
    return int.from_bytes(data[1:9], "little"), data[9:]


def join_count(count, stream):
    """The fuzz input that :func:`split_count` splits into ``(count, stream)``."""
    return bytes([count]) + stream if count < 0x80 else b"\x80" + count.to_bytes(8, "little") + stream


def _stream_outcome(coding, backend, stream, count, limits):
    """("ok", values bytes) or ("error", :func:`error_id`); any other exception is a bug."""
    try:
        values = kernels.module(coding, backend).decode(memoryview(stream), count, limits)
    except DecodeError as exc:
        return "error", error_id(exc)
    except Exception as exc:
        raise AssertionError(f"{backend} {coding} decoder let {type(exc).__name__} escape: {exc}") from exc
    if values.dtype != np.int64 or values.shape != (count,):
        raise AssertionError(f"{backend} {coding} decoder returned {values.dtype}{values.shape} for count {count}")
    return "ok", values.tobytes()


def run_stream_decode(coding, data, limits):
    """Decode the stream in fuzz input ``data`` with the ``coding`` kernel ("cabac", "huffman") on every backend;
    AssertionError when one lets something other than a DecodeError escape, returns a result of the wrong type
    or shape, or when the backends disagree (different values or different error classes or rule ids)."""
    count, stream = split_count(bytes(data))
    results = {b: _stream_outcome(coding, b, stream, count, limits) for b in nncodec.available_backends()}
    if len(set(results.values())) > 1:
        summary = {b: r if r[0] == "error" else ("ok", len(r[1])) for b, r in results.items()}
        raise AssertionError(f"backends disagree on count {count}, stream {stream[:64].hex()}: {summary}")


def _differential(what, attempt):
    """Run ``attempt(backend)`` on every backend through :func:`_guard`; AssertionError when the outcomes differ."""
    results = {b: _guard(b, what, lambda b=b: attempt(b)) for b in BACKENDS}
    if len(set(results.values())) > 1:
        summary = {b: r if r[0] == "error" else ("ok", _short(r[1])) for b, r in results.items()}
        raise AssertionError(f"backends disagree on {what}: {summary}")
    return results[BACKENDS[0]]


def _array_facts(array, dtype, shape, what):
    """(dtype, shape, bytes) of a stage's output, after checking it has the ``dtype`` and ``shape`` it must have."""
    if array.dtype != dtype or array.shape != tuple(shape):
        raise AssertionError(f"{what} returned {array.dtype}{array.shape}, expected {dtype}{tuple(shape)}")
    return array.dtype.str, array.shape, array.tobytes()


def run_coding_decode(name, data, limits):
    """Differential check of the stream coding ``name`` (spec 3.8, e.g. "zstd") through its stage class.

    ``data``: byte 0 picks the Elem_Type (code ``1 + byte % 13``), then the element count and the stored bytes as
    :func:`split_count` reads them. The count is checked against ``max_elements`` and ``max_expansion`` first, as
    the directory parser does for every stream (spec 6)."""
    from nncodec.format.dtypes import itemsize, numpy_dtype
    from nncodec.format.records import Stream
    from nncodec.stages import coding_by_name

    data = bytes(data)
    elem_type = 1 + data[0] % 13 if data else 2
    count, stored = split_count(data[1:])
    coding = coding_by_name(name)
    stream = Stream(coding.coding_id, elem_type, 0, count, len(stored), 0)

    def attempt(backend):
        limits.check("max_elements", count)
        limits.check_expansion(count * itemsize(elem_type), len(stored))
        values = coding.decode(memoryview(stored), stream, limits, backend)
        return _array_facts(values, numpy_dtype(elem_type), (count,), f"{backend} {name} coding")

    return _differential(f"{name} stream of {count} x type {elem_type}, {stored[:32].hex()}", attempt)


def transform_input(in_code, shape, params, values=b""):
    """The fuzz input that :func:`run_transform_decode` reads as (input dtype, shape, params, element bytes)."""
    return bytes((in_code - 1, len(shape), *shape, len(params))) + bytes(params) + bytes(values)


def step_transform_seeds(stage):
    """Valid inputs for a step stage (uniform or dq, which share their params): per-tensor and per-channel steps,
    int8..int64 levels, the extreme levels dq allows."""
    levels = np.array([0, 1, -1, 2, -3, 5, 127, -128], dtype=np.int8)
    huge = np.array([(1 << 62) - 1, -(1 << 62) + 1, 3], dtype="<i8")
    return [transform_input(2, (8,), stage.stage(12, [0.5]).params, levels.tobytes()),
            transform_input(2, (2, 4), stage.stage(10, [0.25, 2.0], axis=0).params, levels.tobytes()),
            transform_input(4, (4, 2), stage.stage(13, [1e-3, 7.0], axis=1).params, levels.astype("<i2").tobytes()),
            transform_input(8, (3,), stage.stage(12, [1.0]).params, huge.tobytes())]


def _read_transform_input(data):
    in_code = 1 + data[0] % 13 if data else 2
    ndim = data[1] % 4 if len(data) > 1 else 0
    shape = tuple(b % 9 for b in data[2:2 + ndim])
    shape += (0,) * (ndim - len(shape))
    pos = 2 + ndim
    n = data[pos] if pos < len(data) else 0
    params = data[pos + 1:pos + 1 + n]
    return in_code, shape, params, data[pos + 1 + n:]


def run_transform_decode(name, data, limits):
    """Differential check of the transform stage ``name`` (spec 4.2-4.5): params parse, then reconstruction.

    ``data`` (see :func:`transform_input`): byte 0 picks the input dtype (code ``1 + byte % 13``), byte 1 the
    number of dimensions (``% 4``), one byte per extent (``% 9``), a byte giving the params length, the params,
    then the input elements' bytes, repeated to fill the array (zeros when absent; bool bytes reduced to 0/1).
    The stage must give an array of the input's shape and of its Out_Type, or a DecodeError."""
    from nncodec.format.dtypes import itemsize, numpy_dtype
    from nncodec.format.records import Chain, Node
    from nncodec.stages import stage_by_name

    in_code, shape, params, raw = _read_transform_input(bytes(data))
    stage = stage_by_name(name)
    size = itemsize(in_code)
    for extent in shape:
        size *= extent
    raw = (raw * (size // len(raw) + 1))[:size] if raw else bytes(size)
    if in_code == 1:
        raw = bytes(b & 1 for b in raw)
    array = np.frombuffer(raw, dtype=numpy_dtype(in_code)).reshape(shape)
    node = Node(in_code, shape, Chain((), ()))

    def attempt(backend):
        out_code, parsed = stage.parse(node, params, in_code)
        with np.errstate(all="ignore"):  # IEEE results (inf, NaN) are values, as in Container._decode_chain
            out = stage.decode(node, parsed, array, out_code, backend)
        return _array_facts(out, numpy_dtype(out_code), shape, f"{backend} {name} stage")

    return _differential(f"{name} stage on type {in_code}{list(shape)}, params {params.hex()}", attempt)


def layout_input(shape, params, streams):
    """The fuzz input that :func:`run_layout_decode` reads: shape, params, then ``streams`` as
    ``(elem_code, count, stored bytes)`` triples (each field one byte; stored bytes at most 255)."""
    out = bytearray((len(shape), *shape, len(params))) + bytes(params) + bytes((len(streams),))
    for elem_code, count, stored in streams:
        out += bytes((elem_code - 1, count, len(stored))) + bytes(stored)
    return bytes(out)


def layout_seed_arrays():
    """The arrays every layout target seeds with: a sparse 3x4 float32 matrix, an int8 vector, a 2x2x3 tensor with
    an empty row, all zeros."""
    return [np.array([[0, 1.5, 0, 0], [0, 0, 0, 0], [2, 0, 0, -1]], np.float32),
            np.array([0, 0, 0, 7, 0, 0, 0, -3], np.int8),
            np.array([[[0, 0, 0], [1, 1, 0]], [[0, 0, 0], [0, 0, 0]]], np.int16),
            np.zeros((2, 3), np.float16)]


def layout_seeds(name, arrays=None, **options):
    """Fuzz inputs of :func:`run_layout_decode` holding ``arrays`` (default :func:`layout_seed_arrays`) as the
    layout ``name`` encodes them (small arrays only: every stream must fit the one-byte count and length fields)."""
    from nncodec.format.dtypes import code_of
    from nncodec.stages import stage_by_name

    layout, out = stage_by_name(name), []
    for array in layout_seed_arrays() if arrays is None else arrays:
        params, streams = layout.encode(array, **options)
        out.append(layout_input(array.shape, params, [(code_of(s.dtype), s.size, s.tobytes()) for s in streams]))
    return out


def _read_layout_input(data):
    ndim = data[0] % 4 if data else 0
    shape = tuple(b % 9 for b in data[1:1 + ndim]) + (0,) * max(0, ndim - len(data[1:1 + ndim]))
    pos = 1 + ndim
    n = data[pos] if pos < len(data) else 0
    params, pos = data[pos + 1:pos + 1 + n], pos + 1 + n
    count = data[pos] % 6 if pos < len(data) else 0
    pos += 1
    streams = []
    for _ in range(count):
        head = data[pos:pos + 3].ljust(3, b"\0")
        stored = data[pos + 3:pos + 3 + head[2]]
        streams.append((1 + head[0] % 13, head[1], stored))
        pos += 3 + head[2]
    return shape, params, streams


def run_layout_decode(name, data, limits):
    """Differential check of the layout stage ``name`` (spec 4.1 dense, 4.6-4.9 relidx, csr, cer, cser):
    ``check`` on the declaration, then ``decode`` of raw-coded streams (see :func:`layout_input`). The layout must
    give an array of the node's shape and of the element type ``check`` returned, or a DecodeError."""
    from nncodec.format.dtypes import numpy_dtype
    from nncodec.format.records import Chain, Node, Stage, Stream
    from nncodec.stages import coding_by_name, stage_by_name

    shape, params, triples = _read_layout_input(bytes(data))
    layout, raw = stage_by_name(name), coding_by_name("raw")
    streams = tuple(Stream(raw.coding_id, e, 0, c, len(b), 0) for e, c, b in triples)
    values = streams[layout.values_stream].elem_type if len(streams) > layout.values_stream else 12
    node = Node(values, shape, Chain(streams, (Stage(layout.stage_id, params),)))

    def attempt(backend):
        code = layout.check(node, params, streams)
        arrays = [raw.decode(memoryview(b), s, limits, backend) for (_, _, b), s in zip(triples, streams)]
        out = layout.decode(node, params, arrays, backend)  # the sparse layouts' kernels run on this backend
        return _array_facts(out, numpy_dtype(code), shape, f"{backend} {name} layout")

    return _differential(f"{name} layout of {list(shape)}, params {params.hex()}, {len(streams)} streams", attempt)


def fuzz(test_one_input, seeds=None):
    """Run ``test_one_input`` under atheris with the libFuzzer options of the command line.

    ``--write-seeds DIR`` instead writes ``seeds()`` (a list of inputs) into DIR as ``seed-<i>``."""
    if sys.argv[1:2] == ["--write-seeds"] and seeds is not None:
        corpus = pathlib.Path(sys.argv[2])
        corpus.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            (corpus / f"seed-{i}").write_bytes(seed)
        return
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (see fuzz/README.md)")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
