"""Fidelity figures (nncodec.quant.metrics.fidelity) and where they are reported: rd_sweep, and the encode, info,
diff, rd and bench commands. The model has an untouched high-energy tensor (a BatchNorm running_var, as in the
CRNN) that an SQNR over all tensors together lets dominate the quantized weights' error."""

import csv
import json
import math

import numpy as np
import pytest

import nncodec
from nncodec.cli import main
from nncodec.errors import EncodeError
from nncodec.quant import sqnr_db
from nncodec.quant.metrics import fidelity


def _model():
    rng = np.random.default_rng(11)
    return {"conv.weight": (0.05 * rng.standard_normal((64, 16, 3, 3))).astype(np.float32),
            "fc.weight": (0.02 * rng.standard_normal((96, 128))).astype(np.float32),
            "bn.running_var": (1000 + 500 * rng.random(256)).astype(np.float32),
            "bn.bias": (0.1 * rng.standard_normal(256)).astype(np.float32),
            "steps": np.arange(5, dtype=np.int64)}


MODEL = _model()
QUANTIZED = ("conv.weight", "fc.weight")


def _quantized_only(decoded):
    return sqnr_db({n: MODEL[n] for n in QUANTIZED}, {n: decoded[n] for n in QUANTIZED})


def test_fidelity_measures_only_the_changed_tensors():
    decoded = nncodec.decode(nncodec.encode(MODEL, quantize="kmeans:k=4"))
    report = fidelity(MODEL, decoded)
    assert report["changed_tensors"] == 2 and report["tensors"] == 5
    assert report["changed_weights"] == MODEL["conv.weight"].size + MODEL["fc.weight"].size
    assert report["sqnr_db"] == pytest.approx(_quantized_only(decoded))
    assert report["sqnr_db"] < 12 < sqnr_db(MODEL, decoded) - 20   # the all-tensor figure hides the error
    per_tensor = {n: sqnr_db(MODEL[n], decoded[n]) for n in QUANTIZED}
    assert report["worst_tensor"] == min(per_tensor, key=per_tensor.get)
    assert report["worst_sqnr_db"] == pytest.approx(min(per_tensor.values()))
    rows = {r["name"]: r for r in report["rows"]}
    assert rows["bn.running_var"]["changed"] is False and rows["bn.running_var"]["sqnr_db"] == math.inf
    assert rows["fc.weight"]["max_abs_error"] == pytest.approx(
        float(np.max(np.abs(MODEL["fc.weight"].astype(np.float64) - decoded["fc.weight"]))))
    assert rows["fc.weight"]["dtype"] == "float32" and rows["fc.weight"]["shape"] == [96, 128]
    assert report["max_abs_error"] == max(r["max_abs_error"] for r in report["rows"])


def test_fidelity_of_an_exact_copy_and_stored_bytes():
    blob = nncodec.encode(MODEL, compress="auto")
    with nncodec.open(blob) as reader:
        stored = {r["name"]: r["stored_bytes"] for r in reader.info()}
        report = fidelity(MODEL, reader, stored)  # a Reader is read one tensor at a time
    assert report["changed_tensors"] == 0 and report["worst_tensor"] is None
    assert report["sqnr_db"] == math.inf == report["worst_sqnr_db"] and report["max_abs_error"] == 0
    assert [r["stored_bytes"] for r in report["rows"]] == list(stored.values())


def test_fidelity_checks_names_and_shapes():
    with pytest.raises(EncodeError, match="missing"):
        fidelity(MODEL, {"conv.weight": MODEL["conv.weight"]})
    with pytest.raises(EncodeError, match="'fc.weight': shapes differ"):
        fidelity({"fc.weight": MODEL["fc.weight"]}, {"fc.weight": MODEL["fc.weight"][:3]})


def test_fidelity_counts_a_cast_and_a_changed_zero_tensor():
    w = {"a": np.array([1.0, 2.0, 3.0], np.float32), "z": np.zeros(4, np.float32)}
    report = fidelity(w, {"a": w["a"].astype(np.float16), "z": np.ones(4, np.float32)})
    assert report["changed_tensors"] == 1 and report["worst_tensor"] == "z" and report["worst_sqnr_db"] == -math.inf


