"""nncodec.runtime against dense NumPy and scipy CSR (scipy is a bench-only dependency).

Sections (all timings are medians over interleaved rounds: each round runs every contender once, so ratios are
measured side by side under the same machine load):
  headline  4096 x 4096 float32 at 10%/32, 30%/16 and 50%/8 (density / distinct values), batch 1 and 64;
            runtime CSR/CSR8/CER/CSER on 1 and 2 threads, scipy CSR (single-threaded), dense NumPy (BLAS threads
            as reported); memory of each structure.
  map       2048 x 2048, batch 1, one thread: the fastest runtime layout per (density, distinct values) cell and
            its speed-up over scipy CSR.
  easyocr   every >= 2-D weight of ../shared/data/easyocr_english_g2.npz after prune magnitude:0.9 + kmeans:k=16
            (through nncodec.encode/decode): per layout time at batch 1 and memory, and choose_layout's pick.
  e2e       the digits MLP (nncodec/examples/mlp.py, trained) and a LeNet-5-shaped CNN (random weights), both
            pruned + quantized and loaded with nncodec.runtime.load: same predictions as the dense NumPy model,
            latency per sample at batch 1 and 64.
  digits    the two files of ``python -m nncodec.examples.digits`` (``--digits-dir DIR``, else written here the
            post-training way) loaded with runtime.load (stored layouts, and auto) against the dense NumPy MLP.
The headline section ends with a table of issue 5's targets (measured ratio, needed ratio, MET / NOT MET).

Usage: nice python bench/bench_runtime.py [--sections headline,map,easyocr,e2e,digits] [--rounds 21]
       [--digits-dir DIR]
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import nncodec  # noqa: E402
from nncodec import runtime  # noqa: E402
from nncodec.sparse import cer_from_dense  # noqa: E402

from _common import SHARED_NPZ, machine  # noqa: E402


def side_by_side(contenders, rounds):
    """Median seconds per contender; every round runs each one once (after one warm-up each)."""
    for fn in contenders.values():
        fn()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def quantized_matrix(rng, shape, density, distinct):
    """A pruned, codebook-quantized matrix: ``distinct`` non-zero values (normal), ``density`` kept."""
    table = (rng.standard_normal(distinct) * 0.05).astype(np.float32)
    a = table[rng.integers(0, distinct, size=shape)]
    a[rng.random(shape) >= density] = 0
    return a


def scipy_bytes(s):
    return s.data.nbytes + s.indices.nbytes + s.indptr.nbytes


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
        pools = dict.fromkeys(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
                              if i["user_api"] == "blas")  # numpy's and scipy's OpenBLAS: listed once
        return ", ".join(pools) or "unknown"
    except ImportError:
        return "unknown (threadpoolctl missing)"


HEADLINE_LAYOUTS = ("csr", "csr8", "cer", "cser")


def headline(rounds):
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    n = 4096
    print(f"\n## headline: {n} x {n} float32; scipy CSR single-threaded; dense NumPy with {blas_threads()}")
    print("| density / values | batch | dense NumPy ms | scipy CSR ms | "
          + " | ".join(f"runtime {lay} 1t / 2t" for lay in HEADLINE_LAYOUTS) + " | best vs scipy | best vs dense |")
    print("|---|---|---|---|" + "---|" * len(HEADLINE_LAYOUTS) + "---|---|")
    memory, results = [], {}
    for density, distinct in ((0.10, 32), (0.30, 16), (0.50, 8)):
        a = quantized_matrix(rng, (n, n), density, distinct)
        s = sp.csr_matrix(a)
        ops = {layout: runtime.prepare(a, layout) for layout in HEADLINE_LAYOUTS}
        for batch in (1, 64):
            x = rng.standard_normal((n, batch)).astype(np.float32)
            xv = np.ascontiguousarray(x[:, 0]) if batch == 1 else x
            contenders = {"dense": lambda: a @ xv, "scipy": lambda: s @ xv}
            for layout, op in ops.items():
                for t in (1, 2):
                    contenders[f"{layout}/{t}"] = (lambda op=op, t=t: op.matmul(xv, threads=t))
            ms = {k: v * 1e3 for k, v in side_by_side(contenders, rounds).items()}
            best = min((k for k in ms if "/" in k), key=ms.get)
            cells = " | ".join(f"{ms[f'{lay}/1']:.2f} / {ms[f'{lay}/2']:.2f}" for lay in ops)
            print(f"| {density:.0%} / {distinct} | {batch} | {ms['dense']:.2f} | {ms['scipy']:.2f} | {cells} | "
                  f"{best} {ms['scipy'] / ms[best]:.2f}x | {ms['dense'] / ms[best]:.2f}x |")
            results[(density, distinct, batch)] = ms
        memory.append((density, distinct, scipy_bytes(s), cer_from_dense(a).nbytes,
                       {k: op.nbytes for k, op in ops.items()}))
    print("\n| density / values | scipy CSR MB | CERMatrix (sparse.py) MB | runtime csr MB | runtime cer MB | "
          "runtime cser MB | runtime cer / scipy |")
    print("|---|---|---|---|---|---|---|")
    for density, distinct, sb, cer_struct, ob in memory:
        print(f"| {density:.0%} / {distinct} | {sb / 1e6:.2f} | {cer_struct / 1e6:.2f} ({cer_struct / sb:.2f}x) | "
              f"{ob['csr'] / 1e6:.2f} | {ob['cer'] / 1e6:.2f} | {ob['cser'] / 1e6:.2f} | {ob['cer'] / sb:.2f}x |")
    print("\nruntime csr8 MB: " + ", ".join(f"{d:.0%} / {v}: {ob['csr8'] / 1e6:.2f} ({ob['csr8'] / sb:.2f}x scipy)"
                                          for d, v, sb, _, ob in memory))
    print_targets(results, memory)


def _best(ms, layouts=HEADLINE_LAYOUTS):
    """(name "layout/threads", ms) of the fastest runtime contender among ``layouts``."""
    name = min((k for k in ms if k.split("/")[0] in layouts), key=ms.get)
    return name, ms[name]


def print_targets(results, memory):
    """Issue 5's headline targets, each with the measured ratio and whether it is met."""
    rows = []
    ms = results[(0.10, 32, 1)]
    name, t = _best(ms)
    rows.append(("batch 1, 10% / 32: best layout vs scipy CSR", name, ms["scipy"] / t, 1.5))
    rows.append(("batch 1, 10% / 32: best layout vs dense NumPy", name, ms["dense"] / t, 2.0))
    ms = results[(0.30, 16, 1)]
    name, t = _best(ms, ("cer", "cser"))
    rows.append(("batch 1, 30% / 16: CER or CSER vs scipy CSR", name, ms["scipy"] / t, 1.8))
    rows.append(("batch 1, 30% / 16: CER or CSER vs dense NumPy", name, ms["dense"] / t, 1.2))
    ms = results[(0.10, 32, 64)]
    name, t = _best(ms)
    rows.append(("batch 64, 10% / 32: best layout vs scipy CSR", name, ms["scipy"] / t, 1.2))
    print("\n## targets (issue 5): runtime 'layout/threads'; scipy CSR 1 thread; dense NumPy "
          f"{blas_threads()}")
    print("| target | runtime contender | measured | needed | verdict |\n|---|---|---|---|---|")
    for label, name, ratio, needed in rows:
        print(f"| {label} | {name} | {ratio:.2f}x | >= {needed}x | {'MET' if ratio >= needed else 'NOT MET'} |")
    worst = max(ob["cer"] / sb for _, _, sb, _, ob in memory)
    print(f"| runtime CER memory vs scipy CSR (worst of 3 matrices) | cer | {worst:.2f}x | <= 0.5x | "
          f"{'MET' if worst <= 0.5 else 'NOT MET'} |")


