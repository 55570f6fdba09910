"""Products on what ``decode(materialize=False)`` returns, against scipy CSR and dense NumPy; lazy vs materialized
decode time; memory of the decoded structures (issue 18's figures).

4096 x 4096 float32 matrices whose non-zero values come from a k-entry table (10% / 32 values and 30% / 16), stored
with ``layout=csr|cer|cser|relidx`` and decoded lazily: the objects timed are exactly what ``decode`` returns. Every
round runs every contender once (rows timed interleaved); the tables give the median wall time and the median
CPU time of the calling thread (``time.thread_time``; on a loaded machine the CPU time is the steadier figure).

Thread counts are equal on both sides: the script runs itself once per count in a subprocess that sets
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before NumPy is imported (so dense NumPy's BLAS uses that many threads) and
passes ``threads=`` to every nncodec product. scipy's sparse product is single-threaded: it appears in the 1-thread
run only. The all-cores run reports CPU time of the whole process (``time.process_time``).

Usage: nice python bench/bench_layouts_matmul.py [--rounds 21] [--threads 1,all] [--sections products,decode]
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
STORED = ("csr", "cer", "cser", "relidx")
CASES = ((0.10, 32), (0.30, 16))
N = 4096


def quantized_matrix(np, rng, shape, density, distinct):
    """``density`` of the elements non-zero, each one of ``distinct`` table values (normal, scale 0.05)."""
    table = (rng.standard_normal(distinct) * 0.05).astype(np.float32)
    a = table[rng.integers(0, distinct, size=shape)]
    a[rng.random(shape) >= density] = 0
    return a


def interleaved(contenders, rounds, clock):
    """{name: (median wall seconds, median CPU seconds)}: one warm-up each, then ``rounds`` rounds of every one."""
    for fn in contenders.values():
        fn()
    wall = {name: [] for name in contenders}
    cpu = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            c0, w0 = clock(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(clock() - c0)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in contenders}


def products(threads, rounds):
    import numpy as np
    import nncodec
    rng = np.random.default_rng(0)
    clock = time.thread_time if threads == 1 else time.process_time
    try:
        import scipy.sparse as sp
    except ImportError:
        sp = None
    rows, memory = [], []
    print(f"\n## products, {threads} thread(s): ms wall / ms CPU (medians of {rounds} interleaved rounds)")
    print("| density / values | batch | dense NumPy | scipy CSR | " + " | ".join(STORED) + " |")
    print("|---|---|---|---|" + "---|" * len(STORED))
    for density, distinct in CASES:
        a = quantized_matrix(np, rng, (N, N), density, distinct)
        decoded = {layout: nncodec.decode(nncodec.encode({"w": a}, layout=layout), materialize=False)["w"]
                   for layout in STORED}
        s = sp.csr_matrix(a) if sp is not None and threads == 1 else None
        for batch in (1, 64):
            x = rng.standard_normal((N, batch)).astype(np.float32)
            x = np.ascontiguousarray(x[:, 0]) if batch == 1 else x
            contenders = {"dense": lambda: a @ x}
            if s is not None:
                contenders["scipy"] = lambda: s @ x
            for layout, w in decoded.items():
                contenders[layout] = (lambda w=w: w.matmul(x, threads=threads))
            t = interleaved(contenders, rounds, clock)
            cells = " | ".join(f"{t[k][0] * 1e3:.2f} / {t[k][1] * 1e3:.2f}" if k in t else "-"
                               for k in ("dense", "scipy") + STORED)
            print(f"| {density:.0%} / {distinct} | {batch} | {cells} |")
            rows.append(((density, distinct, batch), t))
        if s is not None:
            memory.append((density, distinct, s.data.nbytes + s.indices.nbytes + s.indptr.nbytes,
                           {layout: w.nbytes for layout, w in decoded.items()}))
    if memory:
        print("\n| density / values | scipy CSR MB | " + " | ".join(f"decoded {k} MB (x scipy)" for k in STORED) + " |")
        print("|---|---|" + "---|" * len(STORED))
        for density, distinct, sb, nb in memory:
            print(f"| {density:.0%} / {distinct} | {sb / 1e6:.2f} | "
                  + " | ".join(f"{nb[k] / 1e6:.2f} ({nb[k] / sb:.2f}x)" for k in STORED) + " |")
    if threads == 1 and memory:
        targets(dict(rows), memory)


def targets(results, memory):
    """Issue 18's targets at one thread each, by wall and by CPU time."""
    def best(t, layouts):
        return min(layouts, key=lambda k: t[k][1])

    checks = []
    t = results[(0.10, 32, 1)]
    name = best(t, STORED)
    checks.append(("10% / 32, batch 1: best stored layout vs scipy CSR", name, t["scipy"], t[name], 1.5))
    checks.append(("10% / 32, batch 1: best stored layout vs dense NumPy", name, t["dense"], t[name], 2.0))
    t = results[(0.10, 32, 64)]
    name = best(t, STORED)
    checks.append(("10% / 32, batch 64: best stored layout vs scipy CSR", name, t["scipy"], t[name], 1.2))
    t = results[(0.30, 16, 1)]
    name = best(t, ("cer", "cser"))
    checks.append(("30% / 16, batch 1: CER or CSER vs scipy CSR", name, t["scipy"], t[name], 1.8))
    checks.append(("30% / 16, batch 1: CER or CSER vs dense NumPy", name, t["dense"], t[name], 1.2))
    print("\n## targets (issue 18), 1 thread each: speed-up by wall time / by CPU time")
    print("| target | layout | wall | CPU | needed | verdict (CPU) |\n|---|---|---|---|---|---|")
    for label, name, other, ours, needed in checks:
        wall, cpu = other[0] / ours[0], other[1] / ours[1]
        print(f"| {label} | {name} | {wall:.2f}x | {cpu:.2f}x | >= {needed}x | {'MET' if cpu >= needed else 'NOT MET'} |")
    ratio = max(nb["cer"] / sb for d, k, sb, nb in memory if (d, k) == (0.10, 32))
    print(f"| decoded CER memory vs scipy CSR, 10% / 32 | cer | {ratio:.2f}x | | <= 0.3x | "
          f"{'MET' if ratio <= 0.3 else 'NOT MET'} |")


