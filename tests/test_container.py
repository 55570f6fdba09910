"""Container v1 (spec section 3) through the public API: round trips, determinism, sources, lazy reading,
zero-copy views, info(), metadata, encoder errors, and the integrity promise of spec 3.6 under truncation,
bit flips and differential mutation."""

import io
import mmap
import pathlib
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncodec
from nncodec.errors import ChecksumError, DecodeError, EncodeError

import crafting
import strategies
from checkers import (assert_same_array, check_bitflips, check_identical_bytes, check_prefixes, check_roundtrip,
                      check_same_outcome)

# hypothesis tests that also take the (function-scoped, parametrized) backend fixtures
with_fixtures = settings(suppress_health_check=list(settings.default.suppress_health_check)
                         + [HealthCheck.function_scoped_fixture])

ALL_DTYPES = strategies.DTYPE_NAMES


def sample(name, shape=(2, 3), seed=0):
    """A deterministic tensor of dtype ``name`` covering the type's extremes and special float values."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if name == "bool":
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    if name == "bfloat16":
        return strategies.bfloat16_tensor(rng.integers(0, 1 << 16, n, dtype=np.uint16).reshape(shape))
    dtype = np.dtype(name)
    if dtype.kind == "f" or name.startswith("float8"):  # ml_dtypes' float8_e4m3fn has NumPy kind "V"
        bits = rng.integers(0, 1 << (8 * dtype.itemsize), n, dtype=np.dtype(f"u{dtype.itemsize}"), endpoint=False)
        return bits.view(dtype).reshape(shape)
    info = np.iinfo(dtype)
    values = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    values[:2] = [info.min, info.max][:n]
    return values.reshape(shape)


def small_container():
    """A container of about 200 bytes: metadata, a raw int8 tensor and a zstd float16 tensor."""
    weights = {"w": np.arange(-3, 5, dtype=np.int8), "b": np.linspace(-1, 1, 6).astype(np.float16)}
    return nncodec.encode(weights, compress={"b": "zstd"}, metadata={"k": "v"})


# -- round trips ------------------------------------------------------------------------------------------------

@with_fixtures
@given(case=strategies.encode_cases())
def test_roundtrip_hypothesis(case, enc_backend, dec_backend):
    weights, options = case
    check_roundtrip(weights, enc_backend, dec_backend, **options)


@pytest.mark.parametrize("name", ALL_DTYPES)
@pytest.mark.parametrize("compress", ["none", "zstd"])
def test_roundtrip_every_dtype(name, compress, enc_backend, dec_backend):
    check_roundtrip({name: sample(name)}, enc_backend, dec_backend, compress=compress)


def test_single_array_in_single_array_out(enc_backend, dec_backend):
    array = sample("float32", (4, 5))
    blob = check_roundtrip(array, enc_backend, dec_backend)
    out = nncodec.decode(blob, backend=dec_backend)
    assert isinstance(out, np.ndarray)
    assert_same_array(array, out)


def test_dict_in_dict_out_order_kept(enc_backend, dec_backend):
    names = ["z", "a", "", "m.weight", "ä中"]
    weights = {n: sample("int16", (i + 1,), seed=i) for i, n in enumerate(names)}
    blob = check_roundtrip(weights, enc_backend, dec_backend)
    out = nncodec.decode(blob, backend=dec_backend)
    assert isinstance(out, dict) and list(out) == names
    # a dict with one tensor stays a dict, even when that tensor's name is empty
    single = nncodec.decode(nncodec.encode({"": sample("uint8")}, backend=enc_backend), backend=dec_backend)
    assert isinstance(single, dict) and list(single) == [""]


def test_empty_dict(enc_backend, dec_backend):
    blob = check_roundtrip({}, enc_backend, dec_backend)
    assert nncodec.decode(blob, backend=dec_backend) == {}


@pytest.mark.parametrize("compress", ["none", "zstd", "auto"])
def test_zero_d_and_empty(compress, enc_backend, dec_backend):
    weights = {"scalar": np.float32(-0.0), "zd": np.array(7, dtype=np.uint64), "empty": np.zeros((0,), np.float64),
               "empty2": np.zeros((3, 0, 2), np.int32), "bool0": np.array(True)}
    check_roundtrip(weights, enc_backend, dec_backend, compress=compress, chunk_elements=2)


@pytest.mark.parametrize("compress", ["none", "zstd"])
def test_non_contiguous_and_big_endian(compress, enc_backend, dec_backend):
    base = sample("float64", (6, 8))
    weights = {"strided": base[::2, 1::3], "transposed": base.T, "negative": base[::-1],
               "be_f4": sample("float32", (3, 4)).astype(">f4"), "be_i8": sample("int64", (5,)).astype(">i8"),
               "be_strided": sample("uint16", (4, 6)).astype(">u2")[:, ::2]}
    assert not weights["strided"].flags.c_contiguous and not weights["transposed"].flags.c_contiguous
    blob = check_roundtrip(weights, enc_backend, dec_backend, compress=compress)
    for array in nncodec.decode(blob, backend=dec_backend).values():
        assert array.dtype.isnative and array.flags.c_contiguous


@pytest.mark.parametrize("name,bits", [
    ("float16", [0x7E01, 0xFE5A, 0x7C01, 0x8000, 0x7C00]),
    ("float32", [0x7FC0BEEF, 0xFF800001, 0x7F800001, 0x80000000, 0xFF800000]),
    ("float64", [0x7FF8DEADBEEF0001, 0xFFF0000000000001, 0x8000000000000000, 0x7FF0000000000000, 1]),
    ("bfloat16", [0x7FC1, 0xFFA5, 0x7F81, 0x8000, 0x7F80]),
])
@pytest.mark.parametrize("compress", ["none", "zstd", "float-planes"])
def test_nan_payloads_preserved(name, bits, compress, enc_backend, dec_backend):
    uint = np.dtype(f"u{2 if name in ('float16', 'bfloat16') else np.dtype(name).itemsize}")
    raw = np.array(bits, dtype=uint)
    tensor = strategies.bfloat16_tensor(raw) if name == "bfloat16" else raw.view(name)
    blob = check_roundtrip({"x": tensor}, enc_backend, dec_backend, compress=compress)
    got = nncodec.decode(blob, backend=dec_backend)["x"]
    assert got.view(uint).tolist() == bits


def test_bfloat16_wrapper(enc_backend, dec_backend):
    bits = np.array([[0x3F80, 0x7FC1], [0xFF80, 0x0001]], dtype=np.uint16)
    check_roundtrip({"bf": nncodec.BFloat16(bits)}, enc_backend, dec_backend)
    check_roundtrip({"bf": nncodec.BFloat16(bits.T)}, enc_backend, dec_backend, compress="zstd")


def test_chunked_tensors(enc_backend, dec_backend):
    weights = {"big": sample("float32", (10, 7)), "row": sample("int8", (40,)), "one": sample("uint8", (1, 50))}
    blob = check_roundtrip(weights, enc_backend, dec_backend, chunk_elements=16, compress="auto")
    chains = {row["name"]: row["chain"] for row in nncodec.open(blob).info()}
    assert chains["big"].startswith("concat[") and chains["row"].startswith("concat[")
    assert chains["one"] == "dense<raw>"  # one row cannot be split along axis 0


# -- determinism ------------------------------------------------------------------------------------------------

@given(case=strategies.encode_cases())
def test_identical_bytes_hypothesis(case):
    weights, options = case
    check_identical_bytes(weights, **options)


@pytest.mark.parametrize("compress", ["none", "zstd", "auto"])
def test_identical_bytes_every_dtype(compress):
    weights = {name: sample(name, (3, 5), seed=i) for i, name in enumerate(ALL_DTYPES)}
    blob = check_identical_bytes(weights, compress=compress, metadata={"a": "b"})
    # a fresh, equal dict built in the same order encodes to the same bytes
    again = {name: sample(name, (3, 5), seed=i) for i, name in enumerate(ALL_DTYPES)}
    assert check_identical_bytes(again, compress=compress, metadata={"a": "b"}) == blob


# -- sources: save/load/open ------------------------------------------------------------------------------------

def test_save_load_paths(tmp_path, backend):
    weights = {"a": sample("float32", (3, 4)), "b": sample("int64", (2,))}
    for path in (tmp_path / "w.nnc", str(tmp_path / "w2.nnc")):
        size = nncodec.save(path, weights, compress="auto")
        assert size == pathlib.Path(path).stat().st_size
        out = nncodec.load(path, backend=backend)
        assert list(out) == list(weights)
        for name in weights:
            assert_same_array(weights[name], out[name])
            assert out[name].flags.writeable  # load returns copies, not views of a closed map
    array = sample("uint8", (7,))
    nncodec.save(tmp_path / "single.nnc", array)
    assert_same_array(array, nncodec.load(tmp_path / "single.nnc", backend=backend))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".nncodec-")]  # no temp files left behind


def _open_sources(blob, tmp_path):
    """Every kind of source nncodec.open accepts, each with a closer."""
    path = tmp_path / "src.nnc"
    path.write_bytes(blob)
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    yield "path", path
    yield "str", str(path)
    yield "bytes", bytes(blob)
    yield "bytearray", bytearray(blob)
    yield "memoryview", memoryview(blob)
    yield "mmap", mm
    yield "file", f
    yield "bytesio", io.BytesIO(blob)
    yield "bufferedreader", io.BufferedReader(io.BytesIO(blob))
    f.close()


def test_open_every_source(tmp_path, backend):
    weights = {"a": sample("float32", (3, 4)), "z": sample("bfloat16", (5,)), "e": np.zeros((0, 2), np.int8)}
    blob = nncodec.encode(weights, compress={"z": "zstd"}, metadata={"author": "t"})
    for kind, source in _open_sources(blob, tmp_path):
        with nncodec.open(source, backend=backend) as reader:
            assert reader.keys() == list(weights), kind
            assert len(reader) == 3 and "a" in reader and "missing" not in reader
            assert reader.metadata == {"author": "t"}
            for name in weights:
                assert_same_array(weights[name], reader[name])
            assert reader.get("missing") is None
            with pytest.raises(KeyError):
                reader["missing"]


def test_open_rejects_unknown_source_type():
    with pytest.raises(TypeError):
        nncodec.open(12345)


def test_open_empty_file_is_truncated(tmp_path, backend):
    path = tmp_path / "empty.nnc"
    path.write_bytes(b"")
    with pytest.raises(nncodec.TruncatedError):
        nncodec.open(path, backend=backend)


def test_open_does_not_decode_tensors(backend):
    """Opening reads the directory only: a corrupt tensor affects nobody else until it is read."""
    weights = {"first": sample("float32", (4, 4)), "bad": sample("int32", (8,)), "last": sample("uint8", (3,))}
    blob = bytearray(nncodec.encode(weights, compress={"last": "zstd"}))
    stream = nncodec.open(bytes(blob)).record("bad").node.body.streams[0]
    blob[stream.offset + 5] ^= 0x10
    reader = nncodec.open(bytes(blob), backend=backend)
    assert reader.keys() == list(weights)
    assert_same_array(weights["first"], reader["first"])
    assert_same_array(weights["last"], reader["last"])
    with pytest.raises(ChecksumError):
        reader["bad"]
    with pytest.raises(ChecksumError):
        reader.verify_all()
    with pytest.raises(ChecksumError):
        nncodec.decode(bytes(blob), backend=backend)


def _owner_chain(array):
    """The objects an array's memory comes from, following .base and memoryview .obj."""
    chain, obj = [], array
    while obj is not None and len(chain) < 16:
        chain.append(obj)
        obj = obj.obj if isinstance(obj, memoryview) else getattr(obj, "base", None)
    return chain


