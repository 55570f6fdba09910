"""Factored weights (issue #9): size vs SQNR, accuracy vs size vs speed, and the factored product's speed.

1. Size vs SQNR on real layers of easyocr_english_g2.npz and on synthetic matrices of known rank: dense quantized,
   low-rank and sparse + low-rank, each followed by uniform quantization (per-factor SQNR targets) and CABAC; whole
   one-tensor containers. Every (rank, density, quantizer) point goes to the CSV; the table gives, per SQNR
   target, the smallest container of each family that reaches it.
2. The digits MLP 64-300-100-10 (nncodec.examples.mlp): accuracy vs size vs measured forward time for low-rank
   and sparse + low-rank hidden layers, data-free (truncated SVD, alternating minimisation) vs data-aware (Ma et
   al.'s ADMM on the layers' ReLU responses, training inputs as calibration data) at equal rank; the same for a
   LeNet-5-shaped CNN (nncodec.examples.lenet, trained with PyTorch), with separable conv2 kernels as well.
3. The product y = W x at one matrix size: dense (NumPy matmul), U (V x), sparse (scipy CSR) and A x + U (V x),
   batch 1 and 64, medians. NumPy/scipy kernels only: nncodec's runtime does not run factored layers yet.

    OPENBLAS_NUM_THREADS=1 nice python bench/bench_lowrank.py [--csv out.csv] [--png out.png] [--only lenet]

(needs scikit-learn, scipy and, for the CNN, torch; one BLAS thread: on a loaded machine threaded SVDs and products are ~10x slower)
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
from nncodec.examples.mlp import accuracy, load_digits_split, train_mlp  # noqa: E402
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
LENET_RANK_WEIGHTS = (0.003, 0.01, 0.03, 0.05)  # the CNN's layers lose accuracy at smaller cuts than the MLP's


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


# -- 2. digits MLP ------------------------------------------------------------------------------------------------

def layer_inputs(weights, X):
    """Each layer's input in the original network: {i: (n_in, N)}."""
    h, inputs = X.astype(np.float64), {}
    for i in (1, 2, 3):
        inputs[i] = h.T
        h = np.maximum(h @ weights[f"fc{i}.weight"].T.astype(np.float64) + weights[f"fc{i}.bias"], 0)
    return inputs


def mlp_forward(layers, batch):
    """A float32 forward pass over a fixed batch, each layer ('dense', W) or ('factored', U, V, A_csr|None)."""
    x = np.random.default_rng(0).random((64, batch)).astype(np.float32)

    def run():
        h = x
        for j, (layer, bias) in enumerate(layers):
            if layer[0] == "dense":
                z = layer[1] @ h
            else:
                z = layer[1] @ (layer[2] @ h)
                if layer[3] is not None:
                    z += layer[3] @ h
            z += bias[:, None]
            h = np.maximum(z, 0) if j < len(layers) - 1 else z
        return h

    return run


def runtime_layers(weights, factors):
    import scipy.sparse
    layers = []
    for i in (1, 2, 3):
        bias = weights[f"fc{i}.bias"]
        f = factors.get(i)
        if f is None:
            layers.append((("dense", weights[f"fc{i}.weight"]), bias))
        else:
            sparse = scipy.sparse.csr_matrix(f.sparse.astype(np.float32)) if f.sparse is not None else None
            layers.append((("factored", f.left.astype(np.float32), f.right.astype(np.float32), sparse), bias))
    return layers


