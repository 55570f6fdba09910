"""The command line (nncodec.cli) and the presets it exposes: exit codes, JSON output, one-line errors."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nncodec
from nncodec import presets
from nncodec.cli import main
from nncodec.cli.commands import COMMANDS, build_parser
from nncodec.errors import EncodeError, TruncatedError
from nncodec.cli.progress import Progress
from skips import optional


@pytest.fixture()
def model(tmp_path):
    rng = np.random.default_rng(3)
    weights = {"conv.weight": rng.standard_normal((32, 16, 3, 3)).astype(np.float32),
               "conv.bias": rng.standard_normal(32).astype(np.float32),
               "fc.weight": rng.standard_normal((64, 96)).astype(np.float32),
               "steps": np.arange(7, dtype=np.int64)}
    path = tmp_path / "model.npz"
    np.savez(path, **weights)
    return path, weights


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("preset", list(presets.PRESETS))
def test_encode_each_preset_then_info_verify_decode_diff(tmp_path, capsys, model, preset):
    source, weights = model
    out = tmp_path / "m.nnc"
    code, stdout, _ = run(capsys, "encode", source, "-o", out, "--preset", preset, "--json", "--jobs", "2")
    assert code == 0 and json.loads(stdout)["bytes"] == out.stat().st_size
    code, stdout, _ = run(capsys, "info", out, "--json", "--original", source)
    info = json.loads(stdout)
    assert info["preset"]["name"] == preset and [t["name"] for t in info["tensors"]] == list(weights)
    assert all("sqnr_db" in t for t in info["tensors"] if t["dtype"].startswith("float"))
    assert run(capsys, "verify", out, "-q") == (0, "", "")
    for suffix in (".npz", ".safetensors"):
        assert run(capsys, "decode", out, "-o", tmp_path / f"d{suffix}", "-q")[0] == 0
        code, stdout, _ = run(capsys, "diff", source, tmp_path / f"d{suffix}", "--json")
        rows = {r["name"]: r for r in json.loads(stdout)["tensors"]}
        assert rows["steps"]["status"] == "identical"
        assert code == (0 if preset == "lossless" else 3)


def test_stage_options_override_the_preset(tmp_path, capsys, model):
    source, _ = model
    out = tmp_path / "m.nnc"
    assert run(capsys, "encode", source, "-o", out, "--preset", "deepcabac", "--sqnr", "25", "--entropy", "huffman",
               "-q")[0] == 0
    with nncodec.open(out) as reader:
        recorded = json.loads(reader.metadata[presets.PRESET_KEY])
        chains = {r["name"]: r["chain"] for r in reader.info()}
    assert recorded["sqnr"] == 25 and recorded["options"]["entropy"] == "huffman"
    assert recorded["options"]["quantize"] == "dq:sqnr=25,scope=model"
    assert chains["fc.weight"] == "dense+dq<huffman>"


def test_errors_are_one_line_with_documented_exit_codes(tmp_path, capsys, model):
    source, _ = model
    out = tmp_path / "m.nnc"
    run(capsys, "encode", source, "-o", out, "-q")
    (tmp_path / "cut.nnc").write_bytes(out.read_bytes()[:-3])
    (tmp_path / "garbage.npz").write_bytes(b"PK not really a zip")
    (tmp_path / "garbage.pt").write_bytes(b"\x80\x02 not a checkpoint")
    code, stdout, err = run(capsys, "verify", tmp_path / "cut.nnc")
    assert code == 1 and stdout == "" and err.count("\n") == 1 and "TruncatedError" in err
    with pytest.raises(TruncatedError):
        main(["verify", str(tmp_path / "cut.nnc"), "--debug"])
    for argv in (["encode", tmp_path / "missing.npz", "-o", out],
                 ["encode", source, "-o", out, "--preset", "lossless", "--quality", "50"],
                 ["encode", source, "-o", out, "--quality", "50"],
                 ["encode", source, "-o", out, "--meta", "novalue"],
                 ["decode", out, "-o", tmp_path / "x.txt"],
                 ["info", tmp_path / "missing.nnc"],
                 ["encode", tmp_path / "garbage.npz", "-o", out],
                 ["encode", tmp_path / "garbage.pt", "-o", out]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.startswith("nncodec: error:") and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exit_info:
        main(["encode", str(source), "-o", str(out), "--preset", "nope"])
    assert exit_info.value.code == 2


def test_every_option_has_help_and_every_verb_an_example():
    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(verbs) == set(COMMANDS)
    for name, p in [("nncodec", parser), *verbs.items()]:
        for action in p._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
        example = p.epilog.split("example:\n", 1)[1].strip()
        assert example.startswith("nncodec " + ("" if p is parser else name)), example
        assert build_parser().parse_args(example.split()[1:]).command == (name if p is not parser else "encode")


def test_quiet_is_silent_in_every_verb_and_json_still_prints(tmp_path, capsys, model):
    source, _ = model
    out = tmp_path / "m.nnc"
    runs = {"encode": ["encode", source, "-o", out], "decode": ["decode", out, "-o", tmp_path / "d.npz"],
            "info": ["info", out], "verify": ["verify", out], "diff": ["diff", source, source],
            "rd": ["rd", source, "--out", tmp_path / "rd.csv"], "demo": ["demo"],
            "bench": ["bench", source, "--presets", "lossless", "--repeat", "1"]}
    assert set(runs) == set(COMMANDS)
    for i, (verb, argv) in enumerate(runs.items()):
        quiet = ["-q", *argv] if i % 2 else [*argv, "--quiet"]  # before or after the verb
        assert run(capsys, *quiet) == (0, "", ""), verb
        code, stdout, err = run(capsys, *quiet, "--json")
        assert code == 0 and json.loads(stdout) and err == "", verb


def test_rd_writes_csv(tmp_path, capsys, model):
    source, _ = model
    code, stdout, _ = run(capsys, "rd", source, "--out", tmp_path / "rd.csv", "--json")
    lines = (tmp_path / "rd.csv").read_text().splitlines()
    assert code == 0 and lines[0].startswith("bytes,") and len(lines) == json.loads(stdout)["points"] + 1


def test_rd_writes_plot(tmp_path, capsys, model):
    optional("matplotlib")
    source, _ = model
    code, _, _ = run(capsys, "rd", source, "--out", tmp_path / "rd.csv", "--plot", tmp_path / "rd.png")
    assert code == 0 and (tmp_path / "rd.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_json(capsys, model):
    source, weights = model
    code, stdout, _ = run(capsys, "bench", source, "--presets", "lossless,fp16", "--repeat", "1", "--json")
    rows = json.loads(stdout)["presets"]
    assert code == 0 and [r["preset"] for r in rows] == ["lossless", "fp16"]
    assert rows[0]["sqnr_db"] is None and rows[1]["ratio"] > 1.5  # an exact copy's infinite SQNR is null in JSON


def test_global_options_before_the_command(tmp_path, capsys, model):
    source, _ = model
    out = tmp_path / "m.nnc"
    code, stdout, _ = run(capsys, "--json", "--jobs", "1", "encode", source, "-o", out)
    assert code == 0 and json.loads(stdout)["tensors"] == 4


def test_python_dash_m_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nncodec", "info", str(tmp_path / "absent.nnc")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_output_dash_is_stdout_for_encode_and_refused_elsewhere(tmp_path, capsys, model, monkeypatch):
    source, weights = model
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "nncodec", "encode", str(source), "-o", "-"], capture_output=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": root}, timeout=120)
    assert done.returncode == 0 and done.stderr.startswith(b"wrote -:")  # the summary keeps off the data
    decoded = nncodec.decode(done.stdout)
    assert all(np.array_equal(decoded[name], array) for name, array in weights.items())
    monkeypatch.chdir(tmp_path)
    nncodec.save("m.nnc", weights)
    for argv in (["decode", "m.nnc", "-o", "-"], ["rd", source, "--out", "-"], ["encode", source, "-o", "-", "--json"],
                 ["encode", source, "-o", "-", "--stream"]):
        code, stdout, err = run(capsys, *argv)
        assert code == 2 and stdout == "" and "give a file name" in err and err.count("\n") == 1, argv
    assert not (tmp_path / "-").exists()


def test_write_errors_name_the_users_path(tmp_path, capsys, model):
    """Outputs are written through a temporary file: its name never reaches the user, nor stays behind, and
    the file gets the permissions of any new file."""
    source, weights = model
    (tmp_path / "taken").mkdir()
    for target in (tmp_path / "absent" / "m.nnc", tmp_path / "taken"):
        for extra in ([], ["--stream"]):
            code, _, err = run(capsys, "encode", source, "-o", target, *extra)
            assert code == 2 and err.rstrip().endswith(f"'{target}'") and ".nncodec-" not in err, err
        with pytest.raises(OSError) as refused:
            nncodec.save(target, weights)
        assert refused.value.filename == str(target)
        with pytest.raises(OSError) as refused:
            with nncodec.Writer(target) as writer:
                writer.add("w", weights["fc.weight"])
        assert refused.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["model.npz", "taken"]
    old = os.umask(0o022)
    try:
        nncodec.save(tmp_path / "m.nnc", weights)
        assert main(["encode", str(source), "-o", str(tmp_path / "c.nnc"), "-q"]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "m.nnc").stat().st_mode & 0o777 == (tmp_path / "c.nnc").stat().st_mode & 0o777 == 0o644


def test_presets_quality_mapping_is_monotonic_and_checked():
    ks = [int(presets.preset_options("deep-compression", q)["quantize"].split("k=")[1].split(",")[0])
          for q in (0, 50, 100)]
    assert ks == sorted(ks) and ks[0] == 4 and ks[-1] == 256
    sparsity = [float(presets.preset_options("runtime", q)["prune"].split(":")[1]) for q in (0, 100)]
    assert sparsity[0] > sparsity[1]
    assert presets.preset_options("deepcabac", sqnr=33)["quantize"] == "dq:sqnr=33,scope=model"
    for bad in (dict(name="fp16", quality=10), dict(name="runtime", sqnr=30), dict(name="deepcabac", quality=101),
                dict(name="deepcabac", quality=50, sqnr=30), dict(name="zip")):
        with pytest.raises(EncodeError):
            presets.preset_options(**bad)


def test_encode_takes_a_preset_as_the_torch_adapter_does():
    torch = optional("torch", "torch")
    from nncodec.torch import encode_state_dict
    rng = np.random.default_rng(4)
    weights = {"w": rng.standard_normal((64, 64)).astype(np.float32), "b": np.ones(64, np.float32)}
    for name, knobs in (("fp16", {}), ("deepcabac", {"quality": 40}), ("deepcabac", {"sqnr": 25}),
                        ("runtime", {"quality": 10})):
        blob = nncodec.encode(weights, preset=name, metadata={"model": "m"}, **knobs)
        assert blob == encode_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, preset=name,
                                         metadata={"model": "m"}, **knobs)
        with nncodec.open(blob) as reader:
            assert reader.metadata["model"] == "m"
            assert json.loads(reader.metadata[presets.PRESET_KEY])["name"] == name
    fp16 = nncodec.decode(nncodec.encode(weights, preset="fp16"))
    assert np.array_equal(fp16["w"], weights["w"].astype(np.float16).astype(np.float32))
    override = nncodec.encode(weights, preset="fp16", cast=None)  # explicit keywords replace the preset's
    assert np.array_equal(nncodec.decode(override)["w"], weights["w"])
    for bad in (dict(preset="zip"), dict(quality=50), dict(sqnr=30), dict(preset="fp16", quality=50)):
        with pytest.raises(EncodeError):
            nncodec.encode(weights, **bad)


class _Terminal:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_draws_only_on_a_terminal():
    for tty in (True, False):
        stream = _Terminal(tty)
        with Progress("encode", 2, 2**21, stream=stream) as bar:
            bar.advance("a", 2**20)
            bar.advance("b", 2**20)
        assert ("2/2 tensors, 2.0/2.0 MiB" in stream.text) == tty
        assert stream.text.endswith("\n") == tty


def test_progress_shows_the_end_of_long_names_and_counts_configurations(tmp_path, monkeypatch, model):
    stream = _Terminal(True)
    with Progress("encode", 2, 2**21, stream=stream) as bar:
        for i in (2, 3):
            bar.advance(f"module.FeatureExtraction.ConvNet.{i}.weight", 2**20)
    frames = stream.text.strip("\r\n").split("\r")
    assert frames[-1].endswith("ConvNet.3.weight") and frames[0].rstrip().endswith("ConvNet.2.weight")
    source, _ = model
    terminal = _Terminal(True)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["rd", str(source), "--out", str(tmp_path / "rd.csv")]) == 0
    points = len((tmp_path / "rd.csv").read_text().splitlines()) - 1
    assert f"{points}/{points} configurations" in terminal.text and "MiB" not in terminal.text


@pytest.mark.parametrize("preset", [None, "deepcabac"])
def test_stream_encode_equals_in_memory_encode(tmp_path, capsys, model, preset):
    source, weights = model
    from nncodec.io import write_weights
    st = tmp_path / "model.safetensors"
    write_weights(st, weights)
    knobs = ["--preset", preset, "--quality", "40"] if preset else ["--compress", "auto"]
    assert run(capsys, "encode", st, "-o", tmp_path / "a.nnc", "-q", *knobs)[0] == 0
    assert run(capsys, "encode", st, "-o", tmp_path / "b.nnc", "-q", "--stream", *knobs)[0] == 0
    assert (tmp_path / "a.nnc").read_bytes() == (tmp_path / "b.nnc").read_bytes()
    code, _, err = run(capsys, "encode", st, "-o", tmp_path / "c.nnc", "--stream", "--prune", "magnitude:0.5,scope=global")
    assert code == 2 and "global" in err


def test_json_output_is_strict_and_names_are_real(tmp_path, capsys):
    w = {"layer.weight": np.arange(12, dtype=np.float32).reshape(3, 4)}
    np.savez(tmp_path / "w.npz", **w)
    nncodec.save(tmp_path / "w.nnc", w)
    assert main(["--json", "diff", str(tmp_path / "w.npz"), str(tmp_path / "w.nnc")]) == 0
    out = capsys.readouterr().out
    document = json.loads(out, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    assert document  # an exact copy's SQNR is infinite: written as null, not Infinity
    assert "Infinity" not in out and "NaN" not in out


def test_shape_mismatch_names_the_tensor():
    from nncodec.cli.commands import _fidelity
    from nncodec.quant.metrics import sqnr_db
    with pytest.raises(EncodeError, match="'conv.weight': shapes differ"):
        _fidelity({"conv.weight": np.zeros(3)}, {"conv.weight": np.zeros(4)})
    with pytest.raises(EncodeError, match="'x'"):
        sqnr_db({"x": np.zeros(3)}, {"x": np.zeros(2)})


@pytest.mark.parametrize("repeat", ["0", "-1", "two"])
def test_bench_repeat_must_be_positive(tmp_path, repeat):
    np.savez(tmp_path / "w.npz", w=np.zeros(4, np.float32))
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(tmp_path / "w.npz"), "--repeat", repeat])
    assert exit_info.value.code == 2


def test_rd_plot_without_matplotlib_fails_before_the_sweep(tmp_path, monkeypatch):
    import importlib.util
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    monkeypatch.setattr("nncodec.encoder.rd.rd_sweep", lambda *a, **k: pytest.fail("the sweep ran before the check"))
    np.savez(tmp_path / "w.npz", w=np.zeros(4, np.float32))
    assert main(["-q", "rd", str(tmp_path / "w.npz"), "--out", str(tmp_path / "rd.csv"),
                     "--plot", str(tmp_path / "rd.png")]) == 2
    assert not (tmp_path / "rd.csv").exists()


def test_decode_accepts_a_path(tmp_path):
    w = np.arange(6, dtype=np.float32)
    nncodec.save(tmp_path / "w.nnc", w)
    for path in (tmp_path / "w.nnc", str(tmp_path / "w.nnc")):
        np.testing.assert_array_equal(nncodec.decode(path), w)


def test_lossy_recommendations_use_one_step_for_the_model():
    """The demo's lossy example and the deepcabac preset quantize with one step for the model (scope=model), not
    per-channel SQNR targets (axis=0, several % more bytes at equal SQNR: bench/bench_rd.py), and code the
    tensors they keep lossless (compress="auto")."""
    from nncodec.cli.commands import DEMO_CONFIGS
    from nncodec.quant import parse_quantizer
    lossy = [options for _, options in DEMO_CONFIGS if "quantize" in options]
    deepcabac = [presets.preset_options("deepcabac", quality=q) for q in (0, 75, 100)]
    assert lossy and len(deepcabac) == 3
    for options in lossy + deepcabac:
        quantizer = parse_quantizer(options["quantize"])
        assert quantizer.scope == "model" and quantizer.axis is None
        assert options["compress"] == "auto"


def test_demo_json_is_one_document(capsys):
    code, stdout, _ = run(capsys, "--json", "demo")
    document = json.loads(stdout)
    assert code == 0 and len(document["results"]) == 3
    assert document["results"][0]["check"] == "lossless round trip OK" and document["results"][0]["tensors"]
    code, stdout, _ = run(capsys, "-q", "demo")
    assert code == 0 and stdout == ""