def test_raw_tensors_are_aligned_zero_copy_views(tmp_path, backend):
    weights = {"odd": sample("uint8", (3,)), "a": sample("float32", (5, 3)), "b": sample("float64", (7,)),
               "c": sample("int16", (2, 2))}
    path = tmp_path / "views.nnc"
    nncodec.save(path, weights)
    with nncodec.open(path, backend=backend) as reader:
        for name in weights:
            array = reader[name]
            assert_same_array(weights[name], array)
            assert array.ctypes.data % 64 == 0, name
            assert not array.flags.writeable
            assert any(isinstance(o, mmap.mmap) for o in _owner_chain(array)), "the view must come from the map"
        copied = reader.decode_tensor("a", copy=True)
        assert copied.flags.writeable and copied.flags.owndata
    blob = nncodec.encode(weights)
    reader = nncodec.open(blob, backend=backend)
    whole = np.frombuffer(blob, dtype=np.uint8)
    for name in weights:
        assert np.shares_memory(reader[name], whole), name
    user_map = mmap.mmap(-1, len(blob))
    user_map[:] = blob
    as_array = np.frombuffer(user_map, dtype=np.uint8)
    view = nncodec.open(user_map, backend=backend)["b"]
    assert np.shares_memory(view, as_array) and view.ctypes.data % 64 == 0
    del view, as_array


