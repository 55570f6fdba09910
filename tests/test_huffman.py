"""huffman stream coding (spec/huffman.md): round trips, identical bytes, every rejection rule, containers, fuzz seeds."""

import heapq
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncodec
from nncodec import kernels
from nncodec.errors import (DecodeError, EncodeError, FormatError, InconsistentError, LimitExceededError,
                            TrailingDataError, TruncatedError)
from nncodec.format.limits import DEFAULT_LIMITS, DecodeLimits
from nncodec.format.records import write_varint
from nncodec.kernels.reference import huffman as reference
from nncodec.stages.huffman import HuffmanCoding

from checkers import (assert_same_array, case_rule, check_bitflips, check_out_of_range_stream, check_prefixes,
                      check_stream_fuzz_target, check_stream_roundtrip, error_of)
from crafting import craft, dense_tensor

ROOT = pathlib.Path(__file__).resolve().parents[1]
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# spec/huffman.md §5.3.1.10: the worked example, values [0, 1, 1, 0]
WORKED_EXAMPLE = bytes.fromhex("02 00 02 00 80 01 01 01 00 80 80 00")


def kernel(backend):
    return kernels.module("huffman", backend)


def outcome(data, count, backend, limits=DEFAULT_LIMITS):
    """("ok", values bytes) or ("error", (class name, rule id)); anything but a DecodeError propagates (and fails
    the test)."""
    try:
        return "ok", kernel(backend).decode(data, count, limits).tobytes()
    except DecodeError as exc:
        return "error", error_of(exc)


def assert_rejects(data, count, error, backend, limits=DEFAULT_LIMITS, rule=None):
    """The stream is rejected with exactly ``error``, and the rule id ``rule`` when given."""
    result = outcome(data, count, backend, limits)
    assert result[0] == "error" and result[1][0] == error.__name__, f"expected {error.__name__}, got {result}"
    assert rule in (None, result[1][1]), f"expected [{rule}], got {result}"


# ---------------------------------------------------------------------------------------------------------------
# round trips (encoder on one backend, decoder on the other, identical bytes from every encoder)
# ---------------------------------------------------------------------------------------------------------------

