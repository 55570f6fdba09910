"""cabac stream coding (spec/cabac.md): round trips, identical bytes, the worked example, every rejection rule,
a container, and the fuzz target on its seeds."""

import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncodec
from nncodec import kernels
from nncodec.errors import (DecodeError, EncodeError, FormatError, LimitExceededError, TrailingDataError,
                            TruncatedError)
from nncodec.format.limits import DEFAULT_LIMITS, DecodeLimits
from nncodec.stages.cabac import CabacCoding, search_rates

from checkers import (assert_same_array, case_rule, check_bitflips, check_out_of_range_stream, check_prefixes,
                      check_stream_fuzz_target, check_stream_roundtrip, error_of)
from crafting import craft, dense_tensor
from spec.vectors.make_vectors import cabac_past_int64
from skips import skip

ROOT = pathlib.Path(__file__).resolve().parents[1]
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# spec/cabac.md §5.3.2.10: the worked example
WORKED_LEVELS = np.array([0, 0, -2, 1, 9, -1], dtype=np.int64)
WORKED_STREAM = bytes.fromhex("00 04 8C 8C 8C 8C 8C 00 01 5D E3 6A 80 00 00 00")

# backend fixtures are plain strings: sharing them across generated examples is safe
FIXTURES_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


def kernel(backend):
    return kernels.module("cabac", backend)


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


def encode_everywhere(values, **params):
    """The stream of ``values`` after checking that every backend encodes it to the same bytes."""
    streams = {kernel(b).encode(values, **params) for b in nncodec.available_backends()}
    assert len(streams) == 1, "encoders disagree"
    return streams.pop()


# ---------------------------------------------------------------------------------------------------------------
# round trips: encoder on one backend, decoder on the other, identical bytes from every encoder
# ---------------------------------------------------------------------------------------------------------------

