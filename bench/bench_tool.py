"""The tool's figures (issue #6): info latency on a 100-tensor container, deepcabac encode+decode at 1 vs 2 jobs,
peak memory of a streaming encode of a 2 GB synthetic model, and .npz / .safetensors read speed (our reader
against the safetensors package).

    nice python bench/bench_tool.py [info|jobs|threads|stream|read|all] [--repeat N] [--stream-gb 2]

Every figure is a median over ``--repeat`` runs; jobs=1 and jobs=2 runs alternate, so both see the same load.
The streaming measurement runs in a fresh subprocess and reads its peak RSS with resource.getrusage.
"""

import argparse
import contextlib
import io
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import nncodec  # noqa: E402
from nncodec.cli import main as cli_main  # noqa: E402
from nncodec.io.safetensors import read_safetensors, write_safetensors  # noqa: E402

from _common import SHARED_NPZ, load_weights, machine  # noqa: E402

MIB = 2**20


def load():
    return os.getloadavg()[0]


def bench_info(repeat, folder):
    """Median wall time of ``nncodec info`` on a 100-tensor container: in-process, and as a new process next to
    the floors of a new interpreter (``python -c pass``, ``import numpy``, ``import nncodec.cli``)."""
    rng = np.random.default_rng(0)
    weights = {f"block{i}.weight": rng.standard_normal((256, 256)).astype(np.float32) for i in range(100)}
    path = folder / "hundred.nnc"
    nncodec.save(path, weights, compress="zstd")
    inproc = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli_main(["info", str(path)]) == 0
        inproc.append(time.perf_counter() - t0)
    root = pathlib.Path(__file__).resolve().parents[1]
    # an installed package has its bytecode compiled; with PYTHONDONTWRITEBYTECODE=1 (as on the shared machine)
    # a source tree is compiled again by every process. "cached": bytecode kept in a private pycache folder.
    plain = dict(os.environ)
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    info = ["-m", "nncodec", "info", str(path)]
    commands = {"new_process_ms": (info, plain), "new_process_bytecode_cached_ms": (info, cached),
                "python_floor_ms": (["-c", "pass"], plain), "import_numpy_ms": (["-c", "import numpy"], plain),
                "import_nncodec_cli_ms": (["-c", "import nncodec.cli"], plain)}
    subprocess.run([sys.executable, *info], check=True, capture_output=True, cwd=root, env=cached)  # compiles
    times = {key: [] for key in commands}
    cpu = {key: [] for key in commands}
    for _ in range(repeat):
        for key, (argv, env) in commands.items():  # interleaved: every command sees the same load
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, *argv], check=True, capture_output=True, cwd=root, env=env)
            times[key].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[key].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    result = {"file_bytes": path.stat().st_size, "in_process_ms": 1e3 * statistics.median(inproc)}
    result.update({key: 1e3 * statistics.median(t) for key, t in times.items()})
    result.update({key.replace("_ms", "_cpu_ms"): 1e3 * statistics.median(t) for key, t in cpu.items()})
    return result


def bench_jobs(repeat):
    """deepcabac encode + decode of the EasyOCR weights at jobs=1 and jobs=2, alternating; medians and ratio."""
    label, weights = load_weights(SHARED_NPZ)
    times = {1: [], 2: []}
    sizes = set()
    loads = [load()]
    for _ in range(repeat):
        for jobs in (1, 2):
            t0 = time.perf_counter()
            blob = nncodec.encode(weights, preset="deepcabac", jobs=jobs)
            nncodec.decode(blob, jobs=jobs)
            times[jobs].append(time.perf_counter() - t0)
            sizes.add(len(blob))
        loads.append(load())
    assert len(sizes) == 1, "the bytes must not depend on jobs"
    one, two = statistics.median(times[1]), statistics.median(times[2])
    return {"weights": label, "bytes": sizes.pop(), "jobs1_s": one, "jobs2_s": two, "speedup": one / two,
            "runs_jobs1": times[1], "runs_jobs2": times[2], "load_avg_1min": loads}