def layout_map(rounds):
    import scipy.sparse as sp
    rng = np.random.default_rng(1)
    n = 2048
    densities = (0.02, 0.05, 0.10, 0.30, 0.50)
    values = (2, 4, 16, 64, 256)
    print(f"\n## map: {n} x {n}, batch 1, one thread: fastest runtime layout (its speed-up over scipy CSR)")
    print("| density \\ distinct values | " + " | ".join(str(v) for v in values) + " |")
    print("|---" * (len(values) + 1) + "|")
    for density in densities:
        cells = []
        for distinct in values:
            a = quantized_matrix(rng, (n, n), density, distinct)
            s = sp.csr_matrix(a)
            x = rng.standard_normal(n).astype(np.float32)
            contenders = {"scipy": lambda: s @ x}
            for layout in ("csr", "cer", "cser"):
                op = runtime.prepare(a, layout)
                contenders[layout] = (lambda op=op: op.matmul(x, threads=1))
            sec = side_by_side(contenders, rounds)
            best = min(("csr", "cer", "cser"), key=sec.get)
            cells.append(f"{best} ({sec['scipy'] / sec[best]:.2f}x)")
        print(f"| {density:.0%} | " + " | ".join(cells) + " |")


def easyocr(rounds):
    if not SHARED_NPZ.exists():
        print("\n## easyocr: skipped, ../shared/data/easyocr_english_g2.npz not present")
        return
    with np.load(SHARED_NPZ, allow_pickle=False) as z:
        weights = {k: z[k] for k in z.files if z[k].ndim >= 2}
    decoded = nncodec.decode(nncodec.encode(weights, prune="magnitude:0.9", quantize="kmeans:k=16"))
    layouts = ("dense", "csr", "cer", "cser")
    print("\n## easyocr: prune magnitude:0.9 + kmeans:k=16, batch 1, threads auto; us and kB per layout")
    print("| layer | matrix | " + " | ".join(f"{lay} us / kB" for lay in layouts) + " | pick |")
    print("|---|---|" + "---|" * len(layouts) + "---|")
    for name, w in decoded.items():
        ops = {lay: runtime.prepare(w, lay) for lay in layouts}
        x = np.random.default_rng(2).standard_normal(ops["dense"].shape[1]).astype(np.float32)
        sec = side_by_side({lay: (lambda op=op: op.matmul(x)) for lay, op in ops.items()}, rounds)
        pick = runtime.choose_layout(w, batch=1).layout
        m, n = ops["dense"].shape
        cells = " | ".join(f"{sec[lay] * 1e6:.0f} / {ops[lay].nbytes / 1e3:.0f}" for lay in layouts)
        short = name.replace("module.", "")
        print(f"| {short} | {m}x{n} | {cells} | {pick} |")


