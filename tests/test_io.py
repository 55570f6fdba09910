"""Framework I/O: .npz, .safetensors (our reader/writer against the package), PyTorch, ONNX (when installed)."""

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nncodec
from nncodec.format.dtypes import BFLOAT16, numpy_dtype
from nncodec.errors import (DecodeError, EncodeError, FormatError, InconsistentError, LimitExceededError, NNCodecError,
                            TruncatedError)
from nncodec.io import read_weights, write_weights
from nncodec.io.safetensors import (MAX_HEADER_BYTES, SAFETENSORS_DTYPES, parse_safetensors, read_safetensors,
                                    write_safetensors)
from tests.checkers import assert_same_array
from skips import optional

DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16", "float32",
          "float64"]


def _sample(rng, dtype, shape):
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        return np.asarray(rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True))
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


@st.composite
def weight_sets(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    names = draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True))
    shapes = st.lists(st.integers(0, 5), max_size=3).map(tuple)
    return {name: _sample(rng, draw(st.sampled_from(DTYPES)), draw(shapes)) for name in names}


@given(weight_sets())
def test_safetensors_ours_and_package_agree(tmp_path_factory, weights):
    safetensors = optional("safetensors.numpy", "safetensors")
    path = tmp_path_factory.mktemp("st") / "w.safetensors"
    write_safetensors(path, weights, {"k": "v"})
    ours, metadata = read_safetensors(path)
    theirs = safetensors.load_file(str(path))
    assert list(ours) == list(weights) and metadata == {"k": "v"}
    for name, array in weights.items():
        assert_same_array(array, ours[name])
        assert_same_array(array, theirs[name])
    safetensors.save_file(weights, str(path))
    again, _ = read_safetensors(path, copy=False)
    for name, array in weights.items():
        assert_same_array(array, again[name])


def test_safetensors_bfloat16_roundtrip(tmp_path):
    bf16 = numpy_dtype(BFLOAT16)
    weights = {"w": np.arange(12, dtype=np.float32).reshape(3, 4).astype(bf16)}
    path = tmp_path / "w.safetensors"
    write_safetensors(path, weights)
    assert read_safetensors(path)[0]["w"].tobytes() == weights["w"].tobytes()
    assert read_safetensors(path)[0]["w"].dtype == bf16


def _file(header, data=b""):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


@pytest.mark.parametrize("blob", [
    b"\x01\x00",                                                                 # shorter than the length field
    (10**9).to_bytes(8, "little"),                                               # header over the cap
    (50).to_bytes(8, "little") + b"{}",                                          # header truncated
    (2).to_bytes(8, "little") + b"\xff\xfe",                                     # not UTF-8
    _file([1, 2]),                                                               # not an object
    _file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),   # size mismatch
    _file({"a": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),    # unknown dtype
    _file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),   # a hole
    _file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
           "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),   # overlap
    _file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 9),   # trailing bytes
    _file({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4),  # negative extent
    _file({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4),                           # missing field
    _file({"__metadata__": {"a": 1}}),                                                 # non-str metadata
    _file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]}}, b"\0" * 4),  # float offset
    _file({"a": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),  # unhashable dtype
    (100000).to_bytes(8, "little") + b"[" * 100000,                                    # nested too deeply
])
def test_safetensors_hostile_headers_raise_decode_errors(blob):
    with pytest.raises(DecodeError):
        parse_safetensors(memoryview(blob))


ITEMSIZES = {"F32": 4, "U8": 1, "BF16": 2}  # the dtypes the header strategy names
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=12)
EXTENTS = st.sampled_from([0, 1, 2, 3, -1, 2**31 - 1, 2**31, 2**32, 2**34, 2**62, 2**63 - 1, 2**63, 2**64 - 1,
                           2**64, 2**70])