def _timed(table, key, function):
    """``function`` that adds the calling thread's CPU time (time.thread_time) of each call to ``table[key]``
    (``key`` None: to ``table[thread id]``)."""
    def wrapper(*args, **kwargs):
        t0 = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            slot = threading.get_ident() if key is None else key
            table[slot] = table.get(slot, 0.0) + time.thread_time() - t0
    return wrapper


def bench_threads(repeat):
    """Where deepcabac encode + decode of the EasyOCR weights spends CPU time, and how it spreads over threads.

    jobs=1: thread CPU time inside the Cython kernels that release the GIL (trellis search, CABAC coder,
    dequantization) against the whole run's. jobs=1 and jobs=2, alternating: wall time, process CPU time and the
    CPU time of each thread in the per-tensor work of ``nncodec.kernels.parallel.map_ordered``; medians over the runs.
    """
    from nncodec.kernels import parallel
    from nncodec.kernels.cython import cabac, dequant, trellis
    label, weights = load_weights(SHARED_NPZ)
    kernels, per_thread, outer = {}, {}, parallel.map_ordered
    originals = [(trellis, "trellis_levels", trellis.trellis_levels), (cabac, "encode", cabac.encode),
                 (cabac, "decode", cabac.decode), (dequant, "dependent", dequant.dependent)]
    for module, name, function in originals:
        setattr(module, name, _timed(kernels, f"{module.__name__.rsplit('.', 1)[-1]}.{name}", function))
    inside = threading.local()

    def per_item(function):
        def run(item):  # nested map_ordered calls run inside an outer item: count the outermost only
            if getattr(inside, "depth", 0):
                return function(item)
            inside.depth = 1
            try:
                return _timed(per_thread, None, function)(item)
            finally:
                inside.depth = 0
        return run

    parallel.map_ordered = lambda function, items, jobs=None, cost=None: outer(per_item(function), items, jobs, cost)
    rows = {1: [], 2: []}
    try:
        for _ in range(repeat):
            for jobs in (1, 2):
                kernels.clear()
                per_thread.clear()
                before, t0, c0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), time.thread_time()
                blob = nncodec.encode(weights, preset="deepcabac", jobs=jobs)
                nncodec.decode(blob, jobs=jobs)
                wall, main_cpu = time.perf_counter() - t0, time.thread_time() - c0
                after = resource.getrusage(resource.RUSAGE_SELF)
                rows[jobs].append({"wall_s": wall, "main_thread_cpu_s": main_cpu,
                                   "process_cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                                   "thread_cpu_s": sorted(per_thread.values(), reverse=True),
                                   "kernels_cpu_s": dict(kernels), "load_avg_1min": load()})
    finally:
        parallel.map_ordered = outer
        for module, name, function in originals:
            setattr(module, name, function)
    result = {"weights": label}
    for jobs, runs in rows.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["process_cpu_s"] for r in runs)
        result[f"jobs{jobs}"] = {"wall_s": wall, "process_cpu_s": cpu, "cpu_per_wall_s": cpu / wall, "runs": runs}
    result["nogil_kernel_share_jobs1"] = statistics.median(sum(r["kernels_cpu_s"].values()) / r["main_thread_cpu_s"]
                                                           for r in rows[1])
    result["speedup_wall"] = result["jobs1"]["wall_s"] / result["jobs2"]["wall_s"]
    return result