def test_decode_returns_writable_copies(backend):
    blob = nncodec.encode({"a": sample("float32", (3,))})
    out = nncodec.decode(blob, backend=backend)["a"]
    assert out.flags.writeable and out.flags.owndata
    assert not np.shares_memory(out, np.frombuffer(blob, np.uint8))


# -- info() and metadata ----------------------------------------------------------------------------------------

def test_info_rows(backend):
    weights = {"raw": sample("float32", (1, 12)), "z": np.zeros((4, 256), np.float16), "empty": np.zeros((0, 5), np.uint8),
               "chunked": sample("int8", (6, 2)), "s": np.float64(2.0)}
    blob = nncodec.encode(weights, compress={"z": "zstd"}, chunk_elements=4)
    rows = nncodec.open(blob, backend=backend).info()
    assert [r["name"] for r in rows] == list(weights)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name["raw"]) == {"name", "dtype", "shape", "chain", "nbytes", "stored_bytes", "ratio",
                                   "bits_per_weight"}
    assert by_name["raw"] == {"name": "raw", "dtype": "float32", "shape": (1, 12), "chain": "dense<raw>",
                              "nbytes": 48, "stored_bytes": 48, "ratio": 1.0, "bits_per_weight": 32.0}
    z = by_name["z"]
    assert z["dtype"] == "float16" and z["nbytes"] == 2048 and z["stored_bytes"] < 100
    assert z["chain"] == "concat[4](dense<zstd>)"
    assert z["ratio"] == 2048 / z["stored_bytes"] and z["bits_per_weight"] == 8 * z["stored_bytes"] / 1024
    assert by_name["empty"]["nbytes"] == 0 and by_name["empty"]["stored_bytes"] == 0
    assert by_name["empty"]["bits_per_weight"] == 0.0
    assert by_name["chunked"]["chain"] == "concat[3](dense<raw>)" and by_name["chunked"]["stored_bytes"] == 12
    assert by_name["s"]["shape"] == () and by_name["s"]["nbytes"] == 8


