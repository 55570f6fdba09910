"""Post-training compression of a real classifier: accuracy vs container size (issue 4, figure 2).

An MLP 64-300-100-10 (LeNet-300-100's shape on 8x8 inputs) is trained deterministically with NumPy on
scikit-learn's digits (X / 16, 75/25 stratified split, random_state=0), then compressed WITHOUT retraining by
several pipelines. Sizes are whole containers (biases, directory and all); the ratio is against float32 bytes.

    python bench/bench_digits.py [--json out.json]       (needs scikit-learn)
"""

import argparse
import datetime
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, machine  # noqa: E402

sys.path.append(str(ROOT))
import nncodec  # noqa: E402
from nncodec.examples.mlp import accuracy, load_digits_split, train_mlp  # noqa: E402

BIAS = "uniform:bits=8"  # biases: 410 values, quantized finely (their float32 bytes would be 13% of a 16x budget)


def pipelines():
    """(family, label, encode options)."""
    rows = [("float32", "lossless (raw)", {})]
    for s in (0.3, 0.5, 0.7):
        rows.append(("pruning only", f"magnitude {s:.0%} + zstd-shuffle",
                     {"prune": f"magnitude:{s}", "compress": "auto"}))
    for s, k in ((0.5, 16), (0.5, 8), (0.3, 8), (0.0, 8), (0.0, 4)):
        rows.append(("prune + k-means + Huffman", f"magnitude {s:.0%}, k={k}",
                     {"prune": f"magnitude:{s}" if s else None, "keep_small": 0, "entropy": "huffman",
                      "quantize": {"*.bias": BIAS, "*": f"kmeans:k={k}"}}))
    for s, k in ((0.5, 16), (0.5, 8), (0.6, 8)):
        rows.append(("saliency pruning + k-means + Huffman", f"saliency (E[x^2] w^2) {s:.0%}, k={k}",
                     {"prune": f"saliency:{s}", "importance": "inputs", "keep_small": 0, "entropy": "huffman",
                      "quantize": {"*.bias": BIAS, "*": f"kmeans:k={k}"}}))
    for db, lam in ((16, 0.3), (14, 0.1), (12, 0.1)):
        rows.append(("uniform + RDOQ + CABAC", f"{db} dB/channel, lambda {lam}",
                     {"keep_small": 0, "entropy": "cabac",
                      "quantize": {"*.bias": BIAS, "*": f"rdoq:sqnr={db},axis=0,lam={lam}"}}))
        rows.append(("uniform + RDOQ + CABAC, input-energy importance", f"{db} dB/channel, lambda {lam}",
                     {"keep_small": 0, "entropy": "cabac", "importance": "inputs",
                      "quantize": {"*.bias": BIAS, "*": f"rdoq:sqnr={db},axis=0,lam={lam}"}}))
    for db in (16, 14, 12):
        rows.append(("dependent quantization + CABAC", f"dq {db} dB/channel",
                     {"keep_small": 0, "entropy": "cabac",
                      "quantize": {"*.bias": BIAS, "*": f"dq:sqnr={db},axis=0,lam=0.1"}}))
    return rows


LAYER_BITS = ((3, 3.5, 4), (2.75, 3, 3.25, 3.5), (3, 3.5, 4))  # candidate "bits" per layer: step = max|w| / 2**(b-1)
LAMBDAS = (0.0, 0.1, 0.3)                                       # 0: plain rounding, else RDOQ with this lambda


def layer_step_search(weights, X_train, y_train):
    """Per-layer step allocation chosen on TRAINING data only: over LAYER_BITS x LAMBDAS, the smallest container
    whose training accuracy equals the float model's (the test set plays no part in the choice). Returns
    (options, bytes, candidates tried)."""
    target = accuracy(weights, X_train, y_train)
    best = None
    grid = list(itertools.product(*LAYER_BITS, LAMBDAS))
    for *bits, lam in grid:
        quantize = {"*.bias": BIAS}
        for i, b in zip((1, 2, 3), bits):
            step = float(abs(weights[f"fc{i}.weight"]).max()) / 2 ** (b - 1)
            quantize[f"fc{i}.weight"] = f"rdoq:step={step},lam={lam}" if lam else f"uniform:step={step}"
        options = {"keep_small": 0, "entropy": "cabac", "quantize": quantize}
        blob = nncodec.encode(weights, **options)
        if accuracy(nncodec.decode(blob), X_train, y_train) >= target and (best is None or len(blob) < best[1]):
            best = (options, len(blob), (tuple(bits), lam))
    return best[0], best[2], len(grid)


def input_energy(weights, X):
    """Per-weight importance E[x_j^2] of each layer's input j (the output error a weight's error causes, on
    average, for a linear layer), from the training inputs."""
    h, importance = X.astype("float32"), {}
    for i in (1, 2, 3):
        w = weights[f"fc{i}.weight"]
        importance[f"fc{i}.weight"] = (h * h).mean(axis=0)[None, :].repeat(w.shape[0], axis=0)
        h = (h @ w.T + weights[f"fc{i}.bias"]).clip(min=0)
    return importance


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json")
    args = parser.parse_args()
    X_train, X_test, y_train, y_test = load_digits_split()
    t0 = time.perf_counter()
    weights = train_mlp(X_train, y_train)
    train_s = time.perf_counter() - t0
    float_bytes = sum(w.nbytes for w in weights.values())
    base_acc = accuracy(weights, X_test, y_test)
    results = []
    importance = input_energy(weights, X_train)
    searched, (bits, lam), tried = layer_step_search(weights, X_train, y_train)
    rows = pipelines() + [("per-layer steps chosen on training data + CABAC",
                           f"bits {bits} (fc1, fc2, fc3), lambda {lam}; best of {tried} by training accuracy",
                           searched)]
    for family, label, options in rows:
        options = {k: v for k, v in options.items() if v is not None}
        if options.get("importance") == "inputs":
            options["importance"] = importance
        blob = nncodec.encode(weights, **options)
        acc = accuracy(nncodec.decode(blob), X_test, y_test)
        results.append({"family": family, "setting": label, "bytes": len(blob), "ratio": float_bytes / len(blob),
                        "accuracy": acc, "loss_pp": 100 * (base_acc - acc),
                        "options": repr({k: v for k, v in options.items() if k != "importance"})})
    print(f"# Digits MLP 64-300-100-10, post-training compression\n\n{datetime.date.today()}, {machine()}\n"
          f"command: python bench/bench_digits.py; trained in {train_s:.0f} s; float32 test accuracy "
          f"{100 * base_acc:.2f}% on {len(y_test)} test images; float32 weights {float_bytes} bytes\n")
    print("| pipeline | setting | bytes | ratio vs float32 | test accuracy | loss (pp) |\n|---|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['family']} | {r['setting']} | {r['bytes']} | {r['ratio']:.1f}x | {100 * r['accuracy']:.2f}% "
              f"| {r['loss_pp']:+.2f} |")
    good = [r for r in results if r["loss_pp"] <= 0.5]
    best = max(good, key=lambda r: r["ratio"])
    print(f"\nsmallest within 0.5 pp: {best['family']} ({best['setting']}): {best['ratio']:.1f}x, "
          f"{100 * best['accuracy']:.2f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"baseline_accuracy": base_acc, "float_bytes": float_bytes, "rows": results}, f, indent=1)


if __name__ == "__main__":
    main()