LENET = {"format": "nncodec.sequential/1", "input_shape": [1, 32, 32],
         "layers": [{"type": "conv2d", "weight": "c1.weight", "bias": "c1.bias"}, {"type": "relu"},
                    {"type": "maxpool2d", "kernel": 2},
                    {"type": "conv2d", "weight": "c2.weight", "bias": "c2.bias"}, {"type": "relu"},
                    {"type": "avgpool2d", "kernel": 2}, {"type": "flatten"},
                    {"type": "linear", "weight": "f1.weight", "bias": "f1.bias"}, {"type": "relu"},
                    {"type": "linear", "weight": "f2.weight", "bias": "f2.bias"}, {"type": "relu"},
                    {"type": "linear", "weight": "f3.weight", "bias": "f3.bias"}, {"type": "softmax"}]}


def lenet_weights(rng):
    shapes = {"c1": (6, 1, 5, 5), "c2": (16, 6, 5, 5), "f1": (120, 400), "f2": (84, 120), "f3": (10, 84)}
    weights = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:]))
        weights[f"{name}.weight"] = (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)
        weights[f"{name}.bias"] = (rng.standard_normal(shape[0]) * 0.05).astype(np.float32)
    return weights


def end_to_end(rounds):
    from nncodec.examples.mlp import load_digits_split, train_mlp
    X_train, X_test, y_train, y_test = load_digits_split()
    mlp = train_mlp(X_train, y_train)
    mlp_arch = {"format": "nncodec.sequential/1", "input_shape": [64],
                "layers": [{"type": "linear", "weight": "fc1.weight", "bias": "fc1.bias"}, {"type": "relu"},
                           {"type": "linear", "weight": "fc2.weight", "bias": "fc2.bias"}, {"type": "relu"},
                           {"type": "linear", "weight": "fc3.weight", "bias": "fc3.bias"}]}
    rng = np.random.default_rng(3)
    cases = [("digits MLP 64-300-100-10", mlp_arch, mlp, X_test.astype(np.float32)),
             ("LeNet-5 CNN (random weights)", LENET, lenet_weights(rng),
              rng.standard_normal((len(X_test), 1, 32, 32)).astype(np.float32))]
    print("\n## e2e: prune magnitude:0.9 + kmeans:k=16 (biases lossless); dense = the same decoded weights run "
          "by the engine with layout='dense' (NumPy matmul)")
    print("| model | layout (picked per layer) | same predictions as dense | batch 1 us/sample | "
          "batch 64 us/sample | runtime / dense at batch 1, 64 | test accuracy |")
    print("|---|---|---|---|---|---|---|")
    for label, arch, weights, X in cases:
        blob = nncodec.encode(weights, prune="magnitude:0.9", quantize="kmeans:k=16", lossless=["*.bias"],
                              metadata=runtime.architecture_metadata(arch))
        models = {layout: runtime.load(blob, layout=layout, batch=1) for layout in ("dense", "auto", "csr", "cer")}
        expected = models["dense"](X).argmax(axis=1)
        one, block = X[:1], X[:64]
        contenders = {}
        for layout, model in models.items():
            contenders[(layout, 1)] = (lambda model=model: model(one))
            contenders[(layout, 64)] = (lambda model=model: model(block))
        sec = side_by_side(contenders, rounds)
        for layout, model in models.items():
            picked = ", ".join(lay for _, lay, _ in model.layouts())
            predicted = model(X).argmax(axis=1)
            acc = f"{np.mean(predicted == y_test):.3f}" if "MLP" in label else "n/a"
            print(f"| {label} | {layout} ({picked}) | {np.array_equal(predicted, expected)} ({len(X)} samples) | "
                  f"{sec[(layout, 1)] * 1e6:.0f} | {sec[(layout, 64)] / 64 * 1e6:.1f} | "
                  f"{sec[(layout, 1)] / sec[('dense', 1)]:.2f}, {sec[(layout, 64)] / sec[('dense', 64)]:.2f} | {acc} |")