@st.composite
def level_arrays(draw, max_size=300):
    """int64 arrays like the levels this coding sees, plus the hostile shapes: runs, flat, extremes."""
    n = draw(st.integers(0, max_size))
    kind = draw(st.sampled_from(["laplace", "flat", "runs", "constant", "outliers", "extremes", "wide"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "laplace":
        values = np.round(rng.laplace(0, draw(st.floats(0.05, 500)), n))
    elif kind == "flat":
        values = rng.integers(0, draw(st.integers(1, 300)), n) - draw(st.sampled_from([0, 150]))
    elif kind == "runs":
        values = np.repeat(rng.integers(-3, 4, max(1, n // 40 + 1)), 40)[:n]
    elif kind == "constant":
        values = np.full(n, draw(st.sampled_from([0, 1, -1, 37, INT64_MIN, INT64_MAX])))
    elif kind == "outliers":
        values = np.where(rng.random(n) < 0.05, rng.integers(-10**15, 10**15, n), rng.integers(-6, 7, n))
    elif kind == "extremes":
        values = rng.choice(np.array([INT64_MIN, INT64_MIN + 1, -(1 << 62), -1, 0, 1, 1 << 20, INT64_MAX]), n)
    else:
        values = rng.integers(INT64_MIN, INT64_MAX, n, dtype=np.int64, endpoint=True)
    return np.asarray(values, dtype=np.int64)


@given(values=level_arrays())
@settings(max_examples=25, suppress_health_check=FIXTURES_OK)
def test_roundtrip_stage(values, enc_backend, dec_backend):
    check_stream_roundtrip(CabacCoding(), values, enc_backend, dec_backend)


@st.composite
def parameters(draw):
    return {"gt_flags": draw(st.integers(0, 32)),
            "rates": draw(st.lists(st.tuples(st.integers(1, 15), st.integers(1, 15)), min_size=5, max_size=5)),
            "row_length": draw(st.sampled_from([0, 1, 3, 9, 64])),
            "segments": draw(st.integers(1, 4))}


@given(values=level_arrays(max_size=200), params=parameters())
@settings(max_examples=25, suppress_health_check=FIXTURES_OK)
def test_roundtrip_encoder_settings(values, params, backend):
    params["segments"] = max(1, min(params["segments"], values.size))
    data = encode_everywhere(values, **params)
    assert_same_array(values, kernel(backend).decode(data, values.size, DEFAULT_LIMITS))


@given(data=st.data())
@settings(max_examples=25, suppress_health_check=FIXTURES_OK)
def test_roundtrip_bounded_modes(data, backend):
    """Codebook indices: one-sided with a known alphabet size, and two-sided, both with truncated bins."""
    alphabet = data.draw(st.integers(1, 70))
    n = data.draw(st.integers(1, 200))
    gt_flags = data.draw(st.integers(0, 8))
    indices = np.array(data.draw(st.lists(st.integers(0, alphabet - 1), min_size=n, max_size=n)), dtype=np.int64)
    one_sided = encode_everywhere(indices, bounded="one-sided", max_magnitude=alphabet - 1, gt_flags=gt_flags)
    assert one_sided[0] == 1
    assert_same_array(indices, kernel(backend).decode(one_sided, n, DEFAULT_LIMITS))
    signed = indices - alphabet // 2
    two_sided = encode_everywhere(signed, bounded="two-sided", gt_flags=gt_flags)
    assert two_sided[0] == 2
    assert_same_array(signed, kernel(backend).decode(two_sided, n, DEFAULT_LIMITS))


@pytest.mark.parametrize("values", [
    [], [0], [5], [-1], [INT64_MIN], [INT64_MAX], [INT64_MIN, INT64_MAX] * 5, [INT64_MIN + 1, -(1 << 20) + 1],
    [(1 << 20) + 3, (1 << 20) - 1, (1 << 20) + 4, 1 << 21], [0] * 3000, list(range(-300, 300)),
], ids=["empty", "zero", "one", "minus-one", "min", "max", "both-ends", "near-min", "escape-edges", "zeros",
        "ramp"])
def test_roundtrip_corner_cases(values, enc_backend, dec_backend):
    check_stream_roundtrip(CabacCoding(), np.array(values, dtype=np.int64), enc_backend, dec_backend)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16", "uint32", "uint64"])
def test_roundtrip_integer_types(dtype, enc_backend, dec_backend):
    info = np.iinfo(dtype) if dtype != "bool" else None
    lo, hi = (0, 1) if info is None else (int(info.min), int(info.max))
    rng = np.random.default_rng(3)
    corners = np.array([lo, hi, lo, hi], dtype=dtype)
    values = np.concatenate([corners, rng.integers(lo, hi, 100, endpoint=True, dtype=dtype)])
    check_stream_roundtrip(CabacCoding(), values, enc_backend, dec_backend)


@pytest.mark.parametrize("values", [
    [1] * 3000 + [0, 0, 1],     # sig contexts driven to a = b = 1: p = max(1, 2 >> 8) = 1, then 0 bins at p = 1
    [0] * 3000 + [5, 0, -5],    # and to a = b = 2**22 - 1: p = 32767, then 1 bins against it
], ids=["floor", "ceiling"])
def test_probability_extremes(values, enc_backend, dec_backend):
    """§5.3.2.4 with the fastest rates (1, 1): the probability reaches both ends of 1..32767 and the rare bin
    after the run is coded against it; every encoder gives the same bytes, every decoder the same levels."""
    check_stream_roundtrip(CabacCoding(rates=((1, 1),) * 5), np.array(values, dtype=np.int64),
                           enc_backend, dec_backend)


def test_large_stream_two_segments(enc_backend):
    """2**17 levels: two segments coded and decoded on two threads; both encoders agree, Cython decodes."""
    rng = np.random.default_rng(5)
    values = np.round(rng.laplace(0, 3, 1 << 17)).astype(np.int64)
    values[::1009] = rng.integers(-10**9, 10**9, values[::1009].size)
    if enc_backend == "reference":
        values = values[:40000]   # the bit-serial reference is slow; 40k levels still take two segments here
        data = encode_everywhere(values, segments=2)
    else:
        data = kernel("cython").encode(values)
    assert data[8] == 2
    decoder = "cython" if "cython" in nncodec.available_backends() else "reference"
    assert_same_array(values, kernel(decoder).decode(data, values.size, DEFAULT_LIMITS))


def test_rate_search_pays_on_drifting_statistics(dec_backend):
    """rates="search": a stream whose sign bias flips every 2000 levels codes smaller with a faster sign
    estimator; the search finds it, signals it in the header (Rates byte of the sign group), and decodes."""
    if "cython" not in nncodec.available_backends():
        skip("reference-too-slow")
    rng = np.random.default_rng(11)
    parts = [np.abs(np.round(rng.laplace(0, 2, 2000))) * (1 if i % 2 else -1) for i in range(10)]
    values = np.concatenate(parts).astype(np.int64)
    searched = CabacCoding(rates="search").encode(values, backend="cython")
    default = CabacCoding().encode(values, backend="cython")
    assert len(searched) < len(default)
    assert searched[3] != 0x8C                          # the sign group's rates differ from the default (8, 12)
    assert_same_array(values, kernel(dec_backend).decode(searched, values.size, DEFAULT_LIMITS))


def test_rate_search_is_backend_independent(backend):
    """Both backends run the same search (trial encodes with their own, byte-identical coder)."""
    values = np.round(np.random.default_rng(3).laplace(0, 2, 200)).astype(np.int64)
    assert search_rates(values, backend) == search_rates(values, "reference")
    assert CabacCoding(rates="search").encode(values, backend=backend) == CabacCoding().encode(values)


def test_skewed_levels_cost_close_to_their_entropy():
    """i.i.d. levels: adaptive coding of 20000 of them costs at most 3% above their empirical entropy."""
    rng = np.random.default_rng(9)
    values = np.round(rng.laplace(0, 1.5, 20000)).astype(np.int64)
    _, counts = np.unique(values, return_counts=True)
    entropy_bytes = -(counts * np.log2(counts / counts.sum())).sum() / 8
    data = kernel("cython" if "cython" in nncodec.available_backends() else "reference").encode(values)
    assert len(data) < entropy_bytes * 1.03


def test_encoder_rejects_bad_parameters(backend):
    values = np.array([1, -2, 3], dtype=np.int64)
    for params in [dict(gt_flags=33), dict(gt_flags=-1), dict(rates=[(0, 3)] * 5), dict(rates=[(3, 16)] * 5),
                   dict(rates=[(3, 3)] * 4), dict(row_length=-1), dict(segments=0), dict(segments=4),
                   dict(bounded="one-sided"), dict(bounded="two-sided", max_magnitude=2),
                   dict(bounded="sideways")]:
        with pytest.raises(EncodeError):
            kernel(backend).encode(values, **params)
    with pytest.raises(EncodeError):
        kernel(backend).encode(np.array([INT64_MIN], dtype=np.int64), bounded="two-sided")
    with pytest.raises(EncodeError):
        CabacCoding().encode(np.zeros(3, dtype=np.float32), backend=backend)


# ---------------------------------------------------------------------------------------------------------------
# the worked example of spec §5.3.2.10
# ---------------------------------------------------------------------------------------------------------------

def test_worked_example(backend):
    assert kernel(backend).encode(WORKED_LEVELS) == WORKED_STREAM
    assert_same_array(WORKED_LEVELS, kernel(backend).decode(WORKED_STREAM, WORKED_LEVELS.size, DEFAULT_LIMITS))


def test_worked_example_is_in_the_spec():
    text = (ROOT / "spec" / "cabac.md").read_text(encoding="utf-8")
    assert WORKED_STREAM.hex(" ").upper() in text


# ---------------------------------------------------------------------------------------------------------------
# every rejection rule of spec §5.3.2.9, with its exact error class, on both backends
# ---------------------------------------------------------------------------------------------------------------

HEADER = bytes([0, 4]) + b"\x8c" * 5 + b"\x00"          # Mode 0, K = 4, rates (8, 12), Row_Length 0
TWO_SEGMENTS = kernel("reference").encode(np.array([3, -1, 0, 2, 7, -9], dtype=np.int64), segments=2)
MAX_LEVEL = kernel("reference").encode(np.array([INT64_MAX], dtype=np.int64), bounded=False)
BOUNDED = kernel("reference").encode(np.array([0, 3, 2, 1], dtype=np.int64), bounded="one-sided")
# one-sided, K = 0, Max_Magnitude 7 (byte 8): prefix_cap 2 can also express 6 and 7, so Max_Magnitude 5 makes 7 invalid
SEVEN = kernel("reference").encode(np.array([7], dtype=np.int64), bounded="one-sided", gt_flags=0)


def with_byte(data, index, value):
    out = bytearray(data)
    out[index] = value
    return bytes(out)


REJECTIONS = {
    # rule-id: (data, count, error)
    "a-empty": (b"", 1, TruncatedError),
    "a-fixed-header-cut": (WORKED_STREAM[:6], 6, TruncatedError),
    "a-row-length-cut": (WORKED_STREAM[:7], 6, TruncatedError),
    "a-segment-count-cut": (WORKED_STREAM[:8], 6, TruncatedError),
    "a-max-magnitude-cut": (BOUNDED[:8], 4, TruncatedError),
    "a-initial-bytes-cut": (WORKED_STREAM[:12], 6, TruncatedError),
    "a-body-cut": (WORKED_STREAM[:-1], 6, TruncatedError),
    "a-segment-lengths-past-end": (TWO_SEGMENTS[:9] + b"\x7f" + TWO_SEGMENTS[10:], 6, TruncatedError),
    "a-short-segment": (HEADER + b"\x02\x02" + b"\x00" * 8, 6, TruncatedError),
    "a-count-past-body": (WORKED_STREAM, 1000, TruncatedError),
    "b-mode-3": (with_byte(WORKED_STREAM, 0, 3), 6, FormatError),
    "b-reserved-flag": (with_byte(WORKED_STREAM, 0, 0x80), 6, FormatError),
    "c-gt-flags": (with_byte(WORKED_STREAM, 1, 33), 6, FormatError),
    "d-fast-rate-0": (with_byte(WORKED_STREAM, 2, 0x0C), 6, FormatError),
    "d-slow-rate-0": (with_byte(WORKED_STREAM, 6, 0x80), 6, FormatError),
    "e-max-magnitude": (bytes([1, 4]) + b"\x8c" * 5 + b"\x00" + b"\x80" * 9 + b"\x01" + b"\x01" + b"\x00" * 4, 1,
                        FormatError),
    "f-past-int64": (cabac_past_int64(), 1, FormatError),
    "f-past-max-magnitude": (with_byte(SEVEN, 8, 5), 1, FormatError),
    "g-empty-with-bytes": (b"\x00", 0, TrailingDataError),
    "g-trailing-byte": (WORKED_STREAM + b"\x00", 6, TrailingDataError),
    "h-final-code": (WORKED_STREAM[:-1] + b"\x01", 6, FormatError),
    "i-initial-ff": (HEADER + b"\x01" + b"\xff" * 4 + b"\x00" * 3, 6, FormatError),
    "j-zero-segments": (with_byte(WORKED_STREAM, 8, 0), 6, FormatError),
    "j-segments-above-count": (with_byte(WORKED_STREAM, 8, 7), 6, FormatError),
    "j-segments-above-64": (HEADER + b"\x41" + b"\x00" * 300, 100, FormatError),
    "R2-a-noncanonical-varint": (HEADER[:7] + b"\x80\x00\x01" + WORKED_STREAM[9:], 6, FormatError),
    "R2-a-long-varint": (HEADER[:7] + b"\xff" * 10 + b"\x01", 6, FormatError),
    "R6-elements": (WORKED_STREAM, (1 << 34) + 1, LimitExceededError),
    "R6-expansion": (WORKED_STREAM, 10**9, LimitExceededError),
}


@pytest.mark.parametrize("rule", sorted(REJECTIONS))
def test_rejects(rule, backend):
    data, count, error = REJECTIONS[rule]
    assert_rejects(data, count, error, backend, rule=case_rule(rule, "R5.3.2"))
    assert_rejects(memoryview(bytearray(data)), count, error, backend, rule=case_rule(rule, "R5.3.2"))


def test_every_rule_of_the_spec_is_tested():
    text = (ROOT / "spec" / "cabac.md").read_text(encoding="utf-8")
    rules = {line.split("|")[1].strip()[len("R5.3.2-"):] for line in text.splitlines()
             if line.startswith("| R5.3.2-")}
    tested = {name.split("-")[0] for name in REJECTIONS}
    assert rules and rules <= tested, rules - tested


def test_bin_budget(backend):
    """A lowered max_bins_per_element stops a decoder on the level that exceeds it."""
    values = np.array([1000] * 20, dtype=np.int64)
    data = encode_everywhere(values)
    # one-sided, Max_Magnitude 1000: sig + 4 gt flags + 9 prefix bins (capped) + 9 suffix bins = 23 per level
    assert outcome(data, 20, backend, DecodeLimits(max_bins_per_element=23))[0] == "ok"
    assert_rejects(data, 20, LimitExceededError, backend, DecodeLimits(max_bins_per_element=22))


def test_huge_count_tiny_stream_is_bounded(backend):
    """A 5-byte-body stream declaring 2**24 levels is refused or decoded in bounded time, never hangs."""
    limits = DecodeLimits(expansion_slack=1 << 14)
    assert_rejects(WORKED_STREAM, 1 << 24, LimitExceededError, backend, limits)
    if backend == "cython":   # inside the limits: 10**6 zeros from 13 bytes decode fast or fail cleanly
        result = outcome(HEADER + b"\x01" + b"\x00" * 4, 10**6, backend)
        assert result[0] == "error" or result[1] == bytes(8 * 10**6)


def test_prefixes_and_trailing_bytes(backend):
    data = encode_everywhere(np.array([4, -7, 0, 0, 1, 250, -3, 2**40, 1, 0], dtype=np.int64), segments=2)
    for i in range(len(data)):
        assert outcome(data[:i], 10, backend)[0] == "error"
    for tail in (b"\x00", b"\x01", b"\x00" * 9):
        assert_rejects(data + tail, 10, TrailingDataError, backend)


def test_backends_agree_on_corrupted_streams():
    rng = np.random.default_rng(1)
    values = np.round(rng.laplace(0, 4, 60)).astype(np.int64)
    data = bytearray(encode_everywhere(values, segments=2))
    for _ in range(300):
        corrupted = bytearray(data)
        corrupted[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        count = int(rng.choice([60, 59, 61, 200]))
        results = {outcome(bytes(corrupted), count, b) for b in nncodec.available_backends()}
        assert len(results) == 1, (corrupted.hex(), count, results)


# ---------------------------------------------------------------------------------------------------------------
# inside a container
# ---------------------------------------------------------------------------------------------------------------

def cabac_container(tensors, backend=None):
    coding = CabacCoding()
    records = [dense_tensor(name, array.dtype.name, array.shape, coding.encode(array, backend=backend),
                            coding=coding.coding_id, align_log2=coding.align_log2)
               for name, array in tensors.items()]
    return craft(records)


def test_container_roundtrip(enc_backend, dec_backend):
    rng = np.random.default_rng(11)
    tensors = {"conv": np.round(rng.laplace(0, 9, (8, 4, 3, 3))).astype(np.int8),
               "zeros": np.zeros(16, dtype=np.int16),
               "empty": np.zeros((0, 3), dtype=np.int32),
               "ids": rng.integers(0, 2**64 - 1, 30, dtype=np.uint64, endpoint=True),
               "mask": rng.random((5, 7)) < 0.2}
    blob = cabac_container(tensors, enc_backend)
    decoded = nncodec.decode(blob, backend=dec_backend)
    for name, array in tensors.items():
        assert_same_array(array, decoded[name])


def test_container_rejects_out_of_range_values(backend):
    check_out_of_range_stream(kernel("reference").encode, 3, backend)


def test_container_prefixes_and_bitflips(backend):
    blob = cabac_container({"w": np.array([0, 1, 1, 0, 5, -3, 0, 0], dtype=np.int16)})
    check_prefixes(blob, backend)
    check_bitflips(blob, backend, count=100)


# ---------------------------------------------------------------------------------------------------------------
# the fuzz target runs without atheris
# ---------------------------------------------------------------------------------------------------------------

def test_fuzz_target_on_seeds():
    check_stream_fuzz_target("fuzz_cabac_decode", REJECTIONS, step=5)