def digits_mlp():
    X_train, X_test, y_train, y_test = load_digits_split()
    weights = train_mlp(X_train, y_train)
    base = accuracy(weights, X_test, y_test)
    inputs = layer_inputs(weights, X_train)
    dense_blob = nncodec.encode(weights, quantize={"*.bias": BIAS, "*": "uniform:sqnr=24,axis=0"}, keep_small=0,
                                entropy="cabac")
    dense_layers = runtime_layers(weights, {})
    times = {b: median_time(mlp_forward(dense_layers, b), 300)[0] for b in (1, 64)}
    rows = [("dense", "float32", sum(w.nbytes for w in weights.values()), base, 1.0, 1.0),
            ("dense quantized", "uniform 24 dB/channel + CABAC", len(dense_blob),
             accuracy(nncodec.decode(dense_blob), X_test, y_test), 1.0, 1.0)]

    def evaluate(family, setting, factors):
        # a rank whose factors hold at least the dense values saves nothing: that layer stays dense
        factors = {i: f for i, f in factors.items()
                   if f.sparse is not None or f.left.size + f.right.size < f.left.shape[0] * f.right.shape[1]}
        blob = nncodec.encode(weights, factorize={f"fc{i}.weight": f for i, f in factors.items()}, keep_small=0,
                              quantize={"*.bias": BIAS, "*": "uniform:sqnr=24"}, entropy="cabac")
        layers = runtime_layers(weights, factors)
        speed = [np.divide(*paired_medians(mlp_forward(dense_layers, b), mlp_forward(layers, b), 300))
                 for b in (1, 64)]
        rows.append((family, setting, len(blob), accuracy(nncodec.decode(blob), X_test, y_test), *speed))

    w = {i: weights[f"fc{i}.weight"].astype(np.float64) for i in (1, 2)}
    b = {i: weights[f"fc{i}.bias"].astype(np.float64) for i in (1, 2)}
    scale = {}  # lam_rank per unit of c: the layer's response energy over its weights' nuclear norm
    for i in (1, 2):
        response = np.maximum(w[i] @ inputs[i] + b[i][:, None], 0)
        scale[i] = float(np.sum(response ** 2)) / np.linalg.svd(w[i], compute_uv=False).sum()
    for c in ADMM_RANK_WEIGHTS:
        for sparse_ratio in ADMM_SPARSE_RATIOS:
            aware = {i: admm_sparse_lowrank(w[i], inputs[i], lam_sparse=sparse_ratio * c * scale[i],
                                            lam_rank=c * scale[i], bias=b[i], rho=ADMM_RHO,
                                            iterations=ADMM_ITERATIONS) for i in (1, 2)}
            ranks = {i: aware[i].rank for i in (1, 2)}
            columns = {i: 0 if aware[i].sparse is None else int(np.count_nonzero(np.abs(aware[i].sparse).sum(0)))
                       for i in (1, 2)}
            tag = f"ranks {ranks[1]}, {ranks[2]}"
            if columns[1] or columns[2]:
                density = {i: np.count_nonzero(aware[i].sparse) / w[i].size if columns[i] else 0.0 for i in (1, 2)}
                evaluate("sparse + low-rank, data-aware (ADMM)",
                         f"{tag}; sparse columns {columns[1]}, {columns[2]}; c={c}, lam_sparse/lam_rank="
                         f"{sparse_ratio}", aware)
                evaluate("sparse + low-rank, data-free (alt. min.)",
                         f"{tag}; densities {density[1]:.2f}, {density[2]:.2f} (as ADMM's)",
                         {i: sparse_plus_lowrank(w[i], ranks[i], density[i], iterations=10) for i in (1, 2)})
            else:
                evaluate("low-rank, data-aware (ADMM)", f"{tag}; c={c}", aware)
                evaluate("low-rank, data-free (SVD)", tag, {i: low_rank(w[i], rank=ranks[i]) for i in (1, 2)})
    print("## Digits MLP 64-300-100-10: fc1 and fc2 factored (fc3 and biases quantized), post-training\n")
    print("Factors and sparse parts: uniform 24 dB per tensor + CABAC. Data-aware: ADMM on the training set's "
          f"layer inputs, rho={ADMM_RHO}, {ADMM_ITERATIONS} iterations; data-free rows use the ranks (and sparse "
          "densities) the ADMM row above them found; a layer whose rank-k factors hold at least as many values as "
          "the dense matrix (k (m + n) >= m n: fc1 at rank 53 or more) stays dense. Speed: NumPy float32 forward pass, factored layers as "
          "U @ (V @ x) (+ scipy CSR for the sparse part), against the dense float32 pass in the same run.\n")
    print(f"float32 test accuracy {100 * base:.2f}%; forward time float32 dense: batch 1 "
          f"{1e6 * times[1]:.1f} us, batch 64 {1e6 * times[64]:.1f} us (NumPy, medians of 300); each speed-up times the "
          "factored and the dense pass alternately (300 each)\n")
    print("| family | setting | bytes | compression vs float32 | test accuracy | loss (pp) | speed-up b=1 | "
          "speed-up b=64 |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for family, setting, size, acc, s1, s64 in rows:
        print(f"| {family} | {setting} | {size} | {rows[0][2] / size:.1f}x | {100 * acc:.2f}% | "
              f"{100 * (base - acc):+.2f} | {s1:.2f}x | {s64:.2f}x |")
    print()


# -- 2b. LeNet-5-shaped CNN ---------------------------------------------------------------------------------------

def factored_layer(factors, bias):
    """A callable on im2col columns computing the factored layer: U (V x) (+ the sparse part), or for a separable
    kernel the vertical then the horizontal contraction of the 5x5 patches."""
    import scipy.sparse
    left, right, bias = factors.left.astype(np.float32), factors.right.astype(np.float32), bias[:, None]
    if factors.separable:
        o, i, kh, kw = factors.shape
        horizontal = left.reshape(o, kw, -1).transpose(0, 2, 1).reshape(o, -1)  # (O, R * KW)
        return lambda cols: horizontal @ (right @ cols.reshape(i * kh, -1)).reshape(-1, cols.shape[1]) + bias
    if factors.sparse is None:
        return lambda cols: left @ (right @ cols) + bias
    sparse = scipy.sparse.csr_matrix(factors.sparse.reshape(factors.shape[0], -1).astype(np.float32))
    return lambda cols: left @ (right @ cols) + sparse @ cols + bias


def lenet():
    import torch
    from nncodec.examples import lenet as net
    torch.set_num_threads(1)
    X_train, X_test, y_train, y_test = load_digits_split()
    weights = net.train_lenet(X_train, y_train)
    dense = net.dense_layers(weights)
    base = net.accuracy(dense, X_test, y_test)
    inputs = {}
    net.forward(dense, X_train, inputs)
    rng = np.random.default_rng(0)
    inputs["conv2"] = inputs["conv2"][:, rng.choice(inputs["conv2"].shape[1], 4000, replace=False)]
    x64 = {b: X_test[:b] for b in (1, 64)}
    times = {b: median_time(lambda x=x64[b]: net.forward(dense, x), 200)[0] for b in (1, 64)}
    quantize = {"*.bias": BIAS, "*": "uniform:sqnr=24"}
    plain = nncodec.encode(weights, quantize=quantize, keep_small=0, entropy="cabac")
    rows = [("dense", "float32", sum(w.nbytes for w in weights.values()), base, 1.0, 1.0),
            ("dense quantized", "uniform 24 dB + CABAC", len(plain),
             net.accuracy(net.dense_layers(nncodec.decode(plain)), X_test, y_test), 1.0, 1.0)]

    def evaluate(family, setting, factors):
        factors = {n: f for n, f in factors.items() if f.sparse is not None or f.separable
                   or f.left.size + f.right.size < f.left.shape[0] * f.right.shape[1]}
        blob = nncodec.encode(weights, factorize={f"{n}.weight": f for n, f in factors.items()}, keep_small=0,
                              quantize=quantize, entropy="cabac")
        acc = net.accuracy(net.dense_layers(nncodec.decode(blob)), X_test, y_test)
        layers = dict(dense, **{n: factored_layer(f, weights[f"{n}.bias"]) for n, f in factors.items()})
        speed = [np.divide(*paired_medians(lambda x=x64[b]: net.forward(dense, x),
                                           lambda x=x64[b]: net.forward(layers, x), 200)) for b in (1, 64)]
        kept = ", ".join(f"{n} {'sep. ' if f.separable else ''}{f.rank}" for n, f in factors.items()) or "none"
        rows.append((family, f"{setting}; factored: {kept}", len(blob), acc, *speed))

    names = ("conv2", "fc1", "fc2")
    w = {n: weights[f"{n}.weight"].astype(np.float64) for n in names}
    b = {n: weights[f"{n}.bias"].astype(np.float64) for n in names}
    scale = {}
    for n in names:
        matrix = w[n].reshape(w[n].shape[0], -1)
        response = np.maximum(matrix @ inputs[n] + b[n][:, None], 0)
        scale[n] = float(np.sum(response ** 2)) / np.linalg.svd(matrix, compute_uv=False).sum()
    for c in LENET_RANK_WEIGHTS:
        aware = {n: admm_sparse_lowrank(w[n], inputs[n], lam_sparse=1e6 * c * scale[n], lam_rank=c * scale[n],
                                        bias=b[n], rho=ADMM_RHO, iterations=ADMM_ITERATIONS) for n in names}
        evaluate("low-rank, data-aware (ADMM)", f"c={c}", aware)
        evaluate("low-rank, data-free (SVD)", "ADMM's ranks", {n: low_rank(w[n], rank=aware[n].rank) for n in names})
    for rank in (8, 12, 16):
        evaluate("separable conv2, data-free (SVD)", f"rank {rank}",
                 {"conv2": separable_factors(w["conv2"], rank=rank)})
    print("## LeNet-5-shaped CNN on 8x8 digits (conv 6@5x5, conv 16@5x5, fc 64-120-84-10), post-training\n")
    print(f"Trained with PyTorch (30 epochs, seed 0), run with NumPy (im2col); float32 test accuracy "
          f"{100 * base:.2f}%; forward time dense: batch 1 {1e6 * times[1]:.0f} us, batch 64 {1e6 * times[64]:.0f} us "
          "(medians of 200; speed-ups time factored and dense passes alternately, 200 each). conv2, fc1, fc2 factored as in the MLP table (same ADMM settings but "
          f"c in {LENET_RANK_WEIGHTS}; conv2's calibration data: 4000 random im2col columns); a layer whose factors would not be smaller stays dense. "
          "Separable conv2 runs as a vertical then a horizontal contraction of the 5x5 patches.\n")
    print("| family | setting | bytes | compression vs float32 | test accuracy | loss (pp) | speed-up b=1 | "
          "speed-up b=64 |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for family, setting, size, acc, s1, s64 in rows:
        print(f"| {family} | {setting} | {size} | {rows[0][2] / size:.1f}x | {100 * acc:.2f}% | "
              f"{100 * (base - acc):+.2f} | {s1:.2f}x | {s64:.2f}x |")
    print()


# -- 3. product speed ---------------------------------------------------------------------------------------------

def paired_medians(first, second, repeat):
    """Median times of ``first()`` and ``second()`` run alternately, so that a change of machine load hits both."""
    times = ([], [])
    for _ in range(repeat):
        for fn, out in ((first, times[0]), (second, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return float(np.median(times[0])), float(np.median(times[1]))


def product_speed(m=1024, n=1024, ranks=(16, 64, 256), density=0.05, repeat=50):
    import scipy.sparse
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((m, n)).astype(np.float32)
    mask = rng.random((m, n)) < density
    sparse = scipy.sparse.csr_matrix(np.where(mask, dense, 0).astype(np.float32))
    print(f"## Product y = W x, W {m} x {n} float32 (NumPy matmul, scipy CSR), medians of {repeat}, each kernel "
          "timed alternately with the dense product\n")
    print("| kernel | values stored | dense work / kernel work | batch 1 us | batch 64 us | speed-up vs dense b=1 "
          "| b=64 |\n|---|---:|---:|---:|---:|---:|---:|")
    kernels = [(f"sparse CSR {density:.0%}", sparse.nnz, lambda x: sparse @ x)]
    for k in ranks:
        u, v = dense[:, :k].copy(), dense[:k, :].copy()
        kernels.append((f"U (V x), rank {k}", k * (m + n), lambda x, u=u, v=v: u @ (v @ x)))
        kernels.append((f"A x + U (V x), rank {k}, A {density:.0%}", k * (m + n) + sparse.nnz,
                        lambda x, u=u, v=v: sparse @ x + u @ (v @ x)))
    inputs = {batch: rng.standard_normal((n, batch)).astype(np.float32) for batch in (1, 64)}
    for label, stored, fn in kernels:
        cells = []
        for batch in (1, 64):
            x = inputs[batch]
            cells.append(paired_medians(lambda x=x: dense @ x, lambda fn=fn, x=x: fn(x), repeat))
        (d1, k1), (d64, k64) = cells
        print(f"| {label} | {stored} | {m * n / stored:.1f} | {1e6 * k1:.1f} | {1e6 * k64:.1f} | {d1 / k1:.2f}x "
              f"| {d64 / k64:.2f}x |")
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
