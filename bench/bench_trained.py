"""Trained compression (issue 8): Deep Compression's pipeline (prune-retrain, trained quantization, entropy
coding) on scikit-learn's digits, with the NumPy reference loop and the PyTorch adapter.

Models: the MLP 64-300-100-10 of bench_digits.py (same float training) and a LeNet-5-shaped CNN
(nncodec.examples.cnn). Same split as bench_digits.py (X / 16, 75/25 stratified, random_state=0), deterministic
seeds. Sizes are whole containers; "ratio" is against the float32 bytes of all weights and biases.

Selection protocol (training split only; the test split is used once, for the chosen recipe):
- MLP: stratified 5-fold cross-validation of the 1347 training images (shuffled, random_state=0). In each fold a
  float model is trained on 4/5 and every recipe of MLP_GRID compresses it; a recipe's loss is pooled over the
  1347 held-out predictions (images the fold's float model got right minus images the compressed model got right,
  1 image = 0.074 pp). Rule, fixed before the run: the smallest mean container (entropy=auto, layout=auto) among
  the recipes with pooled loss <= 0.25 pp (a margin for the test split's noise), else the smallest pooled loss.
- CNN (its compression is slower): 20% of the training split held out (stratified, random_state=0;
  ``nncodec.examples.mlp.validation_split``), a float model trained on the other 80%, every recipe of CNN_GRID
  applied to it, and the smallest container kept among those within 0.5 pp of the float model's validation
  accuracy (else the most accurate).
The chosen recipe is then rerun from a float model trained on the full training split, and that model's test
accuracy is the one reported.

    python bench/bench_trained.py [--no-torch] [--no-mlp] [--no-cnn] [--json out.json]

Needs scikit-learn; torch for the adapter comparison.
"""

import argparse
import datetime
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, machine  # noqa: E402

sys.path.append(str(ROOT))
import nncodec  # noqa: E402
from nncodec.examples import cnn, mlp  # noqa: E402
from nncodec.examples.digits import MLP_RECIPE, compress_trained, metadata  # noqa: E402
from nncodec.examples.digits import WEIGHTS as MLP_WEIGHTS  # noqa: E402
from nncodec.format.records import iter_streams  # noqa: E402
from nncodec.stages import coding_by_name  # noqa: E402
from nncodec.decoder.summary import describe_node  # noqa: E402
from nncodec.train import PruningSchedule, minibatches, train_compressed  # noqa: E402

CNN_WEIGHTS = ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")
CODERS = ("raw", "zstd", "huffman", "cabac")
LAYOUT_CHOICES = (("dense", "auto"), ("csr", "auto"), ("relidx", "auto"), ("relidx", "huffman"), ("cer", "auto"),
                  ("auto", "auto"))
MAX_VALIDATION_LOSS = 0.005
CV_FOLDS = 5
MAX_CV_LOSS = 0.0025


def recipe(amounts, entries, weight_names, epochs, lr=1e-3, lr_decay="constant", distillation=None):
    """A recipe of :func:`nncodec.train.train_compressed`: global magnitude pruning through ``amounts`` with
    ``epochs`` of retraining each (Adam, ``lr``, L2 1e-4), ``entries`` shared weights per weight tensor and 4 per
    bias, 6 epochs of centroid training; ``lr_decay`` and ``distillation`` as in ``compress_trained``."""
    return {"schedule": PruningSchedule(amounts, rule="magnitude", scope="global", epochs=epochs),
            "clusters": {**{n: entries for n in weight_names}, **{n.replace("weight", "bias"): 4 for n in weight_names}},
            "quant_epochs": 6, "lr": lr, "weight_decay": 1e-4, "centroid_lr": 1e-4, "seed": 0, "lr_decay": lr_decay,
            "distillation": distillation}


