"""Factored weights (issue #9): size vs SQNR, accuracy vs size vs speed, and the factored product's speed.

1. Size vs SQNR on real layers of easyocr_english_g2.npz and on synthetic matrices of known rank: dense quantized,
   low-rank and sparse + low-rank, each followed by uniform quantization (per-factor SQNR targets) and CABAC; whole
   one-tensor containers. Every (rank, density, quantizer) point goes to the CSV; the table gives, per SQNR
   target, the smallest container of each family that reaches it.
2. The digits MLP 64-300-100-10 (nncodec.examples.mlp) and Deep Compression's LeNet-5 (nncodec.examples.cnn):
   accuracy vs size vs measured speed for low-rank and sparse + low-rank layers, data-free (truncated SVD,
   alternating minimisation) vs data-aware (Ma et al.'s ADMM on the layers' ReLU responses, training inputs as
   calibration data) at equal rank. Every model is a container run by ``nncodec.runtime.load`` (factored layers
   stay factored), timed alternately with the float32 dense model; separable conv kernels are densified at load.
3. The product y = W x at one matrix size through nncodec.runtime operators: dense, CSR, low-rank U (V x) and
   sparse + low-rank S x + U (V x) (S in CSR), batch 1 and 64, one thread, medians.

    OPENBLAS_NUM_THREADS=1 nice python bench/bench_lowrank.py [--csv out.csv] [--png out.png] [--only lenet]

(needs scikit-learn; one BLAS thread: on a loaded machine threaded SVDs and products are ~10x slower)
"""

import argparse
import csv
import datetime
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, SHARED_NPZ, machine, median_time  # noqa: E402

sys.path.append(str(ROOT))
import nncodec  # noqa: E402
import nncodec.runtime  # noqa: E402
from nncodec.examples.mlp import load_digits_split, train_mlp  # noqa: E402
from nncodec.lowrank import (Factors, admm_sparse_lowrank, choose_rank, low_rank, matrix_view,  # noqa: E402
                              separable_factors, sparse_plus_lowrank)
from nncodec.lowrank.svd import balanced_factors  # noqa: E402
from nncodec.quant import sqnr_db  # noqa: E402

REAL_LAYERS = ("module.Prediction.weight", "module.SequenceModeling.0.linear.weight",
               "module.SequenceModeling.0.rnn.weight_ih_l0", "module.FeatureExtraction.ConvNet.6.weight",
               "module.FeatureExtraction.ConvNet.14.weight")
QUANT_DB = (12, 16, 20, 24, 28, 32, 36, 40)  # uniform:sqnr targets (per tensor, per factor)
TARGETS_DB = (10, 15, 20, 25, 30, 35)
ENERGY_DB = (10, 15, 20, 25, 30, 35, 40)  # truncation SQNR targets of the low-rank fits
DENSITIES = (0.01, 0.03)
BIAS = "uniform:bits=8"
ADMM_RANK_WEIGHTS = (0.03, 0.05, 0.1, 0.3)  # lam_rank = c * ||relu(W X + b)||_F^2 / ||W||_*, per layer
ADMM_SPARSE_RATIOS = (1e6, 0.3)  # lam_sparse / lam_rank: no sparse part, then some
ADMM_RHO, ADMM_ITERATIONS = 0.1, 150
LENET_RANK_WEIGHTS = (0.1, 0.3, 1.0, 3.0)  # the trained LeNet-5 keeps full rank below c = 0.05