def decode_times(rounds):
    """Lazy against materialized decode of every stored layout, lossless and through dq / per-channel steps."""
    import numpy as np
    import nncodec
    rng = np.random.default_rng(1)
    a = quantized_matrix(np, rng, (2048, 2048), 0.10, 32)
    w = rng.standard_normal((2048, 2048)).astype(np.float32)
    cases = [(f"{layout} lossless", {"w": a}, {"layout": layout}) for layout in STORED]
    cases += [(f"{layout} {q}", {"w": w}, {"layout": layout, "prune": "magnitude:0.9", "quantize": q})
              for layout in ("cer", "cser", "csr") for q in ("dq:bits=4", "uniform:bits=4,axis=0")]
    print(f"\n## decode: 2048 x 2048, ms wall / ms CPU (medians of {rounds} interleaved rounds), jobs=1")
    print("| tensor | materialized | lazy | lazy / materialized (CPU) |\n|---|---|---|---|")
    worst = 0
    for label, weights, options in cases:
        blob = nncodec.encode(weights, **options)
        t = interleaved({"full": lambda: nncodec.decode(blob, jobs=1),
                         "lazy": lambda: nncodec.decode(blob, materialize=False, jobs=1)}, rounds, time.process_time)
        ratio = t["lazy"][1] / t["full"][1]
        worst = max(worst, ratio)
        print(f"| {label} | {t['full'][0] * 1e3:.1f} / {t['full'][1] * 1e3:.1f} | "
              f"{t['lazy'][0] * 1e3:.1f} / {t['lazy'][1] * 1e3:.1f} | {ratio:.2f}x |")
    print(f"\nworst lazy / materialized (CPU): {worst:.2f}x (target <= 1.5x: {'MET' if worst <= 1.5 else 'NOT MET'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--threads", default="1,all", help="comma-separated counts; 'all' = every available CPU")
    parser.add_argument("--sections", default="products,decode")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        sys.path.insert(0, str(ROOT))
        products(args.child, args.rounds)
        return
    sys.path.insert(0, str(ROOT))
    from nncodec import runtime
    from _common import machine
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; runtime {runtime.info()}")
    sections = args.sections.split(",")
    if "products" in sections:
        for count in args.threads.split(","):
            threads = len(os.sched_getaffinity(0)) if count == "all" else int(count)
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                       MKL_NUM_THREADS=str(threads))
            subprocess.run([sys.executable, __file__, "--child", str(threads), "--rounds", str(args.rounds)],
                           env=env, check=True)
    if "decode" in sections:
        decode_times(args.rounds)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