@st.composite
def safetensors_files(draw):
    """(header, data): a well-formed file whose tensors tile the data in another order than the header's, at times
    with one field of one tensor replaced by any value or the data one byte off; else a hostile header."""
    if draw(st.booleans()):
        header = draw(st.dictionaries(st.sampled_from(["a", "b", "__metadata__"]), st.fixed_dictionaries({}, optional={
            "dtype": st.sampled_from(["F32", "U8", "BF16", "Q"]) | JSON,
            "shape": st.lists(st.integers(-1, 4), max_size=3) | JSON,
            "data_offsets": st.lists(st.integers(-1, 20), max_size=3) | JSON}) | JSON))
        return header, draw(st.binary(max_size=24))
    names = draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3))
    tensors, offset = {}, 0
    for name in draw(st.permutations(names)):
        dtype, shape = draw(st.sampled_from(sorted(ITEMSIZES))), draw(st.lists(st.integers(0, 3), max_size=3))
        size = ITEMSIZES[dtype] * int(np.prod(shape, dtype=np.int64))
        tensors[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    header = {name: tensors[name] for name in names}
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))
    if names and draw(st.booleans()):
        field = header[draw(st.sampled_from(names))]
        field[draw(st.sampled_from(sorted(field)))] = draw(st.sampled_from(sorted(ITEMSIZES)) | JSON
                                                           | st.lists(st.integers(-1, 24), max_size=3))
    return header, bytes(max(0, offset + draw(st.sampled_from([0, 0, 0, 1, -1]))))


@given(safetensors_files())
@settings(max_examples=300)
def test_safetensors_parser_rejects_or_parses_exactly(file):
    """Any header either raises a DecodeError or is parsed to exactly what it declares: every tensor with its
    dtype, shape and offsets, each span the size its shape needs, the spans tiling the data bytes."""
    header, data = file
    try:
        metadata, entries, start = parse_safetensors(memoryview(_file(header, data)))
    except DecodeError:
        return
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert metadata == (header.get("__metadata__") or {})
    assert [name for name, *_ in entries] == list(tensors)
    for name, dtype, shape, begin, end in entries:
        declared = tensors[name]
        assert list(shape) == declared["shape"] and [begin, end] == declared["data_offsets"]
        assert declared["dtype"] in ITEMSIZES and dtype.itemsize == ITEMSIZES[declared["dtype"]]
        assert end - begin == dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    position = 0
    for begin, end in sorted((begin, end) for *_, begin, end in entries):
        assert begin == position
        position = end
    assert position == len(data) and start == len(_file(header, data)) - len(data)


def _honest_or(honest, hostile):
    """The honest value about half the time, so that a file often passes one check and reaches the next."""
    return st.just(honest) | hostile


@st.composite
def hostile_safetensors(draw):
    """(file bytes, header) of a safetensors file whose fields are drawn from hostile values: shapes with extreme,
    negative or non-int extents and up to 65 dimensions, offsets that tile the data or are shifted or random,
    wrong header lengths, and data bytes as declared or not (capped at 64)."""
    header, position = {}, 0
    for name in draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3)):
        kind = draw(st.sampled_from(list(SAFETENSORS_DTYPES)) | st.just("Q8") | JSON)
        ndim = draw(st.sampled_from([0, 1, 2, 3, 32, 33, 65]))
        shape = draw(st.lists(EXTENTS, min_size=ndim, max_size=ndim) | JSON)
        size = np.dtype(SAFETENSORS_DTYPES.get(kind) or "u2").itemsize if isinstance(kind, str) else 1
        for d in shape if isinstance(shape, list) else ():
            size *= d if type(d) is int else 1
        offsets = draw(_honest_or([position, position + size],
                                  st.sampled_from([[position + 1, position + 1 + size], [position + size, position]])
                                  | st.lists(EXTENTS, min_size=2, max_size=2) | JSON))
        position += max(size, 0)
        header[name] = {"dtype": kind, "shape": shape, "data_offsets": offsets}
    text = json.dumps(header).encode()
    length = draw(_honest_or(len(text), st.sampled_from([len(text) + 1, len(text) - 1, 2**63, 2**64 - 1])))
    data = bytes(draw(_honest_or(min(position, 64), st.integers(0, 64))))
    return length.to_bytes(8, "little") + text + data, header