@given(meta=strategies.metadata(), weights=strategies.tensor_dicts(max_size=2))
def test_metadata_roundtrip(meta, weights):
    blob = nncodec.encode(weights, metadata=meta)
    for b in nncodec.available_backends():
        reader = nncodec.open(blob, backend=b)
        assert reader.metadata == meta
        assert list(reader.metadata) == list(meta)  # stored in insertion order


def test_single_array_marks_metadata():
    reader = nncodec.open(nncodec.encode(np.zeros(3), metadata={"x": "y"}))
    assert reader.metadata == {"x": "y", "nncodec.single_array": "true"}


# -- encoder errors ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weights", [
    {1: np.zeros(3)}, {None: np.zeros(3)}, {b"bytes": np.zeros(3)},
    {"c": np.zeros(3, dtype=np.complex64)}, {"o": np.array([object(), 1], dtype=object)},
    {"s": np.array(["text"])}, {"v": np.zeros(2, dtype="V4")}, {"rec": np.zeros(2, dtype=[("a", "<i4")])},
    {"n": None}, np.zeros(3, dtype=np.complex128), {"dt": np.array(["2020-01-01"], dtype="datetime64[D]")},
], ids=["int-name", "none-name", "bytes-name", "complex", "object", "str", "void", "structured", "none-value",
        "single-complex", "datetime"])
def test_encode_rejects_bad_weights(weights, backend):
    with pytest.raises(EncodeError):
        nncodec.encode(weights, backend=backend)


@pytest.mark.parametrize("compress", ["gzip", "ZSTD", 3, {"a": "lz4"}, {"a": None}])
def test_encode_rejects_bad_compress(compress):
    with pytest.raises(EncodeError, match="compress"):
        nncodec.encode({"a": np.zeros(3)}, compress=compress)


@pytest.mark.parametrize("meta", [{1: "a"}, {"a": 1}, {"a": None}, {b"a": "b"}, {"a": b"b"}])
def test_encode_rejects_bad_metadata(meta):
    with pytest.raises(EncodeError, match="metadata"):
        nncodec.encode({"a": np.zeros(3)}, metadata=meta)


