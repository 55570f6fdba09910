"""nncodec.decoder.summary and nncodec.format.identifiers: the NumPy-free directory view behind ``nncodec info``."""

import subprocess
import sys

import numpy as np
import pytest

import nncodec
from nncodec import stages
from nncodec.format import dtypes
from nncodec.bundle import append_container
from nncodec.errors import DecodeError, TruncatedError
from nncodec.format.identifiers import CODING_NAMES, DTYPE_NAMES, DTYPE_SIZES, STAGE_NAMES
from nncodec.decoder.summary import read_summary


@pytest.fixture()
def container():
    rng = np.random.default_rng(5)
    weights = {"fc.weight": rng.standard_normal((48, 40)).astype(np.float32),
               "fc.bias": rng.standard_normal(48).astype(np.float32), "steps": np.arange(9, dtype=np.int64)}
    return nncodec.encode(weights, quantize={"fc.weight": "uniform:bits=6"}, entropy="cabac", compress="zstd",
                          metadata={"model": "summary test"})


def test_identifier_tables_match_the_registries():
    assert STAGE_NAMES == {stage_id: s.name for stage_id, s in stages.STAGES.items()}
    assert CODING_NAMES == {coding_id: c.name for coding_id, c in stages.CODINGS.items()}
    assert DTYPE_NAMES == {code: dtypes.numpy_dtype(code).name if code != 11 else "bfloat16" for code in DTYPE_NAMES}
    assert DTYPE_SIZES == {code: dtypes.numpy_dtype(code).itemsize for code in DTYPE_NAMES}


def test_summary_equals_the_readers_info(tmp_path, container, backend):
    path = tmp_path / "m.nnc"
    path.write_bytes(container)
    with nncodec.open(container, backend=backend) as reader:
        expected = reader.info(), reader.metadata
    assert read_summary(path, backend=backend) == expected
    assert read_summary(container, backend=backend) == expected
    assert [r["chain"] for r in expected[0]][0] == "dense+uniform<cabac>"
    host = tmp_path / "host.bin"
    host.write_bytes(b"host file bytes")
    offset = append_container(host, container)
    assert read_summary(host, backend=backend) == expected
    assert read_summary(host, offset=offset, backend=backend) == expected


@pytest.mark.parametrize("cut", [0, 5, 40, -1])
def test_summary_of_damaged_files_raises_decode_errors(tmp_path, container, backend, cut):
    path = tmp_path / "bad.nnc"
    path.write_bytes(container[:cut])
    with pytest.raises(TruncatedError):
        read_summary(path, backend=backend)
    flipped = bytearray(container)
    flipped[40] ^= 0xFF  # inside the directory: its CRC no longer matches
    path.write_bytes(bytes(flipped))
    with pytest.raises(DecodeError):
        read_summary(path, backend=backend)


def test_info_process_does_not_import_numpy(tmp_path, container):
    path = tmp_path / "m.nnc"
    path.write_bytes(container)
    code = ("import sys; from nncodec.cli import main; status = main(['info', sys.argv[1]]); "
            "assert 'numpy' not in sys.modules, 'numpy was imported'; sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "fc.weight" in done.stdout and "metadata model = summary test" in done.stdout