def synthetic_matrices():
    """Known-rank 512 x 512 matrices: rank 16 plus -40 dB noise, and rank 16 plus 2% large outliers."""
    rng = np.random.default_rng(0)
    low = rng.standard_normal((512, 16)) @ rng.standard_normal((16, 512)) / 4
    noise = rng.standard_normal(low.shape) * np.sqrt(np.mean(low ** 2)) * 1e-2
    outliers = np.zeros_like(low)
    where = rng.choice(low.size, low.size // 50, replace=False)
    outliers.ravel()[where] = rng.standard_normal(where.size) * 4 * np.abs(low).max() / 4
    return {"synthetic rank 16 + noise (512x512)": (low + noise).astype(np.float32),
            "synthetic rank 16 + 2% outliers (512x512)": (low + outliers).astype(np.float32)}


def one_tensor_points(label, w):
    """Every (family, setting, bytes, sqnr) point of section 1 for matrix ``w``."""
    points = []

    def add(family, setting, **options):
        blob = nncodec.encode({"w": w}, entropy="cabac", **options)
        points.append({"matrix": label, "family": family, "setting": setting, "bytes": len(blob),
                       "sqnr_db": sqnr_db(w, nncodec.decode(blob)["w"])})

    values = w.astype(np.float64)
    for q in QUANT_DB:
        add("dense quantized", f"uniform:sqnr={q}", quantize=f"uniform:sqnr={q}")
    matrix = matrix_view(values)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    matrix_side = min(matrix.shape)
    ranks = {choose_rank(s, matrix.shape, sqnr=t) for t in ENERGY_DB} | {matrix_side // d for d in (16, 8, 4, 2)}
    for k in sorted(ranks):
        if k == 0 or k * sum(matrix.shape) >= values.size:
            continue
        factors = Factors(values.shape, *balanced_factors(u, s, vt, k))
        for q in QUANT_DB:
            add("low-rank", f"rank {k}, uniform:sqnr={q}", factorize={"w": factors},
                quantize=f"uniform:sqnr={q}")
        for d in DENSITIES:
            if k > matrix_side // 2:
                continue
            split = sparse_plus_lowrank(values, k, d, iterations=10)
            for q in QUANT_DB[2:]:
                add("sparse + low-rank", f"rank {k}, density {d}, uniform:sqnr={q}", factorize={"w": split},
                    quantize=f"uniform:sqnr={q}")
    return points


def size_vs_sqnr(matrices, csv_path, png_path):
    points = []
    t0 = time.perf_counter()
    for label, w in matrices.items():
        points += one_tensor_points(label, w)
    elapsed = time.perf_counter() - t0
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(points[0]))
            writer.writeheader()
            writer.writerows(points)
    families = ("dense quantized", "low-rank", "sparse + low-rank")
    print(f"## Size vs SQNR: smallest one-tensor container (bytes) reaching each SQNR ({len(points)} encodes, "
          f"{elapsed:.0f} s)\n")
    print("| matrix | shape | target dB | " + " | ".join(families) + " | winner |")
    print("|---|---|---:|" + "---:|" * len(families) + "---|")
    for label, w in matrices.items():
        mine = [p for p in points if p["matrix"] == label]
        for target in TARGETS_DB:
            best = {}
            for fam in families:
                ok = [p for p in mine if p["family"] == fam and p["sqnr_db"] >= target]
                best[fam] = min(ok, key=lambda p: p["bytes"]) if ok else None
            present = {f: b for f, b in best.items() if b}
            winner = min(present, key=lambda f: present[f]["bytes"]) if present else "-"
            if winner != "-" and winner != "dense quantized" and best["dense quantized"]:
                winner += f" ({best['dense quantized']['bytes'] / present[winner]['bytes']:.2f}x smaller)"
            cells = [str(best[f]["bytes"]) if best[f] else "-" for f in families]
            print(f"| {label.replace('module.', '')} | {'x'.join(map(str, w.shape))} | {target} | "
                  + " | ".join(cells) + f" | {winner} |")
    if png_path:
        plot(matrices, points, families, png_path)
    print()


def plot(matrices, points, families, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(matrices)
    fig, axes = plt.subplots((n + 2) // 3, 3, figsize=(15, 4 * ((n + 2) // 3)))
    for ax, label in zip(axes.ravel(), matrices):
        for fam, marker in zip(families, "osd"):
            mine = sorted((p["bytes"], p["sqnr_db"]) for p in points if p["matrix"] == label and p["family"] == fam)
            front, top = [], -np.inf
            for size, q in mine:  # Pareto front: each point better in SQNR than every smaller one
                if q > top:
                    front.append((size, q))
                    top = q
            if front:
                ax.plot(*zip(*front), marker=marker, label=fam)
        ax.set_xscale("log")
        ax.set_title(label.replace("module.", ""), fontsize=8)
        ax.set_xlabel("container bytes")
        ax.set_ylabel("SQNR dB")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


# -- 2. models through nncodec.runtime -----------------------------------------------------------------------------

def paired_medians(first, second, repeat):
    """Median times of ``first()`` and ``second()`` run alternately, so that a change of machine load hits both."""
    times = ([], [])
    for _ in range(repeat):
        for fn, out in ((first, times[0]), (second, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return float(np.median(times[0])), float(np.median(times[1]))


def runtime_accuracy(model, X, y):
    return float(np.mean(np.argmax(model(np.asarray(X, np.float32).reshape((-1,) + model.input_shape)), axis=1)
                         == y))


class ModelTable:
    """Rows of accuracy vs size vs speed: every model is a container run by ``nncodec.runtime.load`` (factored
    layers stay factored, the rest dense), timed alternately with the float32 dense model at batch 1 and 64."""

    def __init__(self, weights, arch, X_test, y_test, repeat):
        self.weights, self.arch, self.X, self.y, self.repeat = weights, arch, X_test, y_test, repeat
        self.float_bytes = sum(w.nbytes for w in weights.values())
        self.dense = nncodec.runtime.Model.from_arrays(arch, weights, layout="dense")
        self.inputs = {b: np.asarray(X_test[:b], np.float32).reshape((b,) + self.dense.input_shape) for b in (1, 64)}
        self.times = {b: median_time(lambda b=b: self.dense(self.inputs[b]), repeat)[0] for b in (1, 64)}
        self.base = runtime_accuracy(self.dense, X_test, y_test)
        self.rows = [("dense", "float32", self.float_bytes, self.base, "dense", 1.0, 1.0)]

    def add(self, family, setting, blob):
        model = nncodec.runtime.load(blob, layout="auto", batch=64)
        speed = [np.divide(*paired_medians(lambda x=self.inputs[b]: self.dense(x),
                                           lambda x=self.inputs[b]: model(x), self.repeat)) for b in (1, 64)]
        layouts = ", ".join(f"{name.split('.')[0]} {layout}" for name, layout, _ in model.layouts())
        self.rows.append((family, setting, len(blob), runtime_accuracy(model, self.X, self.y), layouts, *speed))

    def print(self):
        print(f"float32 dense model through nncodec.runtime: test accuracy {100 * self.base:.2f}%, forward time "
              f"batch 1 {1e6 * self.times[1]:.0f} us, batch 64 {1e6 * self.times[64]:.0f} us (medians of "
              f"{self.repeat}); speed-ups time each model and the dense one alternately ({self.repeat} each)\n")
        print("| family | setting | bytes | compression vs float32 | test accuracy | loss (pp) | runtime layers | "
              "speed-up b=1 | speed-up b=64 |\n|---|---|---:|---:|---:|---:|---|---:|---:|")
        for family, setting, size, acc, layouts, s1, s64 in self.rows:
            print(f"| {family} | {setting} | {size} | {self.float_bytes / size:.1f}x | {100 * acc:.2f}% | "
                  f"{100 * (self.base - acc):+.2f} | {layouts} | {s1:.2f}x | {s64:.2f}x |")
        print()


def worth_factoring(factors):
    """A factor pair saves values (or has a sparse part, or is separable); else the layer stays plain."""
    return (factors.sparse is not None or factors.separable
            or factors.left.size + factors.right.size < factors.left.shape[0] * factors.right.shape[1])


def encode_factored(weights, factors, quantize, meta):
    """The model's container with the layers whose factors are worth it (see worth_factoring) stored factored, every
    part quantized by ``quantize`` and CABAC-coded in the smallest layout."""
    factors = {n: f for n, f in factors.items() if worth_factoring(f)}
    return nncodec.encode(weights, factorize={f"{n}.weight": f for n, f in factors.items()}, keep_small=0,
                          quantize=quantize, entropy="cabac", layout="auto", metadata=meta)


def admm_scales(w, b, inputs):
    """lam_rank per unit of c for each layer: its ReLU response energy over its weights' nuclear norm."""
    scale = {}
    for n in w:
        matrix = w[n].reshape(w[n].shape[0], -1)
        response = np.maximum(matrix @ inputs[n] + b[n][:, None], 0)
        scale[n] = float(np.sum(response ** 2)) / np.linalg.svd(matrix, compute_uv=False).sum()
    return scale


def factored_rows(table, encode, w, b, inputs, rank_weights, sparse_ratios):
    """Data-aware (ADMM) fits for every c and lam_sparse / lam_rank, each followed by its data-free twin at the
    same ranks (and sparse densities)."""
    scale = admm_scales(w, b, inputs)
    for c in rank_weights:
        for ratio in sparse_ratios:
            aware = {n: admm_sparse_lowrank(w[n], inputs[n], lam_sparse=ratio * c * scale[n], lam_rank=c * scale[n],
                                            bias=b[n], rho=ADMM_RHO, iterations=ADMM_ITERATIONS) for n in w}
            ranks = ", ".join(f"{n} {aware[n].rank}" for n in w)
            if any(f.sparse is not None for f in aware.values()):
                density = {n: np.count_nonzero(aware[n].sparse) / w[n].size if aware[n].sparse is not None else 0.0
                           for n in w}
                table.add("sparse + low-rank, data-aware (ADMM)", f"ranks {ranks}; c={c}, lam_s/lam_r={ratio}",
                          encode(aware))
                free = {n: sparse_plus_lowrank(w[n], aware[n].rank, density[n], iterations=10) for n in w}
                table.add("sparse + low-rank, data-free (alt. min.)", f"ranks {ranks}; ADMM's densities",
                          encode(free))
            else:
                table.add("low-rank, data-aware (ADMM)", f"ranks {ranks}; c={c}", encode(aware))
                table.add("low-rank, data-free (SVD)", f"ranks {ranks}",
                          encode({n: low_rank(w[n], rank=aware[n].rank) for n in w}))


def digits_mlp(repeat=100):
    from nncodec.examples.mlp import architecture
    X_train, X_test, y_train, y_test = load_digits_split()
    weights = {k: v.astype(np.float32) for k, v in train_mlp(X_train, y_train).items()}
    arch = architecture()
    meta = nncodec.runtime.architecture_metadata(arch)
    table = ModelTable(weights, arch, X_test, y_test, repeat)
    quantize = {"*.bias": BIAS, "*": "uniform:sqnr=24"}
    table.add("dense quantized", "uniform 24 dB + CABAC",
              nncodec.encode(weights, quantize=quantize, keep_small=0, entropy="cabac", metadata=meta))
    table.add("pruned 80% + quantized", "magnitude 0.8, uniform 24 dB, CABAC, csr (biases lossless)",
              nncodec.encode(weights, prune="magnitude:0.8", quantize=quantize, entropy="cabac",
                             layout={"*.weight": "csr"}, metadata=meta))

    def encode(factors):
        return encode_factored(weights, factors, quantize, meta)

    names = ("fc1", "fc2")
    w = {n: weights[f"{n}.weight"].astype(np.float64) for n in names}
    b = {n: weights[f"{n}.bias"].astype(np.float64) for n in names}
    inputs = {"fc1": X_train.T.astype(np.float64),
              "fc2": np.maximum(w["fc1"] @ X_train.T + b["fc1"][:, None], 0)}
    factored_rows(table, encode, w, b, inputs, ADMM_RANK_WEIGHTS, ADMM_SPARSE_RATIOS)
    print("## Digits MLP 64-300-100-10 through nncodec.runtime: fc1 and fc2 factored, post-training\n")
    print(f"Factors and sparse parts: uniform 24 dB per tensor + CABAC, layout auto. Data-aware: ADMM on the "
          f"training set's layer inputs, rho={ADMM_RHO}, {ADMM_ITERATIONS} iterations; a layer whose factors would "
          "not be smaller stays plain (quantized, dense).\n")
    table.print()


def lenet(repeat=30):
    from nncodec.examples import cnn
    X_train, X_test, y_train, y_test = load_digits_split()
    weights = {k: v.astype(np.float32) for k, v in cnn.train_cnn(X_train, y_train).items()}
    arch = cnn.architecture()
    meta = nncodec.runtime.architecture_metadata(arch)
    table = ModelTable(weights, arch, X_test, y_test, repeat)
    quantize = {"*.bias": BIAS, "*": "uniform:sqnr=24"}
    table.add("dense quantized", "uniform 24 dB + CABAC",
              nncodec.encode(weights, quantize=quantize, keep_small=0, entropy="cabac", metadata=meta))

    def encode(factors):
        return encode_factored(weights, factors, quantize, meta)

    names = ("conv2", "fc1")
    w = {n: weights[f"{n}.weight"].astype(np.float64) for n in names}
    b = {n: weights[f"{n}.bias"].astype(np.float64) for n in names}
    inputs = cnn.layer_inputs(weights, X_train)
    rng = np.random.default_rng(0)
    inputs["conv2"] = inputs["conv2"][:, rng.choice(inputs["conv2"].shape[1], 4000, replace=False)]
    factored_rows(table, encode, w, b, inputs, LENET_RANK_WEIGHTS, (1e6,))
    for rank in (12, 24, 48):
        table.add("separable conv2, data-free (SVD)", f"rank {rank} (densified at load)",
                  encode({"conv2": separable_factors(w["conv2"], rank=rank)}))
    print("## LeNet-5 (Deep Compression's: conv 20, conv 50, fc 500, fc 10) on 8x8 digits through nncodec.runtime\n")
    print(f"nncodec.examples.cnn, trained with NumPy (20 epochs, seed 0). conv2 and fc1 factored (fc2, 10x500, "
          f"cannot save below rank 10); ADMM as for the MLP with c in {LENET_RANK_WEIGHTS}, conv2's calibration "
          "data 4000 random im2col columns. Separable kernels are densified by the lazy decode and run as one "
          "im2col product.\n")
    table.print()


# -- 3. product speed ---------------------------------------------------------------------------------------------

def product_speed(m=1024, n=1024, ranks=(16, 64, 256), density=0.05, repeat=50):
    from nncodec import runtime
    from nncodec.sparse import LowRankMatrix, SparsePlusLowRank, csr_from_dense
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((m, n)).astype(np.float32)
    pruned = np.where(rng.random((m, n)) < density, dense, 0).astype(np.float32)
    csr = csr_from_dense(pruned)
    baseline = runtime.prepare(dense, "dense")
    print(f"## Product y = W x through nncodec.runtime, W {m} x {n} float32, medians of {repeat}, each operator "
          f"timed alternately with the dense one; backend {runtime.info()['backend']}, one thread\n")
    print("| operator | values stored | dense work / operator work | batch 1 us | batch 64 us | speed-up vs dense "
          "b=1 | b=64 |\n|---|---:|---:|---:|---:|---:|---:|")
    # CER/CSER are left out: on these unquantized values every nonzero is distinct, their worst case
    ops = [(f"sparse csr {density:.0%}", runtime.prepare(csr))]
    for k in ranks:
        lowrank = LowRankMatrix(dense[:, :k].copy(), dense[:k, :].copy())
        ops.append((f"lowrank U (V x), rank {k}", runtime.prepare(lowrank)))
        ops.append((f"sparse+lowrank (csr {density:.0%}), rank {k}", runtime.prepare(SparsePlusLowRank(csr, lowrank))))
    inputs = {batch: rng.standard_normal((n, batch)).astype(np.float32) for batch in (1, 64)}
    for label, op in ops:
        cells = []
        for batch in (1, 64):
            x = inputs[batch]
            cells.append(paired_medians(lambda x=x: baseline.matmul(x, threads=1),
                                        lambda op=op, x=x: op.matmul(x, threads=1), repeat))
        (d1, k1), (d64, k64) = cells
        print(f"| {label} | {op.entries} | {m * n / op.entries:.1f} | {1e6 * k1:.1f} | {1e6 * k64:.1f} | "
              f"{d1 / k1:.2f}x | {d64 / k64:.2f}x |")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv")
    parser.add_argument("--png")
    parser.add_argument("--only", choices=("sqnr", "mlp", "lenet", "product"), help="run one section")
    args = parser.parse_args()
    print(f"# Factored weights (issue #9)\n\n{datetime.date.today()}, {machine()}\n")
    if args.only in (None, "sqnr"):
        matrices = {}
        if SHARED_NPZ.exists():
            with np.load(SHARED_NPZ, allow_pickle=False) as z:
                matrices = {name: z[name] for name in REAL_LAYERS}
        matrices.update(synthetic_matrices())
        size_vs_sqnr(matrices, args.csv, args.png)
    if args.only in (None, "mlp"):
        digits_mlp()
    if args.only in (None, "lenet"):
        lenet()
    if args.only in (None, "product"):
        product_speed()


if __name__ == "__main__":
    main()