def test_bfloat16_wrapper_needs_uint16():
    with pytest.raises(TypeError):
        nncodec.BFloat16(np.zeros(3, dtype=np.int16))


# -- integrity (spec 3.6) ---------------------------------------------------------------------------------------

def small_blobs():
    yield "empty", nncodec.encode({})
    yield "small", small_container()
    yield "single", nncodec.encode(np.arange(3, dtype=np.uint16))
    yield "chunked", nncodec.encode({"c": sample("float32", (4, 2)), "e": np.zeros((0,), np.int8)},
                                    chunk_elements=3, compress="auto", metadata={"m": ""})


@pytest.mark.parametrize("kind", ["empty", "small", "single", "chunked"])
def test_prefixes_rejected(kind, backend):
    blob = dict(small_blobs())[kind]
    check_prefixes(blob, backend)
    with pytest.raises(nncodec.TrailingDataError):
        nncodec.decode(blob + b"\0", backend=backend)


@pytest.mark.parametrize("kind", ["empty", "small", "single", "chunked"])
def test_random_bitflips_detected(kind, backend):
    check_bitflips(dict(small_blobs())[kind], backend, count=200, seed=len(kind))


def test_every_single_bit_flip_detected(backend):
    blob = small_container()
    assert 150 <= len(blob) <= 260, len(blob)
    undetected = []
    for i in range(len(blob)):
        for bit in range(8):
            data = bytearray(blob)
            data[i] ^= 1 << bit
            try:
                nncodec.decode(bytes(data), backend=backend)
            except DecodeError:
                continue
            undetected.append((i, bit))
    assert undetected == []


# -- differential mutation --------------------------------------------------------------------------------------

def _mutate(blob, rng):
    """One random mutation of ``blob``: a byte edit, insertion, deletion, or a header length edit."""
    data = bytearray(blob)
    kind = rng.choice(("flip", "set", "insert", "delete", "dirlen", "paylen", "truncate"))
    if kind == "flip":
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "set":
        data[rng.randrange(len(data))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    elif kind == "insert":
        at = rng.randrange(len(data) + 1)
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    elif kind == "delete":
        at = rng.randrange(len(data))
        del data[at:at + rng.randint(1, 4)]
    elif kind == "truncate":
        del data[rng.randrange(len(data)):]
    else:
        field = "directory_length" if kind == "dirlen" else "payload_length"
        value = crafting.header(blob)[field]
        new = rng.choice((0, 1, 2, value - 1, value + 1, value + 64, 2 ** 31, 2 ** 32 - 1, 2 ** 63, 2 ** 64 - 1))
        return crafting.with_header(bytes(data), **{field: new})
    return bytes(data)


def _region_mutate(blob, rng, region):
    """Mutate bytes inside the directory or the payload, then re-seal every CRC so deeper checks run."""
    dir_len = crafting.header(blob)["directory_length"]
    lo, hi = (32, 32 + dir_len) if region == "directory" else (32 + dir_len, len(blob))
    if hi <= lo:
        return blob
    data = bytearray(blob)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(lo, hi)
        data[i] = rng.choice((data[i] ^ (1 << rng.randrange(8)), rng.randrange(256), 0, 0xFF))
    return crafting.reseal(bytes(data))


@given(case=strategies.encode_cases(max_size=3), seed=st.integers(0, 2 ** 32 - 1))
def test_mutations_same_outcome(case, seed):
    weights, options = case
    blob = nncodec.encode(weights, **options)
    rng = random.Random(seed)
    for _ in range(8):
        check_same_outcome(_mutate(blob, rng))
        check_same_outcome(_region_mutate(blob, rng, "directory"))
        check_same_outcome(_region_mutate(blob, rng, "payload"))


def test_resealed_mutations_reach_deep_checks():
    """Sanity check of the mutation helpers: re-sealed directory edits fail beyond the checksums."""
    blob = small_container()
    assert crafting.reseal(blob) == blob
    rng = random.Random(1)
    outcomes = set()
    for _ in range(300):
        status, detail = check_same_outcome(_region_mutate(blob, rng, "directory"))
        outcomes.add(detail[0] if status == "error" else "ok")
    assert outcomes - {"ChecksumError"}, outcomes
    assert len(outcomes) >= 3, outcomes
