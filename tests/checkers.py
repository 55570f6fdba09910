"""The shared checkers every test module uses; none of them re-implements these assertions.

- check_roundtrip: encode on one backend, decode on another, compare exactly (or within a bound for lossy chains).
- check_identical_bytes: every backend, twice each, gives the same bytes.
- check_stream_roundtrip: the same for one integer stream coding (stage level).
- rule_of / error_of: the rule id that starts a DecodeError's message; (class name, rule id) of an error;
  case_rule: the rule id a rejection-table key names.
- check_rejects: a blob raises exactly the given DecodeError subclass (and rule, if given) on a backend.
- check_prefixes / check_bitflips: truncations and bit flips either decode or raise a DecodeError, nothing else.
- check_same_outcome: every backend gives equal arrays or the same error class and rule id.
- check_out_of_range_stream: a container whose int8 stream decodes to 300 is an InconsistentError.
- check_stream_fuzz_target: a stream decoder's fuzz target runs without atheris on its seeds and given inputs.
"""

import importlib
import pathlib
import random
import re
import sys

import numpy as np
import pytest

import nncodec
from nncodec.errors import DecodeError
from nncodec import sparse


def assert_same_array(expected, got, atol=None):
    """Equal dtype (native order), shape and values; NaN payloads compared bit for bit when exact.

    ``expected`` may be a :class:`nncodec.BFloat16` wrapper: the result must then be ml_dtypes.bfloat16 with the
    same bit patterns.
    """
    if isinstance(expected, nncodec.BFloat16):
        from nncodec.format.dtypes import DTYPE_CODES, numpy_dtype
        bits = np.asarray(expected.bits)
        assert got.shape == bits.shape, (got.shape, bits.shape)
        assert got.dtype == numpy_dtype(DTYPE_CODES["bfloat16"]), got.dtype
        assert np.ascontiguousarray(got).view("<u2").tobytes() == np.asarray(bits, "<u2", order="C").tobytes()
        return
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype.newbyteorder("="), (got.dtype, expected.dtype)
    if atol is None:
        assert np.asarray(expected, order="C").tobytes() == np.asarray(got.astype(expected.dtype), order="C").tobytes()
    else:
        assert np.all(np.abs(got.astype(np.float64) - expected.astype(np.float64)) <= atol)


def check_roundtrip(weights, enc_backend, dec_backend, atol=None, **options):
    """Encode on ``enc_backend``, decode on ``dec_backend`` (from bytes, bytearray and memoryview); returns blob."""
    blob = nncodec.encode(weights, backend=enc_backend, **options)
    for form in (bytes(blob), bytearray(blob), memoryview(blob)):
        decoded = nncodec.decode(form, backend=dec_backend)
        if isinstance(weights, dict):
            assert list(decoded) == list(weights)
            for name, array in weights.items():
                assert_same_array(array, decoded[name], atol)
        else:
            assert_same_array(weights, decoded, atol)
    return blob


def check_identical_bytes(weights, **options):
    """Every available backend, twice each, produces the same container bytes."""
    outputs = {nncodec.encode(weights, backend=b, **options)
               for b in nncodec.available_backends() for _ in range(2)}
    assert len(outputs) == 1, "encoders disagree or are not deterministic"
    return outputs.pop()


def check_stream_roundtrip(coding, values, enc_backend, dec_backend, limits=None):
    """Stage-level round trip of an integer coding: identical bytes on every backend, exact values back."""
    from nncodec.format.limits import DEFAULT_LIMITS
    from nncodec.format.records import Stream
    from nncodec.format.dtypes import code_of
    values = np.asarray(values)
    data = coding.encode(values, backend=enc_backend)
    for other in nncodec.available_backends():
        assert coding.encode(values, backend=other) == data, f"{other} encoder gives different bytes"
    stream = Stream(coding.coding_id, code_of(values.dtype), 0, values.size, len(data), 0)
    got = coding.decode(memoryview(data), stream, limits or DEFAULT_LIMITS, backend=dec_backend)
    assert_same_array(values.reshape(-1), got)
    return data