@st.composite
def level_arrays(draw):
    """int64 arrays shaped like the inputs this coding sees: skewed or flat alphabets, runs, outliers, extremes."""
    n = draw(st.integers(0, 600))
    kind = draw(st.sampled_from(["skewed", "flat", "runs", "outliers", "extremes", "wide"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "skewed":
        values = np.round(rng.laplace(0, draw(st.floats(0.05, 300)), n))
    elif kind == "flat":
        values = rng.integers(0, draw(st.integers(1, 5000)), n)
    elif kind == "runs":
        values = np.repeat(rng.integers(-3, 4, max(1, n // 50)), 50)[:n]
    elif kind == "outliers":
        values = np.where(rng.random(n) < 0.02, rng.integers(-10**12, 10**12, n), rng.integers(-8, 9, n))
    elif kind == "extremes":
        values = rng.choice(np.array([INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX]), n)
    else:
        values = rng.integers(INT64_MIN, INT64_MAX, n, dtype=np.int64, endpoint=True)
    offset = draw(st.sampled_from([0, 0, 100, -(10**15)]))
    values = np.asarray(values, dtype=np.int64)
    if kind not in ("extremes", "wide"):
        values = values + np.int64(offset)
    return values


codings = st.builds(HuffmanCoding, max_length=st.integers(1, 15), max_span=st.integers(1, 5000)) | st.just(
    HuffmanCoding())


# the backend fixtures are plain strings, so sharing them across generated examples is safe
FIXTURES_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


@given(values=level_arrays(), coding=codings)
@settings(suppress_health_check=FIXTURES_OK)
def test_roundtrip_int64(values, coding, enc_backend, dec_backend):
    check_stream_roundtrip(coding, values, enc_backend, dec_backend)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"])
@given(data=st.data())
@settings(max_examples=15, suppress_health_check=FIXTURES_OK)
def test_roundtrip_every_integer_type(dtype, data, enc_backend, dec_backend):
    info = np.iinfo(dtype) if dtype != "bool" else None
    lo, hi = (0, 1) if info is None else (int(info.min), int(info.max))
    corner = st.sampled_from([lo, hi, 0, (lo + hi) // 2])
    values = data.draw(st.lists(st.one_of(corner, st.integers(lo, hi)), max_size=300))
    check_stream_roundtrip(HuffmanCoding(), np.array(values, dtype=dtype), enc_backend, dec_backend)


@pytest.mark.parametrize("values", [
    [], [5], [INT64_MIN] * 7, [INT64_MAX] * 3, [0, 1], [INT64_MIN, INT64_MAX], list(range(-2000, 2000)),
    [0] * 999 + [1], [1 << 40] * 20 + [7],
], ids=["empty", "one", "min-run", "max-run", "two", "both-ends", "flat-4000", "almost-constant", "far-pair"])
def test_roundtrip_corner_cases(values, enc_backend, dec_backend):
    check_stream_roundtrip(HuffmanCoding(), np.array(values, dtype=np.int64), enc_backend, dec_backend)


def test_uint64_through_the_stage(enc_backend, dec_backend):
    values = np.array([0, 1, 2**63, 2**64 - 1, 2**64 - 2, 2**63 - 1] * 50, dtype=np.uint64)
    check_stream_roundtrip(HuffmanCoding(), values, enc_backend, dec_backend)


def test_identical_bytes_on_real_sized_input():
    """A 200k-element skewed tensor with outliers: both encoders give the same bytes; the Cython decoder inverts."""
    rng = np.random.default_rng(7)
    values = np.round(rng.laplace(0, 12, 200_000)).astype(np.int64)
    values[::997] = rng.integers(-10**9, 10**9, values[::997].size)
    streams = {b: kernel(b).encode(values) for b in nncodec.available_backends()}
    assert len(set(streams.values())) == 1
    for b in nncodec.available_backends():
        if b != "reference":  # the bit-serial reference decoder is checked on smaller inputs above
            assert_same_array(values, kernel(b).decode(streams[b], values.size, DEFAULT_LIMITS))


def test_worked_example(backend):
    values = np.array([0, 1, 1, 0], dtype=np.int64)
    assert kernel(backend).encode(values) == WORKED_EXAMPLE
    assert_same_array(values, kernel(backend).decode(WORKED_EXAMPLE, 4, DEFAULT_LIMITS))


def test_worked_example_is_in_the_spec():
    text = (ROOT / "spec" / "huffman.md").read_text(encoding="utf-8")
    assert WORKED_EXAMPLE.hex(" ").upper() in text.upper()


# ---------------------------------------------------------------------------------------------------------------
# the code: optimal under the length limit, compact at the limits
# ---------------------------------------------------------------------------------------------------------------

def huffman_cost(weights):
    """Total bits of an unconstrained Huffman code (the classic two-smallest merge)."""
    heap = [w for w in weights if w]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


@given(weights=st.lists(st.integers(0, 10**6), min_size=2, max_size=80), max_length=st.integers(1, 15))
def test_package_merge_is_optimal_and_limited(weights, max_length):
    used = sum(1 for w in weights if w)
    if used < 2 or used > 1 << max_length:
        return
    lengths = reference.package_merge_lengths(np.array(weights, dtype=np.int64), max_length)
    assert int(lengths.max()) <= max_length
    assert sum(2.0 ** -int(n) for n in lengths if n) == 1.0
    assert all((w > 0) == (n > 0) for w, n in zip(weights, lengths))
    cost = int(np.dot(lengths, weights))
    if max(lengths) < max_length:  # the limit did not bind: as good as an unconstrained Huffman code
        assert cost == huffman_cost(weights)
    assert cost >= huffman_cost(weights)


def test_code_lengths_respect_the_limit(enc_backend, dec_backend):
    """Fibonacci counts want a 21-bit code; the encoder keeps every length within max_length."""
    fib = [1, 1]
    while len(fib) < 22:
        fib.append(fib[-1] + fib[-2])
    values = np.repeat(np.arange(22, dtype=np.int64), fib)
    np.random.default_rng(5).shuffle(values)
    for max_length in (5, 12, 15):
        lengths = reference.package_merge_lengths(np.array(fib, dtype=np.int64), max_length)
        assert int(lengths.max()) == max_length
        data = kernel(enc_backend).encode(values, max_length=max_length)
        if dec_backend == "cython" or max_length == 5:  # keep the bit-serial reference decoder on one case
            assert_same_array(values, kernel(dec_backend).decode(data, values.size, DEFAULT_LIMITS))


def test_escape_keeps_the_table_small():
    """Sparse huge values go through the escape: the table stays at the window, not the value range."""
    rng = np.random.default_rng(3)
    values = rng.integers(-4, 5, 5000)
    values[::50] = rng.integers(-(1 << 62), 1 << 62, values[::50].size)
    data = kernel("reference").encode(values.astype(np.int64), max_span=16)
    assert len(data) < 5000 * 4 / 8 + 100 * 72 / 8 + 64
    assert data[0] == reference.MODE_CODED


def test_encoder_rejects_bad_parameters():
    values = np.arange(10, dtype=np.int64)
    for backend in nncodec.available_backends():
        for params in ({"max_length": 0}, {"max_length": 16}, {"max_span": 0}, {"max_span": 65536},
                       {"max_length": 2.0}):
            with pytest.raises(EncodeError):
                kernel(backend).encode(values, **params)
        with pytest.raises(EncodeError):
            kernel(backend).encode(values.astype(np.int32))
    with pytest.raises(EncodeError):
        HuffmanCoding().encode(np.zeros(3, dtype=np.float32))


# ---------------------------------------------------------------------------------------------------------------
# every rejection rule of spec/huffman.md §5.3.1.9, with its exact error class, on both backends
# ---------------------------------------------------------------------------------------------------------------

def coded(lengths_bits, substreams, lo=0, alphabet_size=2, escape_bits=0, sizes=None):
    """A Mode 2 stream from a Code_Lengths bit string ('1000...', padded here) and four sub-stream byte strings."""
    out = bytearray([2])
    write_varint(out, reference.zigzag(lo))
    write_varint(out, alphabet_size)
    out.append(escape_bits)
    bits = lengths_bits + "0" * (-len(lengths_bits) % 8)
    out += int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    for size in sizes if sizes is not None else [len(s) for s in substreams[:3]]:
        write_varint(out, size)
    return bytes(out) + b"".join(substreams)


# lengths (1, 1): '100' then '0'; lengths (1, 2, 2): '100' '100' '0'
TWO_SYMBOLS = "1000"
THREE_SYMBOLS = "1001000"

REJECTIONS = {
    # rule: (data, count, error)
    "c-empty-input": (b"", 0, TruncatedError),
    "a-mode": (b"\x03", 1, FormatError),
    "b-empty-with-count": (b"\x00", 1, InconsistentError),
    "b-constant-without-count": (b"\x01\x00", 0, InconsistentError),
    "b-coded-without-count": (WORKED_EXAMPLE, 0, InconsistentError),
    "d-empty-trailing": (b"\x00\x00", 0, TrailingDataError),
    "d-constant-trailing": (b"\x01\x02\x00", 3, TrailingDataError),
    "c-constant-value-cut": (b"\x01\x80", 3, TruncatedError),
    "R2-a-noncanonical-varint": (b"\x01\x80\x00", 3, FormatError),
    "R2-a-long-varint": (b"\x01" + b"\xff" * 10 + b"\x01", 3, FormatError),
    "R2-a-varint-2**64": (b"\x01" + b"\xff" * 9 + b"\x02", 3, FormatError),
    "e-alphabet-size": (coded("", [b""] * 4, alphabet_size=(1 << 20) + 1), 4, FormatError),
    "f-alphabet-past-int64": (coded(TWO_SYMBOLS, [b"\x00"] * 4, lo=INT64_MAX), 4, FormatError),
    "g-escape-bits": (coded(TWO_SYMBOLS, [b"\x00"] * 4, escape_bits=65), 4, FormatError),
    "c-header-cut": (WORKED_EXAMPLE[:3], 4, TruncatedError),
    "c-lengths-cut": (coded("100" + "1" * 5, [], alphabet_size=3, sizes=[]), 4, TruncatedError),
    "i-length-below-0": (coded("101" + "0", [b"\x00"] * 4), 4, FormatError),
    "i-length-above-15": (coded("1101111" + "100", [b"\x00"] * 4), 4, FormatError),
    "j-run-past-table": (coded("111" + "011", [b"\x00"] * 4), 4, FormatError),
    "j-run-prefix": (coded("111" + "0" * 33 + "1" + "0" * 33, [b"\x00"] * 4), 4, FormatError),
    "k-lengths-padding": (coded("10000001", [b"\x00"] * 4), 4, FormatError),
    "l-oversubscribed": (coded("1000" + "0", [b"\x00"] * 4, alphabet_size=3), 4, FormatError),
    "m-incomplete": (coded("100" + "100", [b"\x00"] * 4), 4, FormatError),
    "m-one-code": (coded("100" + "101", [b"\x00"] * 4), 4, FormatError),
    "n-substreams-past-end": (coded(TWO_SYMBOLS, [b"\x00"] * 4, sizes=[1, 1, 3]), 4, TruncatedError),
    "o-count-past-bytes": (coded(TWO_SYMBOLS, [b"\x00"] * 4), 33, TruncatedError),
    "o-empty-substream": (coded(TWO_SYMBOLS, [b"", b"\x00", b"\x00", b"\x00"]), 4, TruncatedError),
    "c-substream-overrun": (coded(THREE_SYMBOLS, [b"\xff", b"\x00", b"\x00", b"\x00"], alphabet_size=3), 32,
                            TruncatedError),
    "c-escape-overrun": (coded(TWO_SYMBOLS, [b"\x80"] * 4, alphabet_size=1, escape_bits=64), 4, TruncatedError),
    "p-unused-byte": (WORKED_EXAMPLE + b"\x00", 4, TrailingDataError),
    "p-unused-byte-first": (coded(TWO_SYMBOLS, [b"\x00\x00", b"\x80", b"\x80", b"\x00"]), 4, TrailingDataError),
    "q-padding-bits": (WORKED_EXAMPLE[:-1] + b"\x01", 4, FormatError),
    "q-padding-after-escape": (coded(TWO_SYMBOLS, [b"\xe0", b"\x00", b"\x00", b"\x00"], alphabet_size=1,
                                     escape_bits=1), 4, FormatError),
}


@pytest.mark.parametrize("rule", sorted(REJECTIONS))
def test_rejects(rule, backend):
    data, count, error = REJECTIONS[rule]
    assert_rejects(data, count, error, backend, rule=case_rule(rule, "R5.3.1"))


def test_rule_order_is_per_substream(backend):
    """Sub-stream 0's unused byte is reported before sub-stream 1's overrun ([R5.3.1-p] before [R5.3.1-c])."""
    data = coded(THREE_SYMBOLS, [b"\x00\x00", b"\xff", b"\x00", b"\x00"], alphabet_size=3)
    assert_rejects(data, 29, TrailingDataError, backend)


def test_limits(backend):
    """max_alphabet bounds the table before it is allocated; a constant stream is bounded by its expansion."""
    three = coded(THREE_SYMBOLS, [b"\x00"] * 4, alphabet_size=3)
    assert outcome(three, 4, backend, DecodeLimits(max_alphabet=3))[0] == "ok"
    assert_rejects(three, 4, LimitExceededError, backend, DecodeLimits(max_alphabet=2))
    huge = coded("", [b""] * 4, alphabet_size=1 << 20)
    assert_rejects(huge, 4, LimitExceededError, backend)
    assert_rejects(b"\x01\x00", 1 << 40, LimitExceededError, backend)
    assert_rejects(b"\x01\x00", 1 << 70, LimitExceededError, backend)
    assert_rejects(b"\x01\x00", 11, LimitExceededError, backend, DecodeLimits(max_elements=10))
    small = DecodeLimits(max_expansion=2, expansion_slack=0)
    assert outcome(b"\x01\x00", 4, backend, small)[0] == "ok"
    assert_rejects(b"\x01\x00", 5, LimitExceededError, backend, small)


def test_huge_counts_are_rejected_before_allocating(backend):
    for count in (1 << 40, 1 << 64, 1 << 100):
        assert_rejects(WORKED_EXAMPLE, count, TruncatedError, backend)


@given(seed=st.binary(min_size=1, max_size=40), cut=st.integers(0, 200), flips=st.lists(st.integers(0, 4000),
       max_size=4), count_delta=st.sampled_from([0, 0, 0, 1, -1, 5]))
@settings(max_examples=150)
def test_mutations_same_outcome_on_both_backends(seed, cut, flips, count_delta):
    """Truncations, bit flips and wrong counts of valid streams: both backends agree, and only DecodeErrors escape."""
    rng = np.random.default_rng(list(seed))
    values = np.round(rng.laplace(0, rng.uniform(0.1, 40), rng.integers(0, 120))).astype(np.int64)
    if rng.random() < 0.3 and values.size:
        values[rng.integers(0, values.size)] = rng.integers(INT64_MIN, INT64_MAX)
    data = bytearray(kernel("reference").encode(values, max_length=int(rng.integers(2, 16))))
    for flip in flips:
        data[flip % len(data)] ^= 1 << (flip % 8)
    data = bytes(data[:len(data) - cut % (len(data) + 1)] if cut % 3 == 0 else data)
    count = max(0, values.size + count_delta)
    results = {outcome(data, count, b) for b in nncodec.available_backends()}
    assert len(results) == 1, results


def test_every_prefix_of_a_stream_is_rejected(backend):
    data = kernel(backend).encode(np.array([3, -1, 2, 2, 0, 7, 1 << 50, 2, 2, 3], dtype=np.int64))
    for i in range(len(data)):
        assert outcome(data[:i], 10, backend)[0] == "error"


# ---------------------------------------------------------------------------------------------------------------
# inside a container
# ---------------------------------------------------------------------------------------------------------------

def huffman_container(tensors, backend=None):
    """Container bytes with one dense chain per ``{name: integer array}``, its stream huffman-coded (Coding 2)."""
    coding = HuffmanCoding()
    records = []
    for name, array in tensors.items():
        stored = coding.encode(array, backend=backend)
        records.append(dense_tensor(name, array.dtype.name, array.shape, stored, coding=coding.coding_id,
                                    align_log2=coding.align_log2))
    return craft(records)


def test_container_roundtrip(enc_backend, dec_backend):
    rng = np.random.default_rng(11)
    tensors = {
        "conv": np.round(rng.laplace(0, 9, (8, 4, 3, 3))).astype(np.int8),
        "bias": np.zeros(16, dtype=np.int16),
        "empty": np.zeros((0, 3), dtype=np.int32),
        "ids": rng.integers(0, 2**64 - 1, 50, dtype=np.uint64, endpoint=True),
        "mask": rng.random((5, 7)) < 0.2,
    }
    blob = huffman_container(tensors, enc_backend)
    decoded = nncodec.decode(blob, backend=dec_backend)
    assert list(decoded) == list(tensors)
    for name, array in tensors.items():
        assert_same_array(array, decoded[name])
    with nncodec.open(blob, backend=dec_backend) as reader:
        assert {row["chain"] for row in reader.info()} == {"dense<huffman>"}


def test_container_rejects_out_of_range_values(backend):
    """An int8 tensor whose huffman stream decodes to 300 is an InconsistentError ([R5.3-b])."""
    check_out_of_range_stream(kernel("reference").encode, 2, backend)


def test_container_prefixes_and_bitflips(backend):
    blob = huffman_container({"w": np.array([0, 1, 1, 0, 5, -3, 0, 0], dtype=np.int16)})
    check_prefixes(blob, backend)
    check_bitflips(blob, backend, count=100)


# ---------------------------------------------------------------------------------------------------------------
# the fuzz target runs without atheris
# ---------------------------------------------------------------------------------------------------------------

def test_fuzz_target_on_seeds():
    check_stream_fuzz_target("fuzz_huffman_decode", REJECTIONS, step=3)
