"""Helpers shared by the benchmarks: the weights to measure, timing medians and machine facts."""

import os
import pathlib
import platform
import statistics
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