STREAM_CHILD = r"""
import resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import nncodec
path, total, largest, mode = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
base = rss()
if mode == "read":  # tensor by tensor, each copied out of the memory map, checked and dropped
    def anonymous():  # private memory; the rest of RSS is the file's mapped (clean, reclaimable) pages
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("RssAnon:"))
    t0 = time.perf_counter()
    checked, anon_peak = 0, anonymous()
    with nncodec.open(path) as reader:
        for name in reader:
            array = reader.decode_tensor(name, copy=True)
            anon_peak = max(anon_peak, anonymous())
            checked += int(array.size)
            del array
    print(f'{{"read_baseline_rss": {base}, "read_peak_rss": {rss()}, "read_peak_anonymous": {anon_peak}, '
          f'"read_s": {time.perf_counter() - t0}, "elements_read": {checked}}}')
    sys.exit(0)
sizes = []
left = total
while left > 0:  # one largest tensor, then halves and quarters of it: a realistic spread of sizes
    for share in (1, 2, 4, 4):
        size = min(left, largest // share)
        if size > 0:
            sizes.append(size)
            left -= size
block = np.random.default_rng(0).standard_normal(1 << 20, dtype=np.float32)
t0 = time.perf_counter()
with nncodec.Writer(path, compress="none") as writer:
    for i, size in enumerate(sizes):
        tensor = np.empty(size // 4, dtype=np.float32)
        for start in range(0, tensor.size, block.size):
            tensor[start:start + block.size] = block[:tensor.size - start]
        writer.add(f"t{i}", tensor.reshape(-1, 1024))
        del tensor
seconds = time.perf_counter() - t0
print(f'{{"tensors": {len(sizes)}, "total": {sum(sizes)}, "largest": {max(sizes)}, "baseline_rss": {base}, '
      f'"write_peak_rss": {rss()}, "write_s": {seconds}}}')
"""


def bench_stream(gigabytes, largest_mib, folder):
    """Peak RSS of a Writer encoding a synthetic model of ``gigabytes`` GB (largest tensor ``largest_mib``)."""
    path = folder / "big.nnc"
    root = str(pathlib.Path(__file__).resolve().parents[1])
    result = {}
    for mode in ("write", "read"):  # separate processes: ru_maxrss is a lifetime maximum
        done = subprocess.run([sys.executable, "-c", STREAM_CHILD, root, str(path), str(int(gigabytes * 2**30)),
                               str(largest_mib * MIB), mode], check=True, capture_output=True, text=True)
        result.update(json.loads(done.stdout))
    result["file_bytes"] = path.stat().st_size
    result["bound"] = 1.5 * result["largest"] + 200 * MIB
    path.unlink()
    return result


def bench_read(repeat, folder):
    """Read the EasyOCR weights from .npz and .safetensors: np.load, our reader (copy and mmap views), the package."""
    label, weights = load_weights(SHARED_NPZ)
    npz, st = folder / "w.npz", folder / "w.safetensors"
    np.savez(npz, **weights)
    write_safetensors(st, weights)
    from safetensors.numpy import load_file

    def np_load():
        with np.load(npz, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    cases = {"npz (np.load)": np_load, "safetensors, ours (copies)": lambda: read_safetensors(st)[0],
             "safetensors, ours (mmap views)": lambda: read_safetensors(st, copy=False)[0],
             "safetensors, package load_file": lambda: load_file(str(st))}
    times = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():  # interleaved: every reader sees the same load
            t0 = time.perf_counter()
            arrays = fn()
            times[name].append(time.perf_counter() - t0)
            assert sorted(arrays) == sorted(weights)
    return {"weights": label, "bytes": sum(a.nbytes for a in weights.values()),
            "median_ms": {name: 1e3 * statistics.median(t) for name, t in times.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", default="all", choices=("info", "jobs", "threads", "stream", "read", "all"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stream-gb", type=float, default=2.0)
    parser.add_argument("--largest-mib", type=int, default=256)
    args = parser.parse_args()
    print(f"machine: {machine()}; backend {nncodec.backend}; cores {os.cpu_count()}; "
          f"load average (1 min) at start {load():.2f}")
    with tempfile.TemporaryDirectory(dir=pathlib.Path(__file__).resolve().parent) as tmp:
        folder = pathlib.Path(tmp)
        if args.what in ("info", "all"):
            print("info:", json.dumps(bench_info(args.repeat, folder)))
        if args.what in ("read", "all"):
            print("read:", json.dumps(bench_read(args.repeat, folder)))
        if args.what in ("stream", "all"):
            print("stream:", json.dumps(bench_stream(args.stream_gb, args.largest_mib, folder)))
        if args.what in ("jobs", "all"):
            print("jobs:", json.dumps(bench_jobs(args.repeat)))
        if args.what == "threads":
            print("threads:", json.dumps(bench_threads(args.repeat)))
    print(f"load average (1 min) at end {load():.2f}")


if __name__ == "__main__":
    main()
