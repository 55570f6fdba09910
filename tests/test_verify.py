"""``verify_all(materialize=False)``: every check a decode makes, without building the tensors (issue 7).

It must refuse exactly what decoding every tensor refuses (same error class and rule id), detect every single-bit
flip of a small container holding every layout, a separable composite and an alias, and allocate far less than
the tensors it vouches for.
"""

import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import nncodec
from nncodec.errors import DecodeError

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "fuzz"))
import fuzz_structured  # noqa: E402
import strategies  # noqa: E402
from checkers import error_of  # noqa: E402


def _packed(blob):
    """``blob`` rewritten with every stream at Align_Log2 0 (no padding: fewer bits to flip)."""
    from dataclasses import replace

    from nncodec.format.assemble import PendingStream, write_container
    from nncodec.format.records import Chain, Composite, TensorRecord

    reader = nncodec.open(blob)

    def repack(node, pending):
        if isinstance(node.body, Chain):
            for s in node.body.streams:
                pending.append(PendingStream(s.coding, s.elem_type, 0, s.count, blob[s.offset:s.offset + s.length]))
            streams = tuple(replace(s, align_log2=0) for s in node.body.streams)
            return replace(node, body=Chain(streams, node.body.stages))
        if isinstance(node.body, Composite):
            children = tuple(repack(c, pending) for c in node.body.children)
            return replace(node, body=Composite(node.body.combine, children))
        return node

    tensors = []
    for name in reader.keys():
        pending = []
        tensors.append((TensorRecord(name, repack(reader.record(name).node, pending)), pending))
    return write_container(tensors, tuple(reader.metadata.items()))


def _small_container():
    """About 400 bytes: csr, relidx, cer, cser and dense tensors, a separable factorization, an alias."""
    sparse = np.zeros((3, 5), np.float32)
    sparse[0, 1], sparse[2, 4], sparse[2, 0] = 1.5, -2.0, 1.5
    kernel = np.outer(np.arange(1, 4), np.arange(1, 5)).astype(np.float32).reshape(2, 2, 1, 3)  # (O, I, KH, KW)
    weights = {"csr": sparse, "relidx": sparse[::-1].copy(), "cer": np.int8([[0, 3, 3], [0, 0, 7]]),
               "cser": np.int16([[5, 0, 5, 0]]), "dense": np.float16([1, 2, 3]), "kernel": kernel}
    weights["tied"] = weights["dense"]
    layout = {"csr": "csr", "relidx": "relidx:bits=2", "cer": "cer", "cser": "cser", "*": "dense"}
    return _packed(nncodec.encode(weights, layout=layout, factorize={"kernel": "separable:rank=1"}, keep_small=0,
                                  no_larger_than_raw=False))  # every layout, however small the tensor


def _outcome(blob, backend, materialize):
    """``"ok"`` or the (class name, rule id) of the DecodeError verifying ``blob`` raises."""
    try:
        nncodec.open(blob, backend=backend).verify_all(materialize=materialize)
    except DecodeError as exc:
        return error_of(exc)
    return "ok"


def test_small_container_has_every_kind_of_node():
    from nncodec.format.records import Alias, Chain, Composite, SEPARABLE
    reader = nncodec.open(_small_container())
    bodies = {name: reader.record(name).node.body for name in reader.keys()}
    assert {b.stages[0].stage_id for b in bodies.values() if isinstance(b, Chain)} == {1, 2, 3, 4, 5}
    assert isinstance(bodies["tied"], Alias)
    assert isinstance(bodies["kernel"], Composite) and bodies["kernel"].combine == SEPARABLE
    reader.verify_all(materialize=False)


def test_every_single_bit_flip_is_detected(backend):
    """Exhaustive over every bit of the small container: verify without materializing raises a DecodeError,
    the same class and rule id as the materializing verify."""
    blob = _small_container()
    assert len(blob) < 512
    missed = []
    for i in range(len(blob) * 8):
        flipped = bytearray(blob)
        flipped[i // 8] ^= 1 << (i % 8)
        lean, full = _outcome(bytes(flipped), backend, False), _outcome(bytes(flipped), backend, True)
        if lean == "ok" or lean != full:
            missed.append((i, lean, full))
    assert not missed, missed[:10]


@settings(max_examples=60, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(blob=strategies.record_containers(max_tensors=3), data=st.data())
def test_verify_refuses_what_decoding_refuses(blob, data):
    """On valid containers (every layout, composites, aliases) and on their structural mutations, both verify
    paths agree (error class and rule id) on every backend."""
    if data.draw(st.booleans()):
        blob = fuzz_structured.mutate(blob, data.draw)
    for backend in nncodec.available_backends():
        assert _outcome(blob, backend, False) == _outcome(blob, backend, True)


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("layout", ["csr", "relidx", "cer", "cser"])
def test_verify_does_not_build_sparse_tensors(layout, backend):
    """A 1000 x 1000 float64 tensor (8 MB) with 5 non-zeros: the lean verify allocates under 1 MB."""
    w = np.zeros((1000, 1000))
    w[[0, 10, 500, 999, 999], [3, 999, 0, 0, 998]] = [1, 2, 3, 4, 5]
    blob = nncodec.encode({"w": w}, layout=layout)
    reader = nncodec.open(blob, backend=backend)
    assert _peak(lambda: reader.verify_all(materialize=False)) < 1 << 20
    assert _peak(lambda: reader.verify_all(materialize=True)) > w.nbytes


def test_verify_does_not_multiply_factors(backend):
    """A product of a 1000 x 1 and a 1 x 1000 factor (8 MB of float64 when computed): under 1 MB to verify."""
    from nncodec.lowrank import Factors
    w = np.outer(np.arange(1000.0), np.ones(1000)).astype(np.float32)
    blob = nncodec.encode({"w": w}, factorize=Factors(w.shape, np.arange(1000.0)[:, None], np.ones((1, 1000))))
    reader = nncodec.open(blob, backend=backend)
    assert _peak(lambda: reader.verify_all(materialize=False)) < 1 << 20
    assert _peak(lambda: reader.verify_all(materialize=True)) > w.nbytes


def test_cli_verify_does_not_build_tensors(tmp_path, monkeypatch):
    """``nncodec verify`` checks tensor by tensor through ``verify_tensor``, never decoding one."""
    from nncodec import cli
    from nncodec.decoder.container import Container
    path = tmp_path / "small.nnc"
    path.write_bytes(_small_container())

    def refuse(self, name, copy=False):
        raise AssertionError(f"verify decoded {name!r}")

    monkeypatch.setattr(Container, "decode_tensor", refuse)
    assert cli.main(["verify", str(path), "-q"]) == 0
    flipped = bytearray(path.read_bytes())
    flipped[-1] ^= 1
    path.write_bytes(bytes(flipped))
    assert cli.main(["verify", str(path), "-q"]) == 1
