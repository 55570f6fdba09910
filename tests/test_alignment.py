"""Streams at any alignment (spec 5.1: Align_Log2 may be 0, and a container may sit at any address): raw typed
streams at odd addresses decode to the same arrays on both backends, through every layout and transform.

Regression: the Cython kernels loaded int16..float64 elements from zero-copy views at odd addresses (undefined
behaviour that UBSan reports); such streams are now copied to aligned memory where they become arrays.
"""

import numpy as np
import pytest

import nncodec
from nncodec.format.dtypes import code_of
from nncodec.format.records import Stream, iter_streams
from nncodec.stages.raw import elements
from tests import crafting
from tests.checkers import assert_same_array

RNG = np.random.default_rng(11)
SPARSE = np.where(RNG.random((40, 600)) < 0.05, RNG.standard_normal((40, 600)), 0).astype(np.float32)
WEIGHTS = {
    "i16": RNG.integers(-30000, 30000, (5, 7)).astype(np.int16),
    "i32": RNG.integers(-2**31, 2**31, (3, 5)).astype(np.int32),
    "i64": RNG.integers(-2**63, 2**63, (9,), dtype=np.int64),
    "f32": RNG.standard_normal((6, 3)).astype(np.float32),
    "f64": RNG.standard_normal((4, 4)),
    "uniform": RNG.standard_normal((32, 32)).astype(np.float32),
    "dq": RNG.standard_normal((32, 32)).astype(np.float32),
    "csr": SPARSE,
    "cer": SPARSE.copy(),
}
OPTIONS = {"entropy": "raw", "compress": "none", "layout": {"csr": "csr", "cer": "cer", "*": "dense"},
           "quantize": {"uniform": "uniform:bits=12", "dq": "dq:sqnr=70", "cer": "uniform:bits=12"}}
CHAINS = {"i16": "dense<raw>", "uniform": "dense+uniform<raw>", "dq": "dense+dq<raw>", "csr": "csr<raw,",
          "cer": "cer+uniform<raw,"}


@pytest.fixture(scope="module")
def unaligned():
    """(the encoder's container, the same with every stream at Align_Log2 = 0, expected arrays)."""
    blob = nncodec.encode(WEIGHTS, **OPTIONS)
    with nncodec.open(blob) as reader:
        chains = {row["name"]: row["chain"] for row in reader.info()}
    for name, chain in CHAINS.items():
        assert chains[name].startswith(chain), chains
    packed = crafting.realigned(blob, 0)
    assert len(packed) < len(blob)
    return blob, packed, nncodec.decode(blob, backend="reference")


def _shifted(blob, shift):
    """``blob`` in memory that starts ``shift`` bytes past a 64-byte boundary."""
    base = np.zeros(len(blob) + 128, np.uint8)
    start = -base.ctypes.data % 64 + shift
    base[start:start + len(blob)] = np.frombuffer(blob, np.uint8)
    return memoryview(base)[start:start + len(blob)]


def test_packed_container_has_typed_streams_at_odd_offsets(unaligned):
    _, packed, _ = unaligned
    with nncodec.open(packed) as reader:
        streams = [s for r in reader.directory.tensors for s in iter_streams(r.node)]
    typed = {s.offset for s in streams if s.coding == 0 and s.elem_type not in (1, 2, 3)}  # wider than a byte
    assert len(typed) >= 11 and {s.align_log2 for s in streams} == {0}
    assert any(offset % 2 for offset in typed)  # odd offsets even in an aligned buffer


@pytest.mark.parametrize("shift", range(8))
def test_streams_at_any_address_decode_the_same(unaligned, backend, shift):
    blob, packed, expected = unaligned
    for source in (packed, blob):
        view = _shifted(source, shift)
        decoded = nncodec.decode(view, backend=backend)
        for name, array in expected.items():
            assert_same_array(array, decoded[name])
        with nncodec.open(view, backend=backend) as reader:
            reader.verify_all(materialize=False)
            for name, array in expected.items():
                assert_same_array(array, reader[name])
                structure = reader.get(name, materialize=False)
                assert_same_array(array, structure.todense() if hasattr(structure, "todense") else structure)


@pytest.mark.parametrize("dtype", ["<i2", "<u2", "<f2", "<i4", "<f4", "<i8", "<u8", "<f8"])
def test_stream_elements_are_naturally_aligned(dtype):
    """The one place stored bytes become typed arrays copies them when they sit at an unaligned address, and
    views them otherwise (zero-copy)."""
    size = np.dtype(dtype).itemsize
    stream = Stream(0, code_of(np.dtype(dtype)), 0, 5, 5 * size, 0)
    values = np.arange(5).astype(dtype)
    for shift in range(size + 1):
        data = _shifted(values.tobytes(), shift)
        array = elements(data, stream)
        assert array.ctypes.data % size == 0 and np.array_equal(array, values)
        assert np.shares_memory(array, np.asarray(data)) == (shift % size == 0)
