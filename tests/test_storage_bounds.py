"""No tensor is stored in more bytes than it has, under every preset and option; defaults that compress: the
command line compresses losslessly, and a pruning option alone gets a coding that exploits the zeros."""

import json

import numpy as np
import pytest

import nncodec
from nncodec import presets
from nncodec.cli import main
from nncodec.format.records import Chain


def _crnn_like():
    """The CRNN's kinds of tensor, scaled down: convolutions (the first with one input channel), BatchNorm
    statistics (running_var of large energy), LSTM weights and 1-D biases, a linear layer, plus odd small ones."""
    rng = np.random.default_rng(5)
    f32 = np.float32
    w = {"conv0.weight": 0.3 * rng.standard_normal((32, 1, 3, 3)), "conv0.bias": 0.05 * rng.standard_normal(32),
         "conv3.weight": 0.05 * rng.standard_normal((64, 32, 3, 3)), "bn.weight": 1 + 0.1 * rng.standard_normal(256),
         "bn.bias": 0.1 * rng.standard_normal(256), "bn.running_mean": rng.standard_normal(256) * 8,
         "bn.running_var": 150 + 100 * rng.random(256), "rnn.weight_ih_l0": 0.06 * rng.standard_normal((256, 64)),
         "rnn.bias_ih_l0": 0.07 * rng.standard_normal(1024), "rnn.bias_hh_l0": 0.07 * rng.standard_normal(1024),
         "linear.weight": 0.08 * rng.standard_normal((97, 256)), "linear.bias": 0.4 * rng.standard_normal(97)}
    w = {name: a.astype(f32) for name, a in w.items()}
    for i, shape in enumerate([(1,), (3,), (7, 5), (2, 3, 4), (1, 1), (40, 30)]):
        w[f"small{i}"] = rng.standard_normal(shape).astype(f32)
    w.update({"zeros": np.zeros((33, 40), f32), "constant": np.full(500, 0.5, f32),
              "half": rng.standard_normal((48, 64)).astype(np.float16), "steps": np.array(1000, np.int64),
              "mask": rng.random((8, 9)) < 0.5})
    return w


CRNN_LIKE = _crnn_like()


def _stored(node):
    """Stream bytes plus stage parameter bytes of a node (all its chains)."""
    if isinstance(node.body, Chain):
        return sum(s.length for s in node.body.streams) + sum(len(st.params) for st in node.body.stages)
    return sum(_stored(child) for child in getattr(node.body, "children", ()))


def _assert_no_tensor_larger_than_raw(blob, weights):
    with nncodec.open(blob) as reader:
        for row, record in zip(reader.info(), reader.directory.tensors):
            raw = weights[row["name"]].nbytes
            assert row["stored_bytes"] <= raw and _stored(record.node) <= raw, (row["name"], row["chain"], raw)


@pytest.mark.parametrize("preset, knob", [(name, {"quality": q} if has_quality else {})
                                          for name, _, has_quality in presets.describe_presets()
                                          for q in ((0, 75, 100) if has_quality else (None,))])
def test_no_preset_stores_a_tensor_larger_than_its_raw_bytes(preset, knob):
    blob = nncodec.encode(CRNN_LIKE, preset=preset, **knob)
    _assert_no_tensor_larger_than_raw(blob, CRNN_LIKE)
    decoded = nncodec.decode(blob)
    assert decoded["steps"] == CRNN_LIKE["steps"] and np.array_equal(decoded["mask"], CRNN_LIKE["mask"])


@pytest.mark.parametrize("options", [{"layout": "cer"}, {"layout": "cser", "compress": "zstd"},
                                     {"layout": "csr", "entropy": "cabac"},
                                     {"quantize": {"*": "kmeans:k=256", "small*": "kmeans:k=64"}},
                                     {"quantize": {"small*": "uniform:bits=16", "bn.*": "dq:step=1e-3"}},
                                     {"compress": "zstd", "entropy": "zstd"}])
