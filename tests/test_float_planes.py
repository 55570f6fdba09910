"""float-planes stream coding (spec 5.5) and the float8 dtypes (3.7): twins, every bit pattern, chunking and
threads, every rejection rule with its boundary, corrupted streams, the encoder's choices."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nncodec
from nncodec import kernels
from nncodec.errors import DecodeError, EncodeError, FormatError, InconsistentError, TrailingDataError, TruncatedError
from nncodec.format.dtypes import DTYPE_CODES, code_of
from nncodec.format.limits import DEFAULT_LIMITS
from nncodec.format.records import Stream
from nncodec.kernels.reference import float_planes as reference
from nncodec.stages import float_planes as stage
from nncodec.stages.float_planes import FloatPlanesCoding

import strategies
from checkers import (assert_same_array, check_bitflips, check_prefixes, check_rejects, check_roundtrip,
                      check_same_outcome, check_stream_roundtrip, error_of)
from crafting import craft, dense_tensor

FLOATS = ("float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2")
DTYPES = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16),
          "float32": np.dtype(np.float32), "float64": np.dtype(np.float64),
          "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn), "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2)}


def weights(dtype, count, seed=0, scale=0.05):
    """Gaussian weights of ``count`` elements in ``dtype``."""
    return (np.random.default_rng(seed).standard_normal(count) * scale).astype(DTYPES[dtype])


def every_pattern(dtype):
    """Every bit pattern of a 1- or 2-byte float dtype (NaN payloads, infinities, signed zeros, subnormals)."""
    bits = np.arange(1 << (8 * DTYPES[dtype].itemsize), dtype=np.uint64)
    return bits.astype(f"<u{DTYPES[dtype].itemsize}").view(DTYPES[dtype])


def decode_stream(data, dtype, count, backend, limits=DEFAULT_LIMITS):
    stream = Stream(5, DTYPE_CODES[dtype], 0, count, len(data), 0)
    return FloatPlanesCoding().decode(memoryview(data), stream, limits, backend)


def outcome(data, dtype, count, backend):
    """("ok", bytes) or ("error", (class, rule)): what two backends must agree on."""
    try:
        return "ok", decode_stream(data, dtype, count, backend).tobytes()
    except DecodeError as exc:
        return "error", error_of(exc)


# -- round trips and twins -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 4095, 4096, 4097, 70000])
def test_stream_roundtrip(dtype, count, enc_backend, dec_backend):
    check_stream_roundtrip(FloatPlanesCoding(chunk_log2=12), weights(dtype, count), enc_backend, dec_backend)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_every_bit_pattern(dtype, enc_backend, dec_backend):
    """All 256 float8 and all 65,536 float16 / bfloat16 patterns, in order and shuffled (other planes' choices)."""
    values = every_pattern(dtype)
    shuffled = values[np.random.default_rng(1).permutation(values.size)]
    check_roundtrip({"ordered": values, "shuffled": shuffled.reshape(-1, 16)}, enc_backend, dec_backend,
                    compress="float-planes")


@given(st.sampled_from(FLOATS).flatmap(lambda name: strategies.arrays(dtype=name)))
def test_hypothesis_roundtrip(array):
    """Any float tensor (NaN payloads, infinities, subnormals, non-contiguous, big-endian) on both backends."""
    for enc in nncodec.available_backends():
        for dec in nncodec.available_backends():
            check_roundtrip(array, enc, dec, compress="float-planes")


@given(st.sampled_from(FLOATS), st.integers(0, 9000), st.integers(0, 2**32 - 1), st.sampled_from((0.0, 1e-3, 1.0)))
def test_twins_identical(dtype, count, seed, scale):
    """Both encoders write the same bytes for random bits and for weights of any spread, on 12-bit chunks."""
    rng = np.random.default_rng(seed)
    width = DTYPES[dtype].itemsize
    if scale:
        values = (rng.standard_normal(count) * scale).astype(DTYPES[dtype])
    else:
        values = rng.integers(0, 256, count * width, dtype=np.uint8).view(DTYPES[dtype])
    check_stream_roundtrip(FloatPlanesCoding(chunk_log2=12), values, "reference", nncodec.available_backends()[0])


def code_counts(draw_counts):
    counts = np.zeros(256, np.int64)
    counts[:len(draw_counts)] = draw_counts
    return counts


@given(st.lists(st.integers(0, 2**30), min_size=2, max_size=256).filter(lambda c: sum(x > 0 for x in c) >= 2))
def test_code_lengths_twins(counts):
    """The length construction (spec 5.5 encoder choices) is the same in both backends and gives a complete code
    of lengths <= 12."""
    counts = code_counts(counts)
    lengths = reference.code_lengths(counts)
    for backend in nncodec.available_backends():
        assert list(kernels.module("float_planes", backend).code_lengths(counts)) == lengths.tolist()
    used = lengths[counts > 0]
    assert used.max() <= 12 and (lengths[counts == 0] == 0).all()
    assert int((1 << (12 - used)).sum()) == 4096


def test_code_lengths_clamped():
    """Fibonacci counts make Huffman lengths up to 39: clamped to 12, the code stays complete."""
    fib = [1, 1]
    while len(fib) < 40:
        fib.append(fib[-1] + fib[-2])
    lengths = reference.code_lengths(code_counts(fib))
    assert lengths.max() == 12 and int((1 << (12 - lengths[:40])).sum()) == 4096


# -- chunks and threads --------------------------------------------------------------------------------------------

def test_chunks_decode_on_threads(backend, monkeypatch):
    """A stream of many chunks decodes on several threads (the GIL released) to the same array; an error names
    the lowest failing chunk whatever thread found it."""
    monkeypatch.setattr(stage, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(stage.parallel.os, "cpu_count", lambda: 3)
    values = weights("bfloat16", 40000)
    data = bytearray(FloatPlanesCoding(chunk_log2=12).encode(values))
    assert len(stage._groups(10, 1 << 30)) == 3
    assert decode_stream(bytes(data), "bfloat16", values.size, backend).tobytes() == values.tobytes()
    _, _, offsets, _ = stage.parse_stream(bytes(data), values.size)
    start = 2 + 4 * 10
    for chunk in (8, 2):  # Plane_Mode 7 in chunks 8 and 2: the error is chunk 2's
        data[start + offsets[chunk]] = 7
    with pytest.raises(FormatError, match=r"^\[R5.5-g\] float-planes chunk 2:"):
        decode_stream(bytes(data), "bfloat16", values.size, backend)


def test_serial_call_uses_one_thread(monkeypatch):
    """Inside a jobs=1 call, or a worker of a parallel one, a stream is one group of chunks: the coding starts no
    threads of its own (nncodec.kernels.parallel); outside, one group per core."""
    monkeypatch.setattr(stage.parallel.os, "cpu_count", lambda: 2)
    assert stage.parallel.map_ordered(lambda _: stage._groups(10, 1 << 30), [0], jobs=1) == [[(0, 10)]]
    assert stage._groups(10, 1 << 30) == [(0, 5), (5, 10)]
    assert stage._groups(10, stage.PARALLEL_MIN_BYTES - 1) == [(0, 10)]
    assert stage._groups(1, 1 << 30) == [(0, 1)]
    assert stage._groups(0, 0) == [(0, 0)]


def test_encoder_chunk_log2_bounds():
    for bad in (11, 21):
        with pytest.raises(EncodeError, match="chunk_log2"):
            FloatPlanesCoding(chunk_log2=bad)
    values = weights("float32", 5000)
    for good in (12, 20):
        data = FloatPlanesCoding(chunk_log2=good).encode(values)
        assert data[1] == good and decode_stream(data, "float32", 5000, "reference").tobytes() == values.tobytes()


def test_encoder_refuses_integers():
    with pytest.raises(EncodeError, match="float streams"):
        FloatPlanesCoding().encode(np.arange(4, dtype=np.int16))
    with pytest.raises(EncodeError):
        nncodec.encode({"w": np.arange(6, dtype=np.int16)}, compress="float-planes", entropy="float-planes")


# -- rejections: every rule, at its boundary -----------------------------------------------------------------------

WORKED = bytes.fromhex("00 0C 19 00 00 00 02 38 3A 12 20 01 00 00 00 01 00 00 00 01 00 00 00 01 00 00 00 40 60 C0 00")
WORKED_VALUES = bytes.fromhex("38 39 38 3A 3A 38 38 38")


def hand(chunk, flags=0, log2=12, delta=0):
    return bytes((flags, log2)) + (len(chunk) + delta).to_bytes(4, "little") + chunk


def body(first=0x38, last=0x3A, lengths=b"\x12\x20", sizes=(1, 1, 1, 1), subs=b"\x40\x60\xC0\x00"):
    return bytes((2, first, last)) + lengths + b"".join(s.to_bytes(4, "little") for s in sizes) + subs


REJECTIONS = {  # key: (stream, dtype, error, rule) for 8 elements
    "b-flags-2": (hand(body(), flags=2), FormatError, "R5.5-b"),
    "b-flags-80": (hand(body(), flags=0x81), FormatError, "R5.5-b"),
    "c-log2-11": (hand(body(), log2=11), FormatError, "R5.5-c"),
    "c-log2-21": (hand(body(), log2=21), FormatError, "R5.5-c"),
    "d-empty": (b"", TruncatedError, "R5.5-d"),
    "d-header-only": (b"\x00\x0c", TruncatedError, "R5.5-d"),
    "d-table-cut": (WORKED[:5], TruncatedError, "R5.5-d"),
    "e-over": (hand(body(), delta=1), TruncatedError, "R5.5-e"),
    "f-under": (hand(body(), delta=-1), TrailingDataError, "R5.5-f"),
    "g-mode-3": (hand(b"\x03" + body()[1:]), FormatError, "R5.5-g"),
    "g-mode-255": (hand(b"\xff"), FormatError, "R5.5-g"),
    "h-empty-chunk": (hand(b""), TruncatedError, "R5.5-h"),
    "h-raw-cut": (hand(b"\x00" + WORKED_VALUES[:7]), TruncatedError, "R5.5-h"),
    "h-constant-cut": (hand(b"\x01"), TruncatedError, "R5.5-h"),
    "h-symbols-cut": (hand(b"\x02\x38"), TruncatedError, "R5.5-h"),
    "h-lengths-cut": (hand(b"\x02\x38\x3a\x12"), TruncatedError, "R5.5-h"),
    "h-sizes-cut": (hand(body()[:20]), TruncatedError, "R5.5-h"),
    "i-trailing": (hand(body() + b"\x00"), TrailingDataError, "R5.5-i"),
    "j-reversed": (hand(body(0x39, 0x38, b"\x12")), FormatError, "R5.5-j"),
    "k-length-13": (hand(body(lengths=b"\x1d\x20")), FormatError, "R5.5-k"),
    "k-length-15": (hand(body(lengths=b"\x12\xf0")), FormatError, "R5.5-k"),
    "l-nibble": (hand(body(lengths=b"\x12\x21")), FormatError, "R5.5-l"),
    "m-over": (hand(body(lengths=b"\x11\x20")), FormatError, "R5.5-m"),
    "m-over-by-one": (hand(body(0, 13, bytes((0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xCC)))), FormatError, "R5.5-m"),
    "n-incomplete": (hand(body(lengths=b"\x12\x00")), FormatError, "R5.5-n"),
    "n-short-by-one": (hand(body(0, 11, bytes((0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC)))), FormatError, "R5.5-n"),
    "n-one-codeword": (hand(body(0x38, 0x38, b"\x10")), FormatError, "R5.5-n"),
    "o-sizes": (hand(body(sizes=(2, 1, 1, 1))), TruncatedError, "R5.5-o"),
    "p-overrun": (hand(body(sizes=(0, 2, 1, 1))), TruncatedError, "R5.5-p"),
    "p-last": (hand(body(sizes=(1, 1, 1, 0), subs=b"\x40\x60\xc0")), TruncatedError, "R5.5-p"),
    "q-unused": (hand(body(sizes=(1, 1, 1, 2), subs=b"\x40\x60\xc0\x00\x00")), TrailingDataError, "R5.5-q"),
    "r-padding": (hand(body(subs=b"\x40\x60\xc0\x01")), FormatError, "R5.5-r"),
    "r-padding-top": (hand(body(subs=b"\x50\x60\xc0\x00")), FormatError, "R5.5-r"),
}


def test_worked_stream(backend):
    assert hand(body()) == WORKED
    assert decode_stream(WORKED, "float8_e4m3fn", 8, backend).tobytes() == WORKED_VALUES
    # the boundaries the rejections step over: Flags 1 (Rotate), Chunk_Log2 12 and 20 decode
    rotated = decode_stream(hand(body(), flags=1), "float8_e4m3fn", 8, backend).view(np.uint8)
    assert rotated.tobytes() == bytes(((b >> 1) | (b << 7)) & 255 for b in WORKED_VALUES)
    assert decode_stream(hand(body(), log2=20), "float8_e4m3fn", 8, backend).tobytes() == WORKED_VALUES


@pytest.mark.parametrize("key", REJECTIONS)
def test_rejections(key, backend):
    data, error, rule = REJECTIONS[key]
    with pytest.raises(error, match=rf"^\[{rule}\]"):
        decode_stream(data, "float8_e4m3fn", 8, backend)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint64"])
def test_non_float_elem_type(dtype, backend):
    blob = craft([dense_tensor("t", dtype, (8,), WORKED, coding=5, align_log2=0)])
    check_rejects(blob, InconsistentError, backend, rule="R5.5-a")


def test_expansion_is_refused_before_decoding(backend):
    """2^25 float8 elements from 194 bytes of constant chunks: over max_expansion (spec 6), refused from the
    directory; within a limit that allows it, the same stream decodes."""
    stream = bytes((0, 20)) + (2).to_bytes(4, "little") * 32 + b"\x01\x00" * 32
    blob = craft([dense_tensor("z", "float8_e5m2", (1 << 25,), stream, coding=5, align_log2=0)])
    check_rejects(blob, nncodec.LimitExceededError, backend, rule="R6")
    out = nncodec.decode(blob, backend=backend, limits=nncodec.DecodeLimits(expansion_slack=1 << 25))["z"]
    assert out.dtype == DTYPES["float8_e5m2"] and out.size == 1 << 25 and not out.view(np.uint8).any()


@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn"])
def test_corrupted_streams_agree(dtype):
    """Every truncation and 300 random byte changes of a 2-chunk stream: both backends give the same array or the
    same error class and rule (the differential check of spec 8.1)."""
    values = weights(dtype, 5000, scale=0.3)
    data = FloatPlanesCoding(chunk_log2=12).encode(values)
    rng = np.random.default_rng(7)
    cases = [data[:i] for i in range(0, len(data), 97)]
    for _ in range(300):
        bad = bytearray(data)
        at = int(rng.integers(0, min(len(bad), 400))) if rng.random() < 0.7 else int(rng.integers(0, len(bad)))
        bad[at] = int(rng.integers(0, 256))
        cases.append(bytes(bad))
    for case in cases:
        results = {outcome(case, dtype, values.size, b) for b in nncodec.available_backends()}
        assert len(results) == 1, results


def test_container_bitflips_and_prefixes(backend):
    blob = nncodec.encode({"w": weights("float16", 300).reshape(10, 30)}, compress="float-planes")
    check_bitflips(blob, backend, count=60)
    check_prefixes(blob[:80], backend)
    check_same_outcome(blob)


# -- the encoder's choices -----------------------------------------------------------------------------------------

def stored_coding(blob, name):
    with nncodec.open(blob) as reader:
        record = next(r for r in reader.directory.tensors if r.name == name)
    return {s.coding for s in record.node.body.streams}


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_auto_picks_float_planes_on_weights(dtype):
    values = weights(dtype, 50000).reshape(250, 200)
    blob = nncodec.encode({"w": values}, compress="auto")
    assert stored_coding(blob, "w") == {5}
    assert len(blob) < 0.9 * values.nbytes
    assert_same_array(values, nncodec.decode(blob)["w"])


def test_auto_keeps_zstd_for_repeats():
    """A tensor of a repeated short pattern of eighths: float-planes saves over half (constant low planes), so
    zstd is tried too, and wins; float-planes alone stays within its entropy."""
    values = np.tile(np.arange(37, dtype=np.float32) / 8, 1000)
    blob = nncodec.encode({"w": values}, compress="auto")
    assert stored_coding(blob, "w") == {1}


def test_bfloat16_bits_and_float8_through_the_encoder():
    bits = every_pattern("bfloat16").view(np.uint16)
    blob = nncodec.encode({"b": nncodec.BFloat16(bits), "e": every_pattern("float8_e5m2")}, compress="float-planes")
    out = nncodec.decode(blob)
    assert out["b"].dtype == DTYPES["bfloat16"] and out["b"].view(np.uint16).tobytes() == bits.tobytes()
    assert out["e"].dtype == DTYPES["float8_e5m2"] and out["e"].tobytes() == every_pattern("float8_e5m2").tobytes()
    assert code_of(out["e"].dtype) == 15


def test_float8_safetensors_names(tmp_path):
    from nncodec.io.safetensors import read_safetensors, write_safetensors
    arrays = {"a": every_pattern("float8_e4m3fn"), "b": every_pattern("float8_e5m2").reshape(16, 16)}
    write_safetensors(tmp_path / "f8.safetensors", arrays)
    header = (tmp_path / "f8.safetensors").read_bytes()[8:200]
    assert b'"F8_E4M3"' in header and b'"F8_E5M2"' in header
    back, _ = read_safetensors(tmp_path / "f8.safetensors")
    for name, array in arrays.items():
        assert_same_array(array, back[name])