def test_rd_sweep_reports_the_changed_tensors_measure():
    rows = nncodec.rd_sweep(MODEL, settings=[{"quantize": "kmeans:k=4"}, {"quantize": "uniform:bits=8"}])
    for row in rows:
        decoded = nncodec.decode(nncodec.encode(MODEL, **row["config"]))
        assert row["sqnr_db"] == pytest.approx(_quantized_only(decoded))
        assert row["changed_tensors"] == 2 and row["worst_tensor"] in QUANTIZED
        assert row["worst_sqnr_db"] <= row["sqnr_db"]


def test_model_sqnr_target_is_met_in_the_reported_measure():
    target = 30
    decoded = nncodec.decode(nncodec.encode(MODEL, quantize=f"dq:sqnr={target},scope=model", entropy="cabac"))
    assert target <= fidelity(MODEL, decoded)["sqnr_db"] <= target + 0.5


@pytest.fixture()
def source(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, **MODEL)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_encode_prints_fidelity_after_a_lossy_encode(tmp_path, capsys, source):
    out = tmp_path / "m.nnc"
    code, stdout, _ = run(capsys, "encode", source, "-o", out, "--quantize", "kmeans:k=4")
    assert code == 0
    expected = _quantized_only(nncodec.decode(out.read_bytes()))
    assert f"SQNR {expected:.1f} dB over the 2 changed tensors" in stdout and "worst" in stdout
    code, stdout, _ = run(capsys, "encode", source, "-o", out, "--quantize", "kmeans:k=4", "--json")
    document = json.loads(stdout)
    assert document["fidelity"]["sqnr_db"] == pytest.approx(expected)
    rows = {r["name"]: r for r in document["fidelity"]["rows"]}
    with nncodec.open(out) as reader:
        assert {r["name"]: r["stored_bytes"] for r in reader.info()} == {n: r["stored_bytes"] for n, r in rows.items()}
    assert rows["bn.running_var"]["sqnr_db"] is None  # exact: inf, null in strict JSON
    code, stdout, _ = run(capsys, "encode", source, "-o", out)
    assert code == 0 and "SQNR" not in stdout  # lossless: nothing to measure


def test_info_original_and_diff_print_the_measures(tmp_path, capsys, source):
    out = tmp_path / "m.nnc"
    run(capsys, "encode", source, "-o", out, "--quantize", "kmeans:k=4", "-q")
    expected = _quantized_only(nncodec.decode(out.read_bytes()))
    code, stdout, _ = run(capsys, "info", out, "--original", source)
    assert code == 0 and "max |error|" in stdout and f"SQNR {expected:.1f} dB over the 2 changed tensors" in stdout
    code, stdout, _ = run(capsys, "info", out, "--original", source, "--json")
    assert json.loads(stdout)["fidelity"]["sqnr_db"] == pytest.approx(expected)
    code, stdout, _ = run(capsys, "diff", source, out)
    assert code == 3 and f"SQNR {expected:.1f} dB over the 2 changed tensors" in stdout.splitlines()[-1]
    code, stdout, _ = run(capsys, "diff", source, out, "--json")
    assert json.loads(stdout)["fidelity"]["worst_tensor"] in QUANTIZED


def test_rd_csv_and_bench_use_the_changed_tensors_measure(tmp_path, capsys, source):
    code, _, _ = run(capsys, "rd", source, "--out", tmp_path / "rd.csv", "-q")
    with open(tmp_path / "rd.csv") as f:
        rows = list(csv.DictReader(f))
    kmeans = next(r for r in rows if json.loads(r["config"])["quantize"] == "kmeans:k=4")
    decoded = nncodec.decode(nncodec.encode(MODEL, **json.loads(kmeans["config"])))
    assert float(kmeans["sqnr_db"]) == pytest.approx(_quantized_only(decoded), abs=1e-4)
    assert kmeans["worst_tensor"] in QUANTIZED and kmeans["changed_tensors"] == "2"
    code, stdout, _ = run(capsys, "bench", source, "--presets", "deepcabac", "--repeat", "1", "--json")
    row = json.loads(stdout)["presets"][0]
    assert code == 0 and 40 <= row["sqnr_db"] <= 40.5  # the preset's default target (quality 75), as asked
    assert row["worst_tensor"] in QUANTIZED and row["changed_tensors"] == 2
