"""A Hugging Face checkpoint at scale through the CLI: a ~2 GB bfloat16 sharded checkpoint (transformer-shaped,
Gaussian weights with per-row scales) is generated in a temporary directory, then

    nncodec encode DIR -o x.nnc --compress auto --jobs J
    nncodec decode x.nnc -o OUT --shard-size 500MB --jobs J

run as child processes. For each: wall time, MB/s of checkpoint bytes, peak RSS (the kernel's, from wait4) and the
peak of its anonymous part (RssAnon, sampled from /proc every 20 ms: RSS also counts the file pages of the memory
maps, which the kernel can drop at any time), against the target of the largest tensor + 256 MiB, and CPU use (user
+ system seconds over wall seconds: 2.0 is both cores busy; the load average is printed beside it, as other
processes take their share of a shared machine) with the mean number of the child's threads that are runnable
(state R in /proc, sampled: running or waiting for a core), which shows the parallelism asked for whatever the
load. Generating and comparing run in child processes of their own, so
the measuring process stays small (a child's peak RSS starts from its parent's at fork). The decoded checkpoint is
compared with the input tensor by tensor. Everything is deleted at the end.

    nice python bench/bench_checkpoint.py [--gb 2] [--vocab 32000] [--jobs 2] [--keep DIR]
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from _common import machine  # noqa: E402
from nncodec.format.dtypes import BFLOAT16, numpy_dtype  # noqa: E402
from nncodec.io import open_checkpoint  # noqa: E402
from nncodec.io.checkpoint import INDEX_NAME  # noqa: E402
from nncodec.io.safetensors import write_safetensors  # noqa: E402

MIB = 2**20
TARGET_SLACK = 256 * MIB
ROOT = pathlib.Path(__file__).resolve().parents[1]


def transformer_shapes(gigabytes, vocab=32000, hidden=2048, intermediate=5632):
    """(name, shape) of a Llama-like model of about ``gigabytes`` GB in bf16: embeddings and lm_head (the largest
    tensors), then as many layers (attention, MLP, two norms) as fit."""
    shapes = [("model.embed_tokens.weight", (vocab, hidden))]
    layer = [("self_attn.q_proj.weight", (hidden, hidden)), ("self_attn.k_proj.weight", (hidden, hidden)),
             ("self_attn.v_proj.weight", (hidden, hidden)), ("self_attn.o_proj.weight", (hidden, hidden)),
             ("mlp.gate_proj.weight", (intermediate, hidden)), ("mlp.up_proj.weight", (intermediate, hidden)),
             ("mlp.down_proj.weight", (hidden, intermediate)), ("input_layernorm.weight", (hidden,)),
             ("post_attention_layernorm.weight", (hidden,))]
    per_layer = sum(2 * int(np.prod(s)) for _, s in layer)
    layers = max(1, round((gigabytes * 1e9 - 4 * vocab * hidden) / per_layer))
    for i in range(layers):
        shapes += [(f"model.layers.{i}.{name}", shape) for name, shape in layer]
    return shapes + [("model.norm.weight", (hidden,)), ("lm_head.weight", (vocab, hidden))]


def generate(directory, shapes, shard_bytes, seed=0):
    """Write the checkpoint as transformers does (shards of at most ``shard_bytes``, an index, {"format": "pt"});
    returns (total bytes, largest tensor bytes)."""
    rng = np.random.default_rng(seed)
    bf16 = numpy_dtype(BFLOAT16)
    shards, size = [[]], 0
    for name, shape in shapes:
        nbytes = 2 * int(np.prod(shape))
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    weight_map = {}
    for k, shard in enumerate(shards):
        file = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for name, shape in shard:
            if len(shape) == 1:
                tensors[name] = (1 + rng.standard_normal(shape, dtype=np.float32) / 16).astype(bf16)
            else:  # per-row scales, as trained projections have
                scales = np.exp(rng.standard_normal((shape[0], 1), dtype=np.float32) / 4) * 0.02
                tensors[name] = (rng.standard_normal(shape, dtype=np.float32) * scales).astype(bf16)
        write_safetensors(directory / file, tensors, {"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, file))
        del tensors
    sizes = [2 * int(np.prod(shape)) for _, shape in shapes]
    index = {"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map}
    (directory / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True))
    return sum(sizes), max(sizes)


def _status(pid):
    """{field: bytes} of VmRSS, RssAnon and RssFile of a running process (empty once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f
                    if line.startswith(("VmRSS:", "RssAnon:", "RssFile:"))}
    except (OSError, ValueError, IndexError):
        return {}


def _runnable_threads(pid):
    """How many of the process's threads are in state R (running or runnable)."""
    count = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                count += f.read().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, IndexError):
        pass
    return count


