"""k-means weight sharing: speed on 1 M Laplacian weights (k = 256, each init) and the three inits' SQNR on a real
model's layers at k = 16, 32 and 256.

    python bench/bench_kmeans.py [--npz PATH] [--repeat 5]
"""

import argparse
import datetime
import os
import sys
import time
from functools import partial

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, load_weights, machine, median_time  # noqa: E402

sys.path.append(str(ROOT))  # an installed nncodec wins; else the checkout
from nncodec.quant import KMeansQuantizer, sqnr_db  # noqa: E402

INITS = ("linear", "density", "random")
MIN_LAYER_SIZE = 1024  # smaller tensors (biases, norms) have fewer distinct values than k = 256


def speed(repeat):
    weights = np.random.default_rng(0).laplace(0, 0.02, 1_000_000).astype(np.float32).astype(np.float64)
    print("## 1 M Laplacian weights (float32 values), k = 256: KMeansQuantizer.quantize, median of", repeat)
    print("| init | iters | median s | SQNR dB |")
    print("|---|---:|---:|---:|")
    for init in INITS:
        for iters in (100, 1000, 10000):
            seconds, q = median_time(partial(KMeansQuantizer(k=256, init=init, iters=iters).quantize, weights), repeat)
            print(f"| {init} | {iters} | {seconds:.3f} | {sqnr_db(weights, q.reconstruct()):.2f} |")
    sorted_once, _ = median_time(partial(np.sort, weights), repeat)
    print(f"\n(np.sort of the same 1 M float64 values alone: {sorted_once:.3f} s)")


def init_comparison(path):
    label, weights = load_weights(path)
    layers = {name: w.astype(np.float64) for name, w in weights.items()
              if w.dtype.kind == "f" and w.size >= MIN_LAYER_SIZE}
    print(f"\n## Init comparison on {label}: {len(layers)} layers with >= {MIN_LAYER_SIZE} weights, "
          f"{sum(w.size for w in layers.values())} weights; one codebook per layer, default iters")
    print("| k | " + " | ".join(f"{init} SQNR dB" for init in INITS) + " | layers won (linear/density/random) |")
    print("|---:|" + "---:|" * (len(INITS) + 1))
    for k in (16, 32, 256):
        per_init, per_layer = {}, {}
        for init in INITS:
            reconstructed = {}
            for name, w in layers.items():
                reconstructed[name] = KMeansQuantizer(k=k, init=init).quantize(w).reconstruct()
                per_layer.setdefault(name, []).append(sqnr_db(w, reconstructed[name]))
            per_init[init] = sqnr_db(layers, reconstructed)
        wins = np.bincount([int(np.argmax(scores)) for scores in per_layer.values()], minlength=len(INITS))
        print(f"| {k} | " + " | ".join(f"{per_init[init]:.2f}" for init in INITS) +
              f" | {'/'.join(str(n) for n in wins)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", help="weights for the init comparison (default: ../shared's CRNN)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"# bench_kmeans: {machine()}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    started = time.perf_counter()
    speed(args.repeat)
    init_comparison(args.npz)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