def test_forced_layouts_and_codings_never_exceed_raw(options):
    """A layout, coding or codebook that costs more than the values on some tensor falls back for that tensor."""
    blob = nncodec.encode(CRNN_LIKE, **options)
    _assert_no_tensor_larger_than_raw(blob, CRNN_LIKE)
    decoded = nncodec.decode(blob)
    assert np.array_equal(decoded["bn.running_var"], CRNN_LIKE["bn.running_var"]) or "quantize" in options


def test_small_tensor_falls_back_to_exact_dense_raw():
    w = {"b": np.random.default_rng(0).standard_normal(256).astype(np.float32)}
    with nncodec.open(nncodec.encode(w, layout="cer")) as reader:
        assert reader.info()[0]["chain"] == "dense<raw>" and np.array_equal(reader["b"], w["b"])
    with nncodec.open(nncodec.encode(w, layout="cer", no_larger_than_raw=False)) as reader:  # as asked
        assert reader.info()[0]["chain"].startswith("cer") and reader.info()[0]["stored_bytes"] > w["b"].nbytes


def _trained_like():
    rng = np.random.default_rng(9)
    return {"conv.weight": (0.05 * rng.standard_normal((64, 32, 3, 3))).astype(np.float32),
            "fc.weight": (0.03 * rng.standard_normal((256, 128))).astype(np.float32),
            "fc.bias": (0.01 * rng.standard_normal(256)).astype(np.float32)}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_encode_compresses_losslessly_by_default(tmp_path, capsys):
    weights = _trained_like()
    np.savez(tmp_path / "m.npz", **weights)
    code, stdout, _ = run(capsys, "encode", tmp_path / "m.npz", "-o", tmp_path / "m.nnc", "--json")
    assert code == 0 and json.loads(stdout)["ratio"] > 1.05
    decoded = nncodec.decode((tmp_path / "m.nnc").read_bytes())
    assert all(decoded[k].tobytes() == a.tobytes() for k, a in weights.items())
    with nncodec.open(tmp_path / "m.nnc") as reader:
        assert dict(reader.metadata) == {}  # no preset recorded: the default is plain options
        assert reader.info()[0]["chain"] == "dense<float-planes>"  # what compress="auto" picks for floats


@pytest.mark.parametrize("stream", [False, True])
def test_cli_prune_alone_gets_a_coding_that_exploits_the_zeros(tmp_path, capsys, stream):
    weights = _trained_like()
    np.savez(tmp_path / "m.npz", **weights)
    argv = ["encode", tmp_path / "m.npz", "-o", tmp_path / "p.nnc", "--prune", "magnitude:0.9", "--json"]
    code, stdout, _ = run(capsys, *argv, *(["--stream"] if stream else []))
    result = json.loads(stdout)
    assert code == 0 and result["ratio"] > 3 and result["fidelity"]["changed_tensors"] == 2


def test_library_keeps_raw_by_default_and_codes_pruned_tensors():
    weights = _trained_like()
    raw = sum(a.nbytes for a in weights.values())
    with nncodec.open(nncodec.encode(weights)) as reader:  # memory-mappable: dense raw streams
        assert {r["chain"] for r in reader.info()} == {"dense<raw>"}
    pruned = nncodec.encode(weights, prune="magnitude:0.9")
    assert len(pruned) < raw / 3
    with nncodec.open(pruned) as reader:
        chains = {r["name"]: r["chain"] for r in reader.info()}
    assert chains["fc.bias"] == "dense<raw>" and chains["fc.weight"] != "dense<raw>"
    assert nncodec.encode(weights, prune="magnitude:0.9", compress="none", layout="dense") != pruned  # as asked


def test_writer_codes_pruned_tensors_like_encode(tmp_path):
    weights = _trained_like()
    with nncodec.Writer(tmp_path / "w.nnc", prune="magnitude:0.9") as writer:
        for name, array in weights.items():
            writer.add(name, array)
    assert (tmp_path / "w.nnc").read_bytes() == nncodec.encode(weights, prune="magnitude:0.9")