def run_measured(argv):
    """Run ``argv``; (wall s, user+sys s, peak RSS bytes (the kernel's, or the sampled one if larger), peak RssAnon
    bytes, peak RssFile bytes, mean runnable threads)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT)
    peaks = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    runnable = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            for key, value in _status(child.pid).items():
                if key in peaks:
                    peaks[key] = max(peaks[key], value)
            runnable.append(_runnable_threads(child.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(argv)} failed with exit code {child.returncode}")
    return (wall, usage.ru_utime + usage.ru_stime, max(usage.ru_maxrss * 1024, peaks["VmRSS"]), peaks["RssAnon"],
            peaks["RssFile"], sum(runnable) / max(1, len(runnable)))


def compare(a, b):
    """Tensors of checkpoint ``b`` equal those of ``a`` (names, dtypes, shapes, bytes); returns the count."""
    with open_checkpoint(a) as x, open_checkpoint(b) as y:
        assert sorted(x) == sorted(y), "tensor names differ"
        for name, array in x.tensors():
            other = y[name]
            assert array.dtype == other.dtype and array.shape == other.shape and np.array_equal(
                array.view(np.uint16), other.view(np.uint16)), name
        assert x.metadata == y.metadata, (x.metadata, y.metadata)
        return len(x)


def child(task, *arguments):
    """The work done in a child process: ``generate DIR GB VOCAB SHARD_MB`` or ``compare A B``; prints its result."""
    if task == "generate":
        directory, gigabytes, vocab, shard_mb = arguments
        shapes = transformer_shapes(float(gigabytes), int(vocab))
        print(json.dumps(generate(pathlib.Path(directory), shapes, int(shard_mb) * 10**6)))
    else:
        print(compare(*arguments))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="checkpoint size in GB (default 2)")
    parser.add_argument("--vocab", type=int, default=32000, help="rows of the embedding and lm_head, the largest "
                        "tensors (default 32000: 125 MiB each; 128000: 500 MiB)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of both commands (default 2)")
    parser.add_argument("--input-shard-mb", type=int, default=1000, help="input shard size in MB (default 1000)")
    parser.add_argument("--keep", help="work in this directory and keep it (default: a temporary one, deleted)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # generate DIR GB VOCAB SHARD_MB | compare A B
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    work = pathlib.Path(args.keep) if args.keep else pathlib.Path(tempfile.mkdtemp(prefix="nncodec-ckpt-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        shapes = transformer_shapes(args.gb, args.vocab)
        t0 = time.perf_counter()
        (work / "in").mkdir(exist_ok=True)
        total, largest = json.loads(subprocess.run(
            [sys.executable, __file__, "--child", "generate", str(work / "in"), str(args.gb), str(args.vocab),
             str(args.input_shard_mb)],
            check=True, capture_output=True, text=True).stdout)
        print(f"machine: {machine()}; load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"checkpoint: {len(shapes)} bf16 tensors, {total / 1e9:.3f} GB in "
              f"{len(list((work / 'in').glob('*.safetensors')))} shards, largest tensor {largest / MIB:.1f} MiB "
              f"(generated in {time.perf_counter() - t0:.0f} s)")
        target = largest + TARGET_SLACK
        cli = [sys.executable, "-m", "nncodec", "--jobs", str(args.jobs)]
        runs = {"encode": cli + ["encode", str(work / "in"), "-o", str(work / "x.nnc"), "--compress", "auto"],
                "decode": cli + ["decode", str(work / "x.nnc"), "-o", str(work / "out"), "--shard-size", "500MB"]}
        results = {"total_bytes": total, "largest_tensor_bytes": largest, "target_bytes": target,
                   "jobs": args.jobs}
        for verb, argv in runs.items():
            wall, cpu, rss, anon, file, runnable = run_measured(argv)
            results[verb] = {"wall_s": wall, "MB_per_s": total / 1e6 / wall, "cpu_s": cpu, "cpu_per_wall": cpu / wall,
                             "mean_runnable_threads": runnable,
                             "peak_rss": rss, "peak_anon": anon, "peak_file_rss": file, "rss_within_target": rss <= target}
            print(f"{verb}: {wall:.1f} s, {total / 1e6 / wall:.0f} MB/s, CPU {cpu:.1f} s = {cpu / wall:.2f} cores "
                  f"busy, {runnable:.2f} threads runnable on average, peak RSS {rss / MIB:.0f} MiB (anonymous {anon / MIB:.0f} MiB, mapped files "
                  f"{file / MIB:.0f} MiB) against the target {target / MIB:.0f} MiB: "
                  f"{'within' if rss <= target else 'OVER'} (load average {os.getloadavg()[0]:.1f})")
        container = (work / "x.nnc").stat().st_size
        results["container_bytes"] = container
        results["ratio"] = container / total
        results["tensors_checked"] = int(subprocess.run(
            [sys.executable, __file__, "--child", "compare", str(work / "in"), str(work / "out")],
            check=True, capture_output=True, text=True).stdout)
        results["load_average"] = os.getloadavg()
        print(f"container {container / 1e9:.3f} GB ({container / total:.3f} of the checkpoint); decoded checkpoint "
              f"equals the input ({results['tensors_checked']} tensors, dtypes and __metadata__), "
              f"{len(list((work / 'out').glob('*.safetensors')))} shards written")
        print(json.dumps(results))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