@given(hostile_safetensors())
@settings(max_examples=400)
def test_safetensors_reader_refuses_hostile_headers(tmp_path_factory, case):
    """read_safetensors raises a DecodeError or returns exactly the declared arrays, tiling the data bytes."""
    blob, header = case
    path = tmp_path_factory.mktemp("hostile") / "h.safetensors"
    path.write_bytes(blob)
    try:
        arrays, _ = read_safetensors(path)
    except DecodeError:
        return
    assert list(arrays) == list(header)
    for name, array in arrays.items():
        kind = header[name]["dtype"]
        assert array.shape == tuple(header[name]["shape"])
        assert array.dtype == (numpy_dtype(BFLOAT16) if kind == "BF16" else np.dtype(SAFETENSORS_DTYPES[kind]))
    assert sum(array.nbytes for array in arrays.values()) == len(blob) - 8 - int.from_bytes(blob[:8], "little")


def _entry(kind, shape, offsets):
    return {"dtype": kind, "shape": shape, "data_offsets": offsets}


@pytest.mark.parametrize("header, data, error", [
    ({"a": _entry("U8", [0, 2**63 - 1], [0, 0])}, b"", None),                      # N: the most NumPy holds
    ({"a": _entry("U8", [0, 2**63], [0, 0])}, b"", LimitExceededError),             # N + 1
    ({"a": _entry("F32", [0, 2**61 - 1], [0, 0])}, b"", None),                     # N for 4-byte elements
    ({"a": _entry("F32", [0, 2**61], [0, 0])}, b"", LimitExceededError),
    ({"a": _entry("U8", [2**40, 0, 2**40], [0, 0])}, b"", LimitExceededError),     # the zero in the middle
    ({"a": _entry("U8", [1] * 32, [0, 1])}, b"x", None),                           # 32 dimensions
    ({"a": _entry("U8", [1] * 33, [0, 1])}, b"x", LimitExceededError),             # 33
    ({"a": _entry("U8", [0] * 65, [0, 0])}, b"", LimitExceededError),
    ({"a": _entry("U8", [2**31, 2**31], [0, 2**62])}, b"x", InconsistentError),    # bytes the file lacks
    ({"a": _entry("U8", [2**40, 2**40], [0, 2**80])}, b"x", LimitExceededError),   # product overflow
    ({"a": _entry("U8", [-2, -3], [0, 6])}, bytes(6), FormatError),                # negative extents
    ({"a": _entry("U8", [True], [0, 1])}, b"x", FormatError),                      # not ints
    ({"a": _entry("U8", [1.0], [0, 1])}, b"x", FormatError),
    ({"a": _entry("U8", ["1"], [0, 1])}, b"x", FormatError),
    ({"a": _entry("U8", [2], [0, 3])}, bytes(3), InconsistentError),               # offsets disagree with shape
    ({"a": _entry("U8", [2], [0, 2]), "b": _entry("U8", [2], [1, 3])}, bytes(3), InconsistentError),  # overlap
    ({"a": _entry("U8", [2], [0, 2]), "b": _entry("U8", [2], [3, 5])}, bytes(5), InconsistentError),  # hole
    ({"__metadata__": [], "a": _entry("U8", [1], [0, 1])}, b"x", FormatError),     # metadata not an object
])
def test_safetensors_reader_extremes(tmp_path, header, data, error):
    path = tmp_path / "x.safetensors"
    path.write_bytes(_file(header, data))
    if error is None:
        arrays, _ = read_safetensors(path, copy=False)
        assert arrays["a"].shape == tuple(header["a"]["shape"])
    else:
        with pytest.raises(error, match="safetensors"):
            read_safetensors(path)


def test_safetensors_header_length_beyond_the_file(tmp_path):
    path = tmp_path / "x.safetensors"
    text = json.dumps({"a": _entry("U8", [1], [0, 1])}).encode()
    for length, error in ((len(text) + 2, TruncatedError), (MAX_HEADER_BYTES + 1, LimitExceededError),
                          (2**64 - 1, LimitExceededError)):
        path.write_bytes(length.to_bytes(8, "little") + text + b"x")
        with pytest.raises(error):
            read_safetensors(path)
    path.write_bytes(b"")
    with pytest.raises(TruncatedError):
        read_safetensors(path)