def rule_of(error):
    """The rule id (``"R4.8-b"``) in brackets at the start of a DecodeError's message; fails if there is none."""
    found = re.match(r"\[(R[0-9][0-9.]*(?:-[a-z])?)\]", str(error))
    assert found, f"{type(error).__name__} whose message does not start with a rule id: {error}"
    return found.group(1)


def error_of(error):
    """(class name, rule id) of a DecodeError: what two backends must agree on."""
    return type(error).__name__, rule_of(error)


def case_rule(key, coding_rule):
    """The rule id a rejection-table key starts with: ``"c-..."`` is ``<coding_rule>-c``, ``"R2-a-..."`` is R2-a,
    ``"R6-..."`` is R6."""
    head = key.split("-")
    if head[0] == "R6":
        return "R6"
    return "-".join(head[:2]) if head[0].startswith("R") else f"{coding_rule}-{head[0]}"


def check_rejects(blob, error, backend, rule=None, **kwargs):
    """Decoding ``blob`` raises exactly ``error`` (the class itself, not a sibling) on ``backend``, with ``rule``
    at the start of its message when given."""
    with pytest.raises(DecodeError) as info:
        nncodec.decode(blob, backend=backend, **kwargs)
    assert type(info.value) is error, f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    if rule is not None:
        assert rule_of(info.value) == rule, f"expected [{rule}], got: {info.value}"
    return info.value


def _decode_or_decode_error(data, backend):
    try:
        nncodec.decode(data, backend=backend)
    except DecodeError as exc:
        return type(exc)
    return None


def check_prefixes(blob, backend):
    """Every proper prefix of ``blob`` is rejected with a DecodeError."""
    for i in range(len(blob)):
        with pytest.raises(DecodeError):
            nncodec.decode(blob[:i], backend=backend)


def check_bitflips(blob, backend, count=200, seed=0):
    """Random single-bit flips are all detected (the format covers every byte, spec 3.6)."""
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(blob)
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        assert _decode_or_decode_error(bytes(data), backend) is not None, f"flip at byte {i} went undetected"


def check_out_of_range_stream(encode, coding, backend):
    """An int8 tensor whose stream (made by ``encode``, coding id ``coding``) decodes to 300 is an
    InconsistentError ([R5.3-b])."""
    from crafting import craft, dense_tensor
    from nncodec.errors import InconsistentError
    stored = encode(np.array([1, 300], dtype=np.int64))
    blob = craft([dense_tensor("t", "int8", (2,), stored, coding=coding, align_log2=0)])
    with pytest.raises(InconsistentError):
        nncodec.decode(blob, backend=backend)


def check_stream_fuzz_target(name, rejections, step):
    """The fuzz target ``fuzz/<name>.py`` of a stream decoder runs without atheris: its :func:`TestOneInput` on
    each seed, on the seed's prefixes of every ``step``-th length, and on each ``(data, count, _)`` of
    ``rejections`` (a dict) whose count fits in the input's first byte."""
    fuzz = str(pathlib.Path(__file__).resolve().parents[1] / "fuzz")
    sys.path.insert(0, fuzz)
    try:
        target = importlib.import_module(name)
    finally:
        sys.path.remove(fuzz)
    for seed in target.seeds():
        target.TestOneInput(seed)
        for i in range(0, len(seed), step):
            target.TestOneInput(seed[:i])
    for data, count, _ in rejections.values():
        if count < 0x80:
            target.TestOneInput(bytes([count]) + data)


def check_same_outcome(data):
    """Differential check: every backend gives equal arrays or the same error class and rule id."""
    outcomes = []
    for b in nncodec.available_backends():
        try:
            out = nncodec.decode(data, backend=b)
            out = out if isinstance(out, dict) else {"": out}
            outcomes.append(("ok", {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in out.items()}))
        except DecodeError as exc:
            outcomes.append(("error", error_of(exc)))
    assert all(o == outcomes[0] for o in outcomes), outcomes
    return outcomes[0]


