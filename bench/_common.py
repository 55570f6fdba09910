"""Helpers shared by the benchmarks: the weights to measure, timing medians, machine facts and the live peer."""

import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_NPZ = ROOT.parent / "shared" / "data" / "easyocr_english_g2.npz"


def load_weights(path=None):
    """(label, {name: array}): the given .npz, ../shared's CRNN weights, or a synthetic Laplacian set."""
    path = pathlib.Path(path) if path else SHARED_NPZ
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return path.name, {k: z[k] for k in z.files}
    rng = np.random.default_rng(0)
    shapes = [(256, 128, 3, 3), (256,), (512, 256), (512,), (1024, 512), (1024,), (10, 1024)]
    return "synthetic Laplacian (3 M params)", {
        f"layer{i}": rng.laplace(0, 0.02, size=s).astype(np.float32) for i, s in enumerate(shapes)}


def median_time(fn, repeat):
    """Median wall time of ``fn()`` over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


class PeerUnavailable(RuntimeError):
    """The peer (Fraunhofer NNCodec, in its own venv) could not be run."""


def _peer_python():
    python = os.environ.get("NNCODEC_PEER_PYTHON")
    if not python or not os.path.exists(python):
        raise PeerUnavailable("NNCODEC_PEER_PYTHON is not set to NNCodec's venv python (see bench/PEER.md)")
    return python


def run_peer(script, arguments):
    """The JSON result of ``bench/<script> arguments... --out FILE`` run now under ``$NNCODEC_PEER_PYTHON``
    (bench/PEER.md). Raises :class:`PeerUnavailable` saying why: a benchmark never falls back to old numbers."""
    python = _peer_python()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "peer.json")
        done = subprocess.run([python, str(ROOT / "bench" / script), *map(str, arguments), "--out", out],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise PeerUnavailable(f"{script} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
        with open(out) as f:
            return json.load(f)


def peer_or_exit(no_peer, script=None, arguments=()):
    """``run_peer(script, arguments)``, None when ``no_peer`` (the table then says "not run"), or exit with the
    reason. Without ``script``, only checks that the peer can be started (call it before measuring anything)."""
    if no_peer:
        return None
    try:
        return run_peer(script, arguments) if script else _peer_python()
    except PeerUnavailable as exc:
        sys.exit(f"the peer could not run: {exc}\n(pass --no-peer to measure nncodec alone; the table then says so)")


def total_sqnr_db(reference, decoded):
    """``10 log10(sum w^2 / sum (w - w_hat)^2)`` over every tensor of ``reference`` together, in float64 (inf when
    nothing changed). bench_rd.py measures ours and peer_nncodec_rd.py NNCodec's output with it, so that both
    codecs are measured alike whatever nncodec's own metrics report (imports only NumPy: runs in the peer venv)."""
    signal = error = 0.0
    for name, w in reference.items():
        w = np.asarray(w, dtype=np.float64)
        r = np.asarray(decoded[name], dtype=np.float64).reshape(w.shape)
        signal += float(np.sum(w * w))
        error += float(np.sum((w - r) ** 2))
    return float("inf") if error == 0.0 else 10.0 * np.log10(signal / error)