def test_npz_and_dispatch(tmp_path):
    weights = {"a": np.arange(6, dtype=np.int16).reshape(2, 3), "b": np.ones(3, np.float32)}
    for suffix in (".npz", ".safetensors"):
        path = tmp_path / f"w{suffix}"
        write_weights(path, weights)
        got = read_weights(path)
        for name, array in weights.items():
            assert_same_array(array, got[name])
    nncodec.save(tmp_path / "w.nnc", weights)
    assert_same_array(weights["a"], read_weights(tmp_path / "w.nnc")["a"])
    np.save(tmp_path / "w.npy", weights["b"])
    assert_same_array(weights["b"], read_weights(tmp_path / "w.npy")[""])
    with pytest.raises(NNCodecError):
        read_weights(tmp_path / "w.txt")
    with pytest.raises(NNCodecError):
        write_weights(tmp_path / "w.pt", weights)
    with pytest.raises(EncodeError):
        write_weights(tmp_path / "o.npz", {"o": np.array(["x"], dtype=object)})


NPZ_NAMES = ["file", "allow_pickle", "args", "kwds", "", "a/b", "../up", "/lead", "x.npy", "ö 日本.weight", "a\\b"]


def test_npz_names_are_members_not_keywords(tmp_path):
    """Regression: np.savez(f, **arrays) crashed on a tensor named "file" and dropped one named "allow_pickle"."""
    arrays = {name: np.full(i + 1, i, np.int16) for i, name in enumerate(NPZ_NAMES)}
    path = tmp_path / "names.npz"
    write_weights(path, arrays)
    got = read_weights(path)
    assert list(got) == NPZ_NAMES
    with np.load(path, allow_pickle=False) as theirs:
        assert sorted(theirs.files) == sorted(NPZ_NAMES)
        for name, array in arrays.items():
            assert_same_array(array, got[name])
            assert_same_array(array, theirs[name])
    for bad in ({"nul\0name": np.zeros(1)}, {"x": np.zeros(1), "x.npy": np.zeros(1)}):
        with pytest.raises(EncodeError, match="npz member"):
            write_weights(tmp_path / "bad.npz", bad)


def test_cli_decode_to_npz_keeps_every_name(tmp_path, capsys):
    from nncodec.cli import main
    arrays = {name: np.arange(3, dtype=np.float32) + i for i, name in enumerate(NPZ_NAMES)}
    nncodec.save(tmp_path / "m.nnc", arrays)
    assert main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "out.npz"), "-q"]) == 0
    got = read_weights(tmp_path / "out.npz")
    assert list(got) == NPZ_NAMES
    for name, array in arrays.items():
        assert_same_array(array, got[name])


def _npy(shape, data, descr="<f8"):
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + data


def _npz(members, compression=zipfile.ZIP_STORED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("suffix, data", [
    (".npy", _npy((2**40,), bytes(16))),                  # a header declaring 8 TiB over 16 bytes
    (".npy", _npy((0, 2**62, 4), b"")),                   # no bytes, yet no array of that shape
    (".npy", _npy((2,), bytes(17))),                      # a byte too many
    (".npy", _npy((2,), bytes(8), descr="|O")),           # pickle
    (".npy", _npy((2,), bytes(16))[:-20]),                # cut in the header
    (".npy", b"\x93NUMPY\x01\x00\x08\x00{'descr'"),       # a header that does not tokenize
    (".npy", b""),
    (".npz", _npz({"a.npy": _npy((2**40,), bytes(16))})),
    (".npz", _npz({"a.npy": _npy((2,), bytes(16)), "notes.txt": b"hello"})),   # not an array member
    (".npz", _npz({"a.npy": _npy((2,), bytes(16))}, zipfile.ZIP_DEFLATED)[:-60]),  # cut archive
    (".npz", b"PK\x03\x04 not really a zip"),
])
def test_npy_and_npz_hostile_files_raise_nncodec_errors(tmp_path, suffix, data):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(data)
    with pytest.raises(NNCodecError, match="not a readable"):
        read_weights(path)


def test_refusals_are_in_our_words(tmp_path, monkeypatch):
    """Unreadable files get one line of our own: no advice to load them with pickle, no terminal escapes, and
    an install command when an optional package is missing."""
    import sys
    from nncodec.errors import BackendUnavailableError
    (tmp_path / "text.npz").write_bytes(b"these are not the weights you are looking for\n" * 3)
    huge = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }" + " " * 20000 + "\n"
    (tmp_path / "huge.npy").write_bytes(b"\x93NUMPY\x02\x00" + len(huge).to_bytes(4, "little") + huge.encode()
                                       + bytes(8))
    (tmp_path / "objects.npy").write_bytes(_npy((2,), bytes(16), descr="|O"))
    for name, words in (("text.npz", "not a zip file (numpy.savez writes"), ("huge.npy", "Header info length"),
                        ("objects.npy", "Python objects")):
        with pytest.raises(NNCodecError) as refused:
            read_weights(tmp_path / name)
        assert words in str(refused.value) and "allow_pickle" not in str(refused.value), name
    monkeypatch.setitem(sys.modules, "onnx", None)  # onnx and torch not installed
    monkeypatch.setitem(sys.modules, "torch", None)
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    (tmp_path / "m.pt").write_bytes(b"PK")
    with pytest.raises(BackendUnavailableError, match="pip install onnx"):
        read_weights(tmp_path / "m.onnx")
    with pytest.raises(BackendUnavailableError, match="m.pt needs the torch package: pip install torch"):
        read_weights(tmp_path / "m.pt")
    from nncodec.torch import encode_state_dict
    with pytest.raises(BackendUnavailableError, match="pip install \"nncodec-container\\[torch\\]\""):
        encode_state_dict({})