def digits_example(rounds, directory=None):
    """The two files of ``python -m nncodec.examples.digits [--trained] --out DIR`` (``directory``; else written
    here the post-training way from a freshly trained MLP) through ``runtime.load``, against the dense NumPy
    forward pass ``nncodec.examples.mlp.predict`` of the same decoded weights."""
    import tempfile
    from nncodec.examples import digits
    from nncodec.examples.mlp import architecture, load_digits_split, predict, train_mlp
    X_train, X_test, y_train, _ = load_digits_split()
    X = X_test.astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        if directory is None:
            directory = pathlib.Path(tmp)
            weights = train_mlp(X_train, y_train)
            meta = digits.metadata(architecture())
            nncodec.save(directory / "float.nnc", weights, metadata=meta)
            digits.save_post_training(directory / "compressed.nnc", weights, meta)
            origin = "written here (post-training: magnitude 30% + k-means k=8)"
        else:
            directory = pathlib.Path(directory)
            origin = f"from {directory}"
        print(f"\n## e2e digits example files, {origin}; dense = nncodec.examples.mlp.predict (NumPy, "
              f"{blas_threads()})")
        print("| file | runtime layout (per layer) | same predictions as dense | batch 1 us/sample (runtime / dense) | "
              "batch 64 us/sample (runtime / dense) |\n|---|---|---|---|---|")
        for name in ("float.nnc", "compressed.nnc"):
            path = directory / name
            decoded = nncodec.load(path)
            expected = predict(decoded, X).argmax(axis=1)
            for layout in ("stored", "auto"):
                model = runtime.load(path, layout=layout)
                same = np.array_equal(model(X).argmax(axis=1), expected)
                contenders = {}
                for batch in (1, 64):
                    block = X[:batch]
                    contenders[("runtime", batch)] = (lambda block=block: model(block))
                    contenders[("dense", batch)] = (lambda block=block: predict(decoded, block))
                sec = side_by_side(contenders, rounds)
                picked = ", ".join(lay for _, lay, _ in model.layouts())
                cells = " | ".join(f"{sec[('runtime', b)] / b * 1e6:.1f} / {sec[('dense', b)] / b * 1e6:.1f} "
                                   f"({sec[('runtime', b)] / sec[('dense', b)]:.2f}x)" for b in (1, 64))
                print(f"| {name} | {layout} ({picked}) | {same} ({len(X)} samples) | {cells} |")


SECTIONS = {"headline": headline, "map": layout_map, "easyocr": easyocr, "e2e": end_to_end,
            "digits": digits_example}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--digits-dir", help="DIR written by python -m nncodec.examples.digits (digits section)")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; runtime {runtime.info()}")
    for name in args.sections.split(","):
        if name == "digits":
            digits_example(args.rounds, args.digits_dir)
        else:
            SECTIONS[name](args.rounds)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