def check_limit(blob, limit, at, backend, *, accept=None, reported=None, declared=None, maximum=None, **fixed):
    """The limit ``limit`` is enforced exactly at ``at``.

    ``DecodeLimits(limit=at)`` lets ``accept(limits)`` run (default: a full decode of ``blob`` on ``backend``);
    ``DecodeLimits(limit=at - 1)`` makes it raise LimitExceededError whose ``.limit`` is ``reported`` (default
    ``limit``), ``.declared`` is ``declared`` (default ``at``) and ``.maximum`` is ``maximum`` (default ``at - 1``).
    ``fixed`` sets other limits for both calls. Returns the error.
    """
    from nncodec.errors import LimitExceededError
    accept = accept or (lambda limits: nncodec.decode(blob, limits=limits, backend=backend))
    accept(nncodec.DecodeLimits(**{**fixed, limit: at}))
    with pytest.raises(LimitExceededError) as info:
        accept(nncodec.DecodeLimits(**{**fixed, limit: at - 1}))
    err = info.value
    want = (reported or limit, at if declared is None else declared, at - 1 if maximum is None else maximum)
    assert (err.limit, err.declared, err.maximum) == want, (err.limit, err.declared, err.maximum, str(err))
    assert want[0] in str(err)
    return err


def check_product(weight, x, backend, layouts=None):
    """Every runtime layout of ``weight`` (a dense 2-D array) times ``x`` (n,) or (n, b) on ``backend`` equals the
    exact product of the same float32 numbers within float32 rounding: per output element,
    ``|y - y_exact| <= (n + 2) * 2**-23 * (|A| @ |x|)`` (the recursive-summation bound, one extra rounding for the
    scale of a CER/CSER group), where y_exact is computed in float64; when a CER/CSER table's implicit value c is
    not zero, ``|A|`` becomes ``|A| + |c| + |A - c|``. Returns the results by layout."""
    from nncodec import runtime
    a = np.asarray(weight, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    exact = a.astype(np.float64) @ x.astype(np.float64)
    results = {}
    for layout in layouts or runtime.LAYOUTS:
        op = runtime.prepare(weight, layout)
        # with an implicit value c != 0 (CER/CSER), A x = c * sum(x) + (A - c) x: both terms count
        c = abs(float(op.implicit))
        size = np.abs(a).astype(np.float64) + c + np.abs(a.astype(np.float64) - float(op.implicit))
        bound = (a.shape[1] + 2) * 2.0 ** -23 * (size @ np.abs(x).astype(np.float64))
        assert op.layout == layout and op.shape == a.shape
        for threads in (1, 2):
            y = op.matmul(x, backend=backend, threads=threads)
            assert y.dtype == np.float32 and y.shape == exact.shape, (layout, y.dtype, y.shape)
            err = np.abs(y.astype(np.float64) - exact)
            assert np.all(err <= bound + 1e-30), (layout, threads, float(np.max(err - bound)))
        results[layout] = y
    return results


def check_structure_product(structure, x, backend):
    """``structure @ x`` computed by the runtime on ``backend`` directly on a decoded sparse structure (as returned
    by ``decode(..., materialize=False)``) equals ``structure.todense_matrix() @ x`` within the bound of
    :func:`check_product`, on 1 and 2 threads. Returns the product."""
    from nncodec import runtime
    a = np.asarray(structure.todense_matrix(), dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    exact = a.astype(np.float64) @ x.astype(np.float64)
    op = runtime.prepare(structure)
    assert op.layout == sparse.layout_of(structure) and op.shape == a.shape
    size = np.abs(a).astype(np.float64) + abs(float(op.implicit)) + np.abs(a.astype(np.float64) - float(op.implicit))
    bound = (a.shape[1] + 2) * 2.0 ** -23 * (size @ np.abs(x).astype(np.float64))
    for threads in (1, 2):
        y = runtime.matmul(structure, x, backend=backend, threads=threads)
        assert y.dtype == np.float32 and y.shape == exact.shape
        err = np.abs(y.astype(np.float64) - exact)
        assert np.all(err <= bound + 1e-30), (op.layout, threads, float(np.max(err - bound)))
    return y
