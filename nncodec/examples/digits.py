"""Compress a digits classifier: ``python -m nncodec.examples.digits [--trained] --out DIR``.

Trains the MLP 64-300-100-10 of ``nncodec.examples.mlp`` on scikit-learn's digits (``load_digits()``, X / 16,
``train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)``) and writes DIR/float.nnc (the trained
float32 model, uncompressed) and DIR/compressed.nnc. Without ``--trained`` the compression is post-training
(magnitude pruning 30% + k-means k=8); with it, Deep Compression's pipeline runs on the trained model
(:data:`MLP_RECIPE`: iterative pruning with retraining, then trained quantization; ``entropy="auto"``). Both
files carry the architecture under metadata key ``nncodec.architecture``; weights are stored (out, in).
Needs scikit-learn.
"""

import argparse
import json
import pathlib

import numpy as np

from .. import decode, save
from ..train import PruningSchedule, train_compressed
from .mlp import accuracy, architecture, load_digits_split, loss_gradients, train_mlp

__all__ = ["MLP_RECIPE", "compress_trained", "metadata", "save_post_training"]

WEIGHTS = ("fc1.weight", "fc2.weight", "fc3.weight")
MLP_RECIPE = {
    "schedule": PruningSchedule((0.5, 0.7, 0.8, 0.9, 0.92, 0.93), rule="magnitude", scope="global", epochs=8),
    "clusters": {"fc1.weight": 16, "fc2.weight": 16, "fc3.weight": 16, "fc1.bias": 4, "fc2.bias": 4,
                 "fc3.bias": 4},
    "quant_epochs": 6, "lr": 1e-3, "weight_decay": 1e-4, "centroid_lr": 1e-4, "seed": 0,
}


def metadata(arch):
    """Container metadata holding the architecture as compact JSON."""
    return {"nncodec.architecture": json.dumps(arch, separators=(",", ":"))}


def save_post_training(path, weights, meta):
    """Write ``weights`` compressed post-training (magnitude pruning 30% + k-means k=8, 8-bit uniform biases)."""
    save(path, weights, prune="magnitude:0.3", keep_small=0, entropy="auto", metadata=meta,
         quantize={"*.bias": "uniform:bits=8", "*": "kmeans:k=8"})


def compress_trained(weights, X, y, recipe=MLP_RECIPE, log=None):
    """(params, state): float64 copies of ``weights`` compressed by :func:`nncodec.train.train_compressed` with
    ``recipe`` on the training data ``X``, ``y``."""
    params = {name: np.asarray(w, dtype=np.float64).copy() for name, w in weights.items()}
    state = train_compressed(params, loss_gradients, X, y, recipe["schedule"], recipe["clusters"],
                             [n for n in WEIGHTS if n in params], quant_epochs=recipe["quant_epochs"],
                             lr=recipe["lr"], centroid_lr=recipe["centroid_lr"], weight_decay=recipe["weight_decay"],
                             seed=recipe["seed"], log=log)
    return params, state


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nncodec.examples.digits", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trained", action="store_true", help="prune-retrain + trained quantization")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X_train, X_test, y_train, y_test = load_digits_split()
    print("training the float model (MLP 64-300-100-10)...")
    weights = train_mlp(X_train, y_train)
    meta = metadata(architecture())
    save(out / "float.nnc", weights, metadata=meta)
    rows = [("float32", (out / "float.nnc").stat().st_size, accuracy(weights, X_test, y_test))]
    if args.trained:
        def log(stage, params, state):
            print(f"  {stage}: test accuracy {100 * accuracy(params, X_test, y_test):.2f}%")
        params, state = compress_trained(weights, X_train, y_train, log=log)
        save(out / "compressed.nnc", **state.encode_arguments(params), entropy="auto", metadata=meta)
        label = "prune-retrain + trained quantization"
    else:
        save_post_training(out / "compressed.nnc", weights, meta)
        label = "post-training: magnitude 30% + k-means k=8"
    blob = (out / "compressed.nnc").read_bytes()
    rows.append((label, len(blob), accuracy(decode(blob), X_test, y_test)))
    print(f"\n| model | file | bytes | ratio | test accuracy ({len(y_test)} images) |\n|---|---|---:|---:|---:|")
    for (name, size, acc), file in zip(rows, ("float.nnc", "compressed.nnc")):
        print(f"| {name} | {out / file} | {size} | {rows[0][1] / size:.1f}x | {100 * acc:.2f}% |")


if __name__ == "__main__":
    main()
