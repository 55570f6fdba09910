"""Containers inside larger files (spec 3.9): appended with a trailer, at an offset, as a stored zip member."""

import io
import os
import zipfile

import numpy as np
import pytest

import nncodec
import nncodec.runtime
from nncodec.bundle import TRAILER_MAGIC, TRAILER_SIZE, append_container, locate, trailer, zip_member_span
from nncodec.cli import main
from nncodec.errors import ChecksumError, DecodeError, FormatError, NNCodecError, TruncatedError
from nncodec.format.header import crc32
from tests.checkers import assert_same_array, check_bitflips

WEIGHTS = {"a": np.arange(24, dtype=np.float32).reshape(4, 6), "b": np.arange(5, dtype=np.int16),
           "c": np.linspace(-1, 1, 300).astype(np.float64)}


def _blob(**options):
    return nncodec.encode(WEIGHTS, **options)


def _check_reader(reader):
    assert reader.keys() == list(WEIGHTS)
    for name, array in WEIGHTS.items():
        assert_same_array(array, reader[name])


def test_appended_to_a_host_file(tmp_path, backend):
    host = tmp_path / "app.bin"
    host.write_bytes(b"\x7fELF pretend executable" * 7)
    offset = append_container(host, _blob())
    assert offset % 64 == 0
    with nncodec.open(host, backend=backend) as reader:
        _check_reader(reader)
        assert reader["a"].ctypes.data % 64 == 0  # zero-copy view, aligned in the host's memory map
    data = host.read_bytes()
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        with nncodec.open(source, backend=backend) as reader:
            _check_reader(reader)
    decoded = nncodec.decode(data, backend=backend)
    assert_same_array(WEIGHTS["c"], decoded["c"])


def test_at_an_offset_with_host_bytes_after(tmp_path, backend):
    blob = _blob(compress="auto")
    data = b"head" * 33 + blob + b"tail bytes of the host"
    with nncodec.open(data, offset=132, backend=backend) as reader:
        _check_reader(reader)
    path = tmp_path / "host.bin"
    path.write_bytes(data)
    with nncodec.open(path, offset=132, backend=backend) as reader:
        _check_reader(reader)
    with pytest.raises(DecodeError):
        nncodec.open(data, offset=131)
    with pytest.raises(TruncatedError):
        nncodec.open(data, offset=len(data) + 1)


def test_stored_zip_member(tmp_path):
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "a model bundle", compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("model.nnc", _blob(), compress_type=zipfile.ZIP_STORED)
        archive.writestr("packed.nnc", _blob(), compress_type=zipfile.ZIP_DEFLATED)
    offset, length = zip_member_span(path, "model.nnc")
    assert length == len(_blob())
    with nncodec.open(path, offset=offset) as reader:
        _check_reader(reader)
    with pytest.raises(NNCodecError, match="compressed"):
        zip_member_span(path, "packed.nnc")
    with pytest.raises(NNCodecError, match="no member"):
        zip_member_span(path, "missing.nnc")
    (tmp_path / "not.zip").write_bytes(b"plain bytes")
    with pytest.raises(NNCodecError, match="not a zip"):
        zip_member_span(tmp_path / "not.zip", "model.nnc")


def test_one_tensor_decodes_without_the_others():
    blob = bytearray(_blob())
    with nncodec.open(bytes(blob)) as reader:
        last = [s for s in reader.record("c").node.body.streams][0]
    blob[last.offset + 5] ^= 0xFF  # corrupt only tensor c's stream
    with nncodec.open(bytes(blob)) as reader:
        assert_same_array(WEIGHTS["a"], reader["a"])
        with pytest.raises(ChecksumError):
            reader["c"]


def test_trailer_bytes_are_covered(backend):
    data = _blob() + trailer(len(_blob()))
    assert_same_array(WEIGHTS["b"], nncodec.decode(data, backend=backend)["b"])
    check_bitflips(data, backend, count=150)
    for cut in (1, 5, TRAILER_SIZE - 1, TRAILER_SIZE + 1, TRAILER_SIZE + 40):
        with pytest.raises(DecodeError):
            nncodec.decode(data[:-cut], backend=backend)


def test_locate_plain_and_garbage():
    blob = _blob()
    assert bytes(locate(blob)) == blob
    assert bytes(locate(b"not a container")) == b"not a container"
    with pytest.raises(DecodeError):
        nncodec.decode(b"x" * 100)


def _sealed_trailer(length, reserved=bytes(4)):
    head = TRAILER_MAGIC + length.to_bytes(8, "little") + reserved
    return head + crc32(head).to_bytes(4, "little")


def _damaged(kind):
    """(file bytes, error class, rule id) for a host file with a damaged trailer (spec 3.9), a cut or empty file."""
    host = b"host" * 16 + _blob()
    room = len(host)
    if kind == "trailer-crc":
        good = _sealed_trailer(len(_blob()))
        return host + good[:-1] + bytes([good[-1] ^ 1]), ChecksumError, "R3.9-a"
    if kind == "trailer-reserved":
        return host + _sealed_trailer(len(_blob()), b"\0\0\1\0"), FormatError, "R3.9-b"
    if kind == "trailer-length":
        return host + _sealed_trailer(room + 1), TruncatedError, "R3.9-c"
    if kind == "truncated":
        return _blob()[:-1], TruncatedError, "R3.1-c"
    return b"", TruncatedError, "R3.1-c"


def _mapped(path):
    """Whether this process still maps ``path``."""
    with open("/proc/self/maps") as maps:
        return any(line.rstrip().endswith(os.fspath(path)) for line in maps)


@pytest.mark.parametrize("kind", ["trailer-crc", "trailer-reserved", "trailer-length", "truncated", "empty"])
def test_damaged_files_raise_their_rule_from_every_entry_point(tmp_path, capsys, backend, kind):
    """Regression: a damaged trailer made open() raise BufferError (a view of the map outlived the error)."""
    data, error, rule = _damaged(kind)
    path = tmp_path / "damaged.bin"
    path.write_bytes(data)
    for entry in (nncodec.open, nncodec.load, nncodec.runtime.load):
        with pytest.raises(error, match=rule) as caught:
            entry(path, backend=backend)
        if os.path.exists("/proc/self/maps"):  # while the traceback lives, every view of the map is released
            assert not _mapped(path), (entry, caught.value)
    for command in (["info"], ["verify"], ["decode", "-o", tmp_path / "out.npz"]):
        code = main(["--backend", backend, *command[:1], str(path), *map(str, command[1:])])
        out, err = capsys.readouterr()
        assert code == 1 and f"{error.__name__}: [{rule}]" in err and err.count("\n") == 1, (command, err)