def test_pt_refusals_are_one_line_without_escapes(tmp_path):
    torch = optional("torch", "torch")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "model.pt")  # a whole model: pickled objects, not a state dict
    (tmp_path / "junk.pt").write_bytes(b"these are not the weights you are looking for\n" * 3)
    for name, words in (("model.pt", ("(torch.nn.modules.linear.Linear)", "save model.state_dict() instead")),
                        ("junk.pt", ("not a readable PyTorch checkpoint",))):
        with pytest.raises(NNCodecError) as refused:  # junk: torch.load raised IndexError or KeyError, not ours
            read_weights(tmp_path / name)
        text = str(refused.value)
        assert all(w in text for w in words) and "\x1b" not in text and "\n" not in text, text


def test_npz_mutations_raise_only_nncodec_errors(tmp_path):
    """Random byte edits of a stored and a compressed .npz and of an .npy: arrays or NNCodecError, nothing else."""
    rng = np.random.default_rng(5)
    arrays = {"a": np.arange(40.0), "b": np.ones((3, 4), np.int16)}
    sources = {".npz": _npz({f"{k}.npy": _npy(v.shape, v.tobytes(), v.dtype.str) for k, v in arrays.items()}),
               ".zip.npz": _npz({f"{k}.npy": _npy(v.shape, v.tobytes(), v.dtype.str) for k, v in arrays.items()},
                                zipfile.ZIP_DEFLATED),
               ".npy": _npy((40,), arrays["a"].tobytes())}
    outcomes = set()
    for suffix, blob in sources.items():
        for _ in range(150):
            data = bytearray(blob)
            for i in rng.integers(0, len(data), rng.integers(1, 4)):
                data[i] = rng.integers(256)
            path = tmp_path / f"m{suffix}"
            path.write_bytes(bytes(data[:rng.integers(len(data) // 2, len(data) + 1)]))
            try:
                read_weights(path)
                outcomes.add("ok")
            except NNCodecError:
                outcomes.add("refused")
    assert outcomes == {"ok", "refused"}


def test_torch_state_dict_roundtrip(tmp_path):
    torch = optional("torch", "torch")
    from nncodec.io.torch_io import encode_state_dict, load_state_dict
    sd = {"fc.weight": torch.randn(8, 4), "fc.bias": torch.randn(8).to(torch.bfloat16),
          "steps": torch.arange(5, dtype=torch.int64), "t.weight": torch.randn(4, 6).t(),
          "h": torch.randn(3).half()}
    out = load_state_dict(encode_state_dict(sd))
    assert list(out) == list(sd)
    for name, tensor in sd.items():
        assert out[name].dtype == tensor.dtype and out[name].shape == tensor.shape
        assert torch.equal(out[name], tensor)
    lossy = load_state_dict(encode_state_dict({"w": torch.randn(64, 64)}, preset="deepcabac", quality=50))
    assert lossy["w"].shape == (64, 64)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": sd, "epoch": 3}, path)
    arrays = read_weights(path)
    assert sorted(arrays) == sorted(f"model.{k}" for k in sd)
    assert np.array_equal(arrays["model.fc.weight"], sd["fc.weight"].numpy())


def test_onnx_initializers(tmp_path):
    onnx = optional("onnx", "onnx")
    from onnx import helper, numpy_helper
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(w, "w")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), path)
    assert_same_array(w, read_weights(path)["w"])


def test_onnx_dtypes_external_data_and_bad_files(tmp_path, monkeypatch):
    onnx = optional("onnx", "onnx")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import set_external_data
    arrays = {"half": np.arange(6, dtype=np.float16).reshape(2, 3), "steps": np.arange(4, dtype=np.int64),
              "flags": np.array([True, False]), "scale": np.array(3.5, np.float32)}
    inits = [numpy_helper.from_array(a, k) for k, a in arrays.items()]
    inits.append(helper.make_tensor("bf", TensorProto.BFLOAT16, [3], [1.0, 2.5, -3.0]))
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph([], "g", [], [], initializer=inits)), path)
    weights = read_weights(path)
    assert list(weights) == [*arrays, "bf"]
    for name, array in arrays.items():
        assert_same_array(array, weights[name])
    decoded = nncodec.decode(nncodec.encode(weights))
    assert np.array_equal(np.asarray(decoded["bf"]).astype(np.float32), [1.0, 2.5, -3.0])
    big = np.arange(4096, dtype=np.float32)
    model = helper.make_model(helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(big, "big")]))
    onnx.save_model(model, tmp_path / "ext.onnx", save_as_external_data=True, location="ext.data", size_threshold=0)
    monkeypatch.chdir("/")  # external data is found next to the model, not in the working directory
    assert_same_array(big, read_weights(tmp_path / "ext.onnx")["big"])
    evil = numpy_helper.from_array(np.zeros(4, np.float32), "evil")
    set_external_data(evil, location="../../etc/passwd")
    evil.ClearField("raw_data")
    evil.data_location = TensorProto.EXTERNAL
    onnx.save(helper.make_model(helper.make_graph([], "g", [], [], initializer=[evil])), tmp_path / "evil.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 64)
    for name in ("evil.onnx", "junk.onnx"):
        with pytest.raises(NNCodecError, match="not a readable ONNX model"):
            read_weights(tmp_path / name)


def test_shared_storage_is_stored_once(backend):
    w = np.arange(600, dtype=np.float32).reshape(20, 30)
    tied = {"embed.weight": w, "bias": np.ones(20, np.float32), "head.weight": w, "view": w[:]}
    blob = nncodec.encode(tied, compress="zstd", backend=backend)
    single = nncodec.encode({"embed.weight": w, "bias": tied["bias"]}, compress="zstd", backend=backend)
    assert len(blob) - len(single) < 40  # two alias records, no second copy of the data
    decoded = nncodec.decode(blob, backend=backend)
    assert list(decoded) == list(tied)
    for name, array in tied.items():
        assert_same_array(array, decoded[name])
    # an alias is decoded once: the tied names share one array, as the encoded ones shared their memory
    assert decoded["head.weight"] is decoded["embed.weight"] is decoded["view"]
    with nncodec.open(blob, backend=backend) as reader:
        assert [r["chain"] for r in reader.info()][2:] == ["alias[0]", "alias[0]"]
    assert nncodec.encode({"a": w, "b": w.copy()}) != nncodec.encode({"a": w, "b": w})  # copies are not shared
    with nncodec.open(nncodec.encode({"a": w, "b": w.T})) as reader:  # a transposed view is a different tensor
        assert "alias" not in reader.info()[1]["chain"]


def test_tied_torch_weights_stored_once():
    torch = optional("torch", "torch")
    from nncodec.io.torch_io import encode_state_dict, load_state_dict
    embed = torch.randn(50, 16)
    sd = {"embed.weight": embed, "head.weight": embed, "head.bias": torch.zeros(50)}
    blob = encode_state_dict(sd, compress="zstd")
    assert len(blob) < len(encode_state_dict({k: v.clone() for k, v in sd.items()}, compress="zstd")) - 3000
    out = load_state_dict(blob)
    assert torch.equal(out["head.weight"], embed) and torch.equal(out["embed.weight"], embed)
