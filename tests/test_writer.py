"""nncodec.Writer: a container written tensor by tensor equals nncodec.encode's bytes for the same options."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nncodec
from nncodec.errors import EncodeError
from tests.checkers import assert_same_array

OPTIONS = [{"compress": "none"}, {"compress": "auto"}, {"compress": "zstd", "chunk_elements": 100},
           {"quantize": "uniform:bits=6,axis=0", "entropy": "cabac", "keep_small": 16},
           {"prune": "magnitude:0.5", "quantize": "kmeans:k=8", "entropy": "huffman", "keep_small": 16},
           {"cast": "bfloat16"}]


@st.composite
def models(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    count = draw(st.integers(0, 5))
    shapes = [tuple(draw(st.lists(st.integers(1, 24), min_size=1, max_size=3))) for _ in range(count)]
    return {f"t{i}.{'weight' if i % 2 else 'bias'}": rng.standard_normal(shape).astype(np.float32)
            for i, shape in enumerate(shapes)}


@settings(max_examples=25)
@given(models(), st.sampled_from(OPTIONS))
def test_writer_equals_encode(tmp_path_factory, model, options):
    path = tmp_path_factory.mktemp("w") / "model.nnc"
    with nncodec.Writer(path, metadata={"m": "1"}, **options) as writer:
        for name, array in model.items():
            writer.add(name, array)
    assert path.read_bytes() == nncodec.encode(model, metadata={"m": "1"}, **options)
    with nncodec.open(path) as reader:
        assert reader.keys() == list(model)


def test_writer_codes_chunks_on_threads_with_the_same_bytes(tmp_path):
    weights = {"big": np.random.default_rng(5).standard_normal((64, 50)).astype(np.float32)}
    for jobs in (1, 2):
        with nncodec.Writer(tmp_path / f"{jobs}.nnc", compress="auto", chunk_elements=500, jobs=jobs) as writer:
            writer.add("big", weights["big"])
    expected = nncodec.encode(weights, compress="auto", chunk_elements=500, jobs=1)
    assert (tmp_path / "1.nnc").read_bytes() == (tmp_path / "2.nnc").read_bytes() == expected
    assert nncodec.encode(weights, compress="auto", chunk_elements=500, jobs=2) == expected


def test_writer_spools_chunks_as_they_are_coded(tmp_path):
    rows = []
    with nncodec.Writer(tmp_path / "m.nnc", compress="zstd", chunk_elements=500, jobs=2) as writer:
        writer.add("big", np.ones((64, 50), np.float32), done=lambda start, stop: rows.append((start, stop)))
        writer.add("small", np.ones(10, np.float32), done=lambda start, stop: rows.append("small"))
    assert rows == [(start, min(start + 10, 64)) for start in range(0, 64, 10)]  # 7 chunks of 10 rows, in order
    with nncodec.open(tmp_path / "m.nnc") as reader:
        assert reader["big"].tolist() == np.ones((64, 50)).tolist() and reader.info()[0]["chain"].startswith("concat[7]")


def test_writer_reads_back_tensor_by_tensor(tmp_path, backend):
    path = tmp_path / "m.nnc"
    arrays = {"a": np.arange(10, dtype=np.int32), "b": np.ones((3, 4), np.float64), "c": np.zeros(0, np.uint8)}
    with nncodec.Writer(path, compress="auto", backend=backend) as writer:
        for name, array in arrays.items():
            writer.add(name, array)
    with nncodec.open(path, backend=backend) as reader:
        for name, array in arrays.items():
            assert_same_array(array, reader[name])


def test_writer_refusals(tmp_path):
    path = tmp_path / "m.nnc"
    with pytest.raises(EncodeError, match="global"):
        nncodec.Writer(path, prune="magnitude:0.5,scope=global")
    with pytest.raises(EncodeError):
        nncodec.Writer(path, metadata={"k": 1})
    writer = nncodec.Writer(path)
    writer.add("x", np.ones(3))
    with pytest.raises(EncodeError, match="already"):
        writer.add("x", np.ones(3))
    with pytest.raises(EncodeError):
        writer.add(3, np.ones(3))
    with pytest.raises(EncodeError):
        writer.add("o", np.array(["s"], dtype=object))
    writer.close()
    with pytest.raises(EncodeError, match="closed"):
        writer.add("y", np.ones(3))


def test_exception_inside_with_writes_nothing(tmp_path):
    path = tmp_path / "m.nnc"
    with pytest.raises(RuntimeError):
        with nncodec.Writer(path) as writer:
            writer.add("a", np.ones(4))
            raise RuntimeError("stop")
    assert not path.exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("options", [{"compress": "none"}, {"compress": "zstd", "chunk_elements": 1000}])
def test_add_keeps_no_reference_to_the_tensor(tmp_path, options):
    import sys
    tensor = np.ones((100, 100), np.float32)
    before = sys.getrefcount(tensor)
    with nncodec.Writer(tmp_path / "m.nnc", **options) as writer:
        writer.add("t", tensor)
        assert sys.getrefcount(tensor) == before  # no cycle holds a view until the GC runs: memory stays 1 tensor