TO_92, TO_93 = (0.5, 0.7, 0.8, 0.9, 0.92), (0.5, 0.7, 0.8, 0.9, 0.92, 0.93)
MLP_GRID = {
    "93%, 8 entries, lr 1e-3 (the previous recipe)": recipe(TO_93, 8, MLP_WEIGHTS, 8),
    "93%, 8 entries, lr 2e-3": recipe(TO_93, 8, MLP_WEIGHTS, 8, lr=2e-3),
    "93%, 8 entries, lr 4e-3": recipe(TO_93, 8, MLP_WEIGHTS, 8, lr=4e-3),
    "93%, 16 entries, lr 2e-3": recipe(TO_93, 16, MLP_WEIGHTS, 8, lr=2e-3),
    "92%, 16 entries, lr 2e-3": recipe(TO_92, 16, MLP_WEIGHTS, 8, lr=2e-3),
    "93%, 8 entries, lr 2e-3, distillation T=2 alpha=0.5": recipe(
        TO_93, 8, MLP_WEIGHTS, 8, lr=2e-3, distillation={"temperature": 2.0, "alpha": 0.5}),
    "93%, 8 entries, lr 2e-3, cosine decay": recipe(TO_93, 8, MLP_WEIGHTS, 8, lr=2e-3, lr_decay="cosine"),
}
CNN_GRID = {
    "prune to 90%, 16 entries": recipe((0.5, 0.7, 0.8, 0.9), 16, CNN_WEIGHTS, 6),
    "prune to 92%, 16 entries": recipe((0.5, 0.7, 0.8, 0.9, 0.92), 16, CNN_WEIGHTS, 6),
    "prune to 90%, 8 entries": recipe((0.5, 0.7, 0.8, 0.9), 8, CNN_WEIGHTS, 6),
}


def float_bytes(weights):
    return 4 * sum(np.size(w) for w in weights.values())


def stage_rows(weights, pruned, state, params, accuracy, arch):
    """Table-1-like rows: (stage, bytes, accuracy) from float32 to the coded container."""
    rows = [("float32 (raw container)", len(nncodec.encode(weights)), accuracy(weights))]
    pruned32 = {n: w.astype(np.float32) for n, w in pruned.items()}
    rows.append(("pruned, float32 zstd over byte planes", len(nncodec.encode(pruned32, compress="auto")),
                 accuracy(pruned32)))
    args = state.encode_arguments(params)
    trained = args["weights"]
    for coder in CODERS:
        label = "pruned + quantized, dense 1-byte indices" if coder == "raw" else f"  ... indices coded by {coder}"
        rows.append((label, len(nncodec.encode(**args, entropy=coder)), accuracy(trained)))
    rows.append(("coded: entropy=auto (smallest per stream), dense layout", len(nncodec.encode(**args, entropy="auto")),
                 accuracy(trained)))
    rows.append(("coded: relidx + huffman (Deep Compression's coding)",
                 len(nncodec.encode(**args, entropy="huffman", layout="relidx")), accuracy(trained)))
    rows.append(("coded: entropy=auto, layout=auto (smallest per tensor)",
                 len(nncodec.encode(**args, entropy="auto", layout="auto")), accuracy(trained)))
    blob = nncodec.encode(**args, entropy="auto", layout="auto", metadata=metadata(arch))
    decoded = nncodec.decode(blob)
    assert all(decoded[n].tobytes() == trained[n].tobytes() for n in trained), "export drifted"
    rows.append(("coded, with the architecture metadata (example's file)", len(blob), accuracy(decoded)))
    return rows


def stream_bits(values):
    """(bits, coder) of the smallest of the integer codings for a 1-D stream."""
    values = np.ascontiguousarray(values)
    sizes = [(len(coding_by_name(c).encode(values)), c) for c in CODERS if values.size]
    best = min(sizes) if sizes else (0, "-")
    return 8 * best[0], best[1]


