"""Compress a digits classifier: ``python -m nncodec.examples.digits [--trained] --out DIR``.

Trains the MLP 64-300-100-10 of ``nncodec.examples.mlp`` on scikit-learn's digits (``load_digits()``, X / 16,
``train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)``) and writes DIR/float.nnc (the trained
float32 model, uncompressed) and DIR/compressed.nnc. Without ``--trained`` the compression is post-training
(magnitude pruning 30% + k-means k=8); with it, Deep Compression's pipeline runs on the trained model
(:data:`MLP_RECIPE`: iterative pruning with retraining, then trained quantization; ``entropy="auto"``,
``layout="auto"``). Both files carry the architecture under metadata key ``nncodec.architecture``; weights are
stored (out, in). Each file is then run by ``nncodec.runtime.load`` on the test split and its accuracy printed.
:data:`MLP_RECIPE` was chosen by 5-fold cross-validation on the training split (``bench/bench_trained.py``,
bench/history/2026-11-sessions-1-to-5.md section 7); the test split plays no part in it. Needs scikit-learn.
"""

import argparse
import importlib
import json
import pathlib

import numpy as np

from .. import runtime, save
from ..train import PruningSchedule, distilled_gradients, train_compressed
from .mlp import (
    architecture,
    forward_backward,
    load_digits_split,
    loss_gradients,
    train_mlp,
)

__all__ = ["MLP_RECIPE", "compress_trained", "metadata", "runtime_accuracy", "save_post_training", "write_models"]

WEIGHTS = ("fc1.weight", "fc2.weight", "fc3.weight")
MLP_RECIPE = {
    "schedule": PruningSchedule((0.5, 0.7, 0.8, 0.9, 0.92, 0.93), rule="magnitude", scope="global", epochs=8),
    "clusters": {"fc1.weight": 8, "fc2.weight": 8, "fc3.weight": 8, "fc1.bias": 4, "fc2.bias": 4,
                 "fc3.bias": 4},
    "quant_epochs": 6, "lr": 2e-3, "weight_decay": 1e-4, "centroid_lr": 1e-4, "seed": 0,
    "lr_decay": "constant", "distillation": None,
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
    ``recipe`` on the training data ``X``, ``y``. A recipe's ``distillation`` (None, or the keyword arguments
    ``temperature``, ``alpha`` of :func:`nncodec.train.distilled_gradients`) retrains against ``weights`` as the
    teacher."""
    params = {name: np.asarray(w, dtype=np.float64).copy() for name, w in weights.items()}
    gradients = loss_gradients
    if recipe["distillation"]:
        gradients = distilled_gradients(forward_backward, weights, **recipe["distillation"])
    state = train_compressed(params, gradients, X, y, recipe["schedule"], recipe["clusters"],
                             [n for n in WEIGHTS if n in params], quant_epochs=recipe["quant_epochs"],
                             lr=recipe["lr"], centroid_lr=recipe["centroid_lr"], weight_decay=recipe["weight_decay"],
                             seed=recipe["seed"], lr_decay=recipe["lr_decay"], log=log)
    return params, state


def runtime_accuracy(path, X, y, layout="auto"):
    """Accuracy on ``X``, ``y`` of the model in container ``path`` as run by :func:`nncodec.runtime.load` with
    ``layout`` (``"auto"``: the runtime's measured pick per layer)."""
    model = runtime.load(path, layout=layout, batch=len(X))
    return float(np.mean(np.argmax(model(X), axis=1) == y))


def write_models(out, trained, recipe=MLP_RECIPE, float_epochs=40, runtime_layout="auto", log=None):
    """Train the MLP on the training split, write ``out``/float.nnc and ``out``/compressed.nnc (prune-retrain +
    trained quantization with ``recipe`` if ``trained``, else post-training) and return one row per file:
    (label, path, bytes, test accuracy computed by the runtime in ``runtime_layout``). ``log(message)`` reports
    progress."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    X_train, X_test, y_train, y_test = load_digits_split()
    log = log or (lambda message: None)
    log("training the float model (MLP 64-300-100-10)...")
    weights = train_mlp(X_train, y_train, epochs=float_epochs)
    meta = metadata(architecture())
    save(out / "float.nnc", weights, metadata=meta)
    if trained:
        def stage(name, params, state):
            pruned = sum(np.count_nonzero(~m) for m in state.masks.values())
            log(f"  {name}: {100 * pruned / sum(m.size for m in state.masks.values()):.1f}% of the weights pruned")
        params, state = compress_trained(weights, X_train, y_train, recipe, log=stage)
        save(out / "compressed.nnc", **state.encode_arguments(params), entropy="auto", layout="auto", metadata=meta)
        label = "prune-retrain + trained quantization"
    else:
        save_post_training(out / "compressed.nnc", weights, meta)
        label = "post-training: magnitude 30% + k-means k=8"
    files = (("float32", "float.nnc"), (label, "compressed.nnc"))
    return [(name, out / file, (out / file).stat().st_size,
             runtime_accuracy(out / file, X_test, y_test, runtime_layout)) for name, file in files]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nncodec.examples.digits", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trained", action="store_true", help="prune-retrain + trained quantization")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    args = parser.parse_args(argv)
    try:
        importlib.import_module("sklearn")  # the digits data set and its split come from scikit-learn
    except ImportError:
        parser.exit(2, f"{parser.prog}: error: this example needs scikit-learn for the digits data set: pip install scikit-learn\n")
    rows = write_models(args.out, args.trained, log=print)
    images = len(load_digits_split()[3])
    print(f"\n| model | file | bytes | ratio | test accuracy by nncodec.runtime ({images} images) |\n"
          "|---|---|---:|---:|---:|")
    for name, path, size, acc in rows:
        print(f"| {name} | {path} | {size} | {rows[0][2] / size:.1f}x | {100 * acc:.2f}% |")


if __name__ == "__main__":
    main()