def layer_rows(state):
    """Table-5-like rows per shared tensor: weights, kept %, codebook bits, and coded bits split into the mask
    (positions) and the kept weights' indices, plus the joint dense stream the container stores."""
    rows = []
    for name, shared in state.shared.items():
        levels = shared.indices.reshape(-1)
        n = levels.size
        mask = state.masks.get(name, np.ones(levels.shape, bool)).reshape(-1)
        kept = max(int(mask.sum()), 1)
        small = levels.astype(np.uint8 if shared.centroids.size <= 256 else np.uint16)
        mask_bits, mask_coder = stream_bits(mask.astype(np.uint8)) if name in state.masks else (0, "-")
        value_levels = small[mask] - (1 if shared.pinned_zero else 0)
        value_bits, value_coder = stream_bits(value_levels.astype(small.dtype))
        joint_bits, joint_coder = stream_bits(small)
        rows.append({"layer": name, "weights": n, "kept_pct": 100 * kept / n, "entries": shared.centroids.size,
                     "bits_pq": math.ceil(math.log2(max(shared.centroids.size, 2))),
                     "index_bits": mask_bits / kept, "index_coder": mask_coder,
                     "weight_bits": value_bits / kept, "weight_coder": value_coder,
                     "joint_bits_kept": joint_bits / kept, "joint_bits_all": joint_bits / n, "joint_coder": joint_coder,
                     "joint_bytes": joint_bits // 8})
    return rows


def layout_rows(state, args):
    """Per tensor: stored bytes under each (layout, entropy) of LAYOUT_CHOICES, the chain layout=auto keeps, and
    the relative-index streams per kept weight (gap bits = positions, value bits = codebook indices)."""
    stored = {}
    for layout, entropy in LAYOUT_CHOICES:
        with nncodec.open(nncodec.encode(**args, entropy=entropy, layout=layout)) as reader:
            for record in reader.directory.tensors:
                stored[record.name, layout, entropy] = (describe_node(record.node),
                                                        [s.length for s in iter_streams(record.node)])
    rows = []
    for name in state.shared:
        kept = max(int(np.count_nonzero(args["weights"][name])), 1)
        gaps, values = stored[name, "relidx", "huffman"][1]
        rows.append({"layer": name, "weights": args["weights"][name].size, "kept": kept,
                     "bytes": {f"{layout}+{entropy}": sum(stored[name, layout, entropy][1])
                               for layout, entropy in LAYOUT_CHOICES},
                     "auto_pick": stored[name, "auto", "auto"][0],
                     "relidx_gap_bits": 8 * gaps / kept, "relidx_value_bits": 8 * values / kept})
    return rows


def select_recipe(grid, train_float, X_fit, y_fit, X_val, y_val, accuracy, compress):
    """Choose among ``grid`` (name -> recipe) on validation accuracy only (see the module docstring).
    Returns (chosen name, float validation accuracy, one row per recipe)."""
    weights = train_float(X_fit, y_fit)
    base = accuracy(weights, X_val, y_val)
    rows = []
    for name, chosen in grid.items():
        t0 = time.perf_counter()
        params, state = compress(weights, X_fit, y_fit, chosen, None)
        args = state.encode_arguments(params)
        size = len(nncodec.encode(**args, entropy="auto", layout="auto"))
        rows.append({"recipe": name, "bytes": size, "ratio": float_bytes(weights) / size,
                     "val_acc": accuracy(args["weights"], X_val, y_val), "seconds": time.perf_counter() - t0})
    within = [r for r in rows if base - r["val_acc"] <= MAX_VALIDATION_LOSS + 1e-9]
    best = min(within, key=lambda r: r["bytes"]) if within else max(rows, key=lambda r: r["val_acc"])
    return best["recipe"], base, rows


def report_selection(label, chosen, base, rows, n_val):
    print(f"\n### {label}: recipe selection on the validation split ({n_val} images, 1 image = "
          f"{100 / n_val:.2f} pp; float model on the other 80%: {100 * base:.2f}%)\n")
    print("| recipe | container bytes | ratio | validation accuracy | loss (pp) | chosen |\n|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['recipe']} | {r['bytes']} | {r['ratio']:.1f}x | {100 * r['val_acc']:.2f}% | "
              f"{100 * (base - r['val_acc']):+.2f} | {'**yes**' if r['recipe'] == chosen else ''} |")


def cross_validate(grid, train_float, X, y, accuracy, compress, folds=CV_FOLDS):
    """Choose among ``grid`` by stratified k-fold cross-validation on ``X``, ``y`` (the training split; see the
    module docstring). Returns (chosen name, float images correct over all folds, one row per recipe)."""
    from sklearn.model_selection import StratifiedKFold
    rows = {name: {"recipe": name, "fold_lost": [], "fold_bytes": [], "seconds": 0.0} for name in grid}
    float_correct = 0
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
        weights = train_float(X[fit], y[fit])
        base = round(accuracy(weights, X[held], y[held]) * len(held))
        float_correct += base
        for name, chosen in grid.items():
            t0 = time.perf_counter()
            params, state = compress(weights, X[fit], y[fit], chosen, None)
            args = state.encode_arguments(params)
            row = rows[name]
            row["fold_lost"].append(base - round(accuracy(args["weights"], X[held], y[held]) * len(held)))
            row["fold_bytes"].append(len(nncodec.encode(**args, entropy="auto", layout="auto")))
            row["seconds"] += time.perf_counter() - t0
    for row in rows.values():
        row["loss"] = sum(row["fold_lost"]) / len(y)
        row["bytes"] = float(np.mean(row["fold_bytes"]))
        row["ratio"] = float_bytes(weights) / row["bytes"]
    within = [r for r in rows.values() if r["loss"] <= MAX_CV_LOSS + 1e-12]
    best = (min(within, key=lambda r: r["bytes"]) if within
            else min(rows.values(), key=lambda r: (r["loss"], r["bytes"])))
    return best["recipe"], float_correct, list(rows.values())


def cross_validation_selection(label, grid, train_float, X_train, y_train, accuracy, compress):
    """The MLP's selection: :func:`cross_validate`, printed as a table. Returns (chosen name, record)."""
    chosen, float_correct, rows = cross_validate(grid, train_float, X_train, y_train, accuracy, compress)
    n = len(y_train)
    print(f"\n### {label}: recipe selection by {CV_FOLDS}-fold cross-validation on the training split ({n} held-out "
          f"predictions, 1 image = {100 / n:.3f} pp; float models: {float_correct} of {n} correct, "
          f"{100 * float_correct / n:.2f}%)\n")
    print(f"rule (fixed before the run): the smallest mean container among the recipes with pooled loss <= "
          f"{100 * MAX_CV_LOSS:.2f} pp, else the smallest pooled loss\n")
    print("| recipe | mean container bytes | ratio | images lost per fold | pooled loss | pooled loss (pp) | "
          "seconds | chosen |\n|---|---:|---:|---|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['recipe']} | {r['bytes']:.0f} | {r['ratio']:.1f}x | {' '.join(f'{d:+d}' for d in r['fold_lost'])} "
              f"| {sum(r['fold_lost'])} | {100 * r['loss']:+.2f} | {r['seconds']:.0f} | "
              f"{'**yes**' if r['recipe'] == chosen else ''} |")
    return chosen, {"float_correct": float_correct, "rows": rows}


def validation_selection(label, grid, train_float, X_train, y_train, accuracy, compress):
    """The CNN's selection: :func:`select_recipe` on ``mlp.validation_split``, printed as a table. Returns
    (chosen name, record)."""
    X_fit, X_val, y_fit, y_val = mlp.validation_split(X_train, y_train)
    chosen, base, rows = select_recipe(grid, train_float, X_fit, y_fit, X_val, y_val, accuracy, compress)
    report_selection(label, chosen, base, rows, len(y_val))
    return chosen, {"validation_float": base, "rows": rows}


def run_model(label, weights, X_train, y_train, X_test, y_test, accuracy, compress, arch):
    log_rows, snapshot = [], {}

    def log(stage, params, state):
        log_rows.append((stage, accuracy(params, X_test, y_test),
                         1 - sum(m.sum() for m in state.masks.values()) / sum(m.size for m in state.masks.values())))
        if stage.startswith("pruned"):
            snapshot["pruned"] = {n: w.copy() for n, w in params.items()}

    t0 = time.perf_counter()
    params, state = compress(weights, X_train, y_train, log)
    seconds = time.perf_counter() - t0
    rows = stage_rows(weights, snapshot["pruned"], state, params, lambda w: accuracy(w, X_test, y_test), arch)
    return {"label": label, "float_bytes": float_bytes(weights), "seconds": seconds, "log": log_rows,
            "stages": rows, "layers": layer_rows(state), "layouts": layout_rows(state, state.encode_arguments(params)),
            "state": state, "params": params}


def torch_mlp(weights, X, y, recipe):
    """The MLP compressed by nncodec.torch.TorchCompression in a plain torch loop (float64 Sequential, the same
    batches as the NumPy loop; the recipe's distillation by nncodec.torch.distillation_loss against a frozen copy
    of the float model, its lr decay by setting the optimizers' lr before each step). Returns
    ({fc-name: float32 weights}, encode arguments)."""
    import copy

    import torch

    from nncodec.torch import TorchCompression, distillation_loss
    from nncodec.train import Adam, decayed_lr
    model = torch.nn.Sequential(torch.nn.Linear(64, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100),
                                torch.nn.ReLU(), torch.nn.Linear(100, 10)).double()
    ours = {f"{2 * (i - 1)}.{kind}": f"fc{i}.{kind}" for i in (1, 2, 3) for kind in ("weight", "bias")}
    with torch.no_grad():
        for theirs, p in model.named_parameters():
            p.copy_(torch.from_numpy(weights[ours[theirs]].astype(np.float64)))
    teacher = copy.deepcopy(model).requires_grad_(False)
    theirs_of = {v: k for k, v in ours.items()}
    comp = TorchCompression(model)
    rng = np.random.default_rng(recipe["seed"])
    inputs, targets = torch.from_numpy(X.astype(np.float64)), torch.from_numpy(y)

    def loss(idx):
        if recipe["distillation"]:
            return distillation_loss(model(inputs[idx]), targets[idx], teacher(inputs[idx]),
                                     **recipe["distillation"])
        return torch.nn.functional.cross_entropy(model(inputs[idx]), targets[idx])

    def train(epochs, optimizer):
        comp.attach(optimizer)
        optimizers = [(group, "lr", group["lr"]) for group in optimizer.param_groups]
        if comp.centroid_optimizer is not None:
            optimizers.append((vars(comp.centroid_optimizer), "lr", comp.centroid_optimizer.lr))
        total, step = epochs * -(-len(X) // 64), 0
        for _ in range(epochs):
            for idx in minibatches(len(X), 64, rng):
                for holder, key, base in optimizers:
                    holder[key] = decayed_lr(base, step, total, recipe["lr_decay"])
                step += 1
                optimizer.zero_grad()
                loss(idx).backward()
                optimizer.step()
        for holder, key, base in optimizers:
            holder[key] = base

    schedule = recipe["schedule"]
    for amount in schedule.amounts:
        comp.prune(amount, ["0.weight", "2.weight", "4.weight"], schedule.rule, schedule.scope)
        train(schedule.epochs, torch.optim.Adam(model.parameters(), lr=recipe["lr"],
                                                weight_decay=recipe["weight_decay"]))
    comp.cluster({theirs_of[n]: k for n, k in recipe["clusters"].items()}, Adam(recipe["centroid_lr"]))
    train(recipe["quant_epochs"], torch.optim.Adam(model.parameters(), lr=recipe["lr"]))
    args = comp.finalize()
    return {ours[n]: w for n, w in args["weights"].items()}, args


def compress_cnn(weights, X, y, r, log):
    """Like ``compress_trained`` for the CNN (cross-entropy only: the CNN has no ``forward_backward``)."""
    if r["distillation"]:
        raise ValueError("the CNN recipes train on cross-entropy; distillation is wired for the MLP only")
    params = {n: np.asarray(w, dtype=np.float64).copy() for n, w in weights.items()}
    state = train_compressed(params, cnn.loss_gradients, X, y, r["schedule"], r["clusters"], CNN_WEIGHTS,
                             quant_epochs=r["quant_epochs"], lr=r["lr"], centroid_lr=r["centroid_lr"],
                             weight_decay=r["weight_decay"], seed=r["seed"], lr_decay=r["lr_decay"], log=log)
    return params, state


def report(result, base_acc):
    fb = result["float_bytes"]
    print(f"\n### {result['label']}: per stage (Deep Compression Table 1 style)\n")
    print(f"float32 weights {fb} bytes; compression (prune-retrain + trained quantization) took "
          f"{result['seconds']:.0f} s\n")
    print("| training stage | test accuracy | pruned |\n|---|---:|---:|")
    for stage, acc, sparsity in result["log"]:
        print(f"| {stage} | {100 * acc:.2f}% | {100 * sparsity:.1f}% |")
    print("\n| stage | container bytes | ratio vs float32 | test accuracy | loss (pp) |\n|---|---:|---:|---:|---:|")
    for stage, size, acc in result["stages"]:
        print(f"| {stage} | {size} | {fb / size:.1f}x | {100 * acc:.2f}% | {100 * (base_acc - acc):+.2f} |")
    print(f"\n### {result['label']}: per layer (Deep Compression Table 5 style)\n")
    print("index bits = coded mask (positions) per kept weight; weight bits = coded codebook indices of the kept "
          "weights per kept weight; the container stores both jointly as one dense stream (last columns).\n")
    print("| layer | weights | kept | entries | bits/weight P+Q | index bits P+Q+H | weight bits P+Q+H | "
          "dense stream bits/kept | bits/weight overall | stream bytes |\n|---|" + "---:|" * 9)
    for r in result["layers"]:
        print(f"| {r['layer']} | {r['weights']} | {r['kept_pct']:.1f}% | {r['entries']} | {r['bits_pq']} | "
              f"{r['index_bits']:.2f} ({r['index_coder']}) | {r['weight_bits']:.2f} ({r['weight_coder']}) | "
              f"{r['joint_bits_kept']:.2f} ({r['joint_coder']}) | {r['joint_bits_all']:.3f} | {r['joint_bytes']} |")
    print(f"\n### {result['label']}: layouts per layer (stored bytes of each tensor's streams)\n")
    print("relidx gap/value bits = the relidx+huffman streams per kept weight (Deep Compression's index and "
          "weight bits).\n")
    choices = [f"{layout}+{entropy}" for layout, entropy in LAYOUT_CHOICES]
    print("| layer | kept | " + " | ".join(choices) + " | auto keeps | relidx gap bits | relidx value bits |\n|---|"
          + "---:|" * (len(choices) + 1) + "---|---:|---:|")
    for r in result["layouts"]:
        print(f"| {r['layer']} | {r['kept']} | " + " | ".join(str(r["bytes"][c]) for c in choices) +
              f" | {r['auto_pick']} | {r['relidx_gap_bits']:.2f} | {r['relidx_value_bits']:.2f} |")
    totals = {c: sum(r["bytes"][c] for r in result["layouts"]) for c in choices}
    print("| **all** | | " + " | ".join(f"**{totals[c]}**" for c in choices) + " | | | |")


def cnn_float(X, y):
    return {n: w.astype(np.float32) for n, w in cnn.train_cnn(X, y).items()}


def select_and_run(label, grid, train_float, accuracy, compress, arch, split, select):
    """Select a recipe of ``grid`` with ``select`` (:func:`cross_validation_selection` or
    :func:`validation_selection`, training split only), then rerun it from a float model trained on the full
    training split; prints both and returns (chosen recipe, float weights, float test accuracy, result)."""
    X_train, X_test, y_train, y_test = split
    t0 = time.perf_counter()
    chosen, selection = select(label, grid, train_float, X_train, y_train, accuracy, compress)
    print(f"\nselection took {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    weights = train_float(X_train, y_train)
    base = accuracy(weights, X_test, y_test)
    print(f"\n{label} float training on the full training split {time.perf_counter() - t0:.0f} s, float32 test "
          f"accuracy {100 * base:.2f}%; chosen recipe: {chosen}")
    result = run_model(label, weights, X_train, y_train, X_test, y_test, accuracy,
                       lambda w, X, y, log: compress(w, X, y, grid[chosen], log), arch)
    result["selection"] = {"chosen": chosen, **selection}
    report(result, base)
    return grid[chosen], weights, base, result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-mlp", action="store_true", help="skip the MLP (its cross-validation) and the adapter")
    parser.add_argument("--no-cnn", action="store_true", help="skip the LeNet-5 (its selection takes ~10 minutes)")
    args = parser.parse_args()
    split = mlp.load_digits_split()
    X_train, X_test, y_train, y_test = split
    print(f"# Trained compression on digits (issue 8)\n\n{datetime.date.today()}, {machine()}\n"
          f"command: nice python bench/bench_trained.py {' '.join(sys.argv[1:])}; {len(y_test)} test images (1 image = "
          f"{100 / len(y_test):.2f} pp)")
    results = []
    if not args.no_mlp:
        mlp_recipe, mlp_weights, _, mlp_result = select_and_run(
            "MLP 64-300-100-10", MLP_GRID, mlp.train_mlp, mlp.accuracy, compress_trained, mlp.architecture(), split,
            cross_validation_selection)
        print(f"\nthe example's MLP_RECIPE is the chosen recipe: {mlp_recipe == MLP_RECIPE}")
        results.append(mlp_result)

    if not args.no_mlp and not args.no_torch:
        t0 = time.perf_counter()
        torch_weights, torch_args = torch_mlp(mlp_weights, X_train, y_train, mlp_recipe)
        seconds = time.perf_counter() - t0
        numpy_weights = mlp_result["state"].encode_arguments(mlp_result["params"])["weights"]
        acc_np, acc_t = mlp.accuracy(numpy_weights, X_test, y_test), mlp.accuracy(torch_weights, X_test, y_test)
        differ = sum(int(np.count_nonzero(torch_weights[n] != numpy_weights[n])) for n in numpy_weights)
        size_t = len(nncodec.encode(**torch_args, entropy="auto", layout="auto"))
        print("\n### PyTorch adapter vs NumPy loop (MLP, chosen recipe, float64 torch.nn.Sequential, "
              "torch.optim.Adam)\n")
        print("| loop | test accuracy | container bytes (entropy=auto, layout=auto) | seconds |\n|---|---:|---:|---:|")
        print(f"| NumPy (nncodec.train) | {100 * acc_np:.2f}% | {mlp_result['stages'][-2][1]} | "
              f"{mlp_result['seconds']:.0f} |")
        print(f"| torch (nncodec.torch.TorchCompression) | {100 * acc_t:.2f}% | {size_t} | {seconds:.0f} |")
        print(f"\ndifference {100 * (acc_t - acc_np):+.2f} pp; {differ} of "
              f"{sum(w.size for w in numpy_weights.values())} exported float32 weights differ")

    if not args.no_cnn:
        results.append(select_and_run("LeNet-5-shaped CNN", CNN_GRID, cnn_float, cnn.accuracy, compress_cnn,
                                      cnn.architecture(), split, validation_selection)[3])
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{k: v for k, v in r.items() if k not in ("state", "params")} for r in results], f,
                      indent=1, default=float)


if __name__ == "__main__":
    main()
