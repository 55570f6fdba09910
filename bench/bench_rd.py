"""Rate-distortion against Fraunhofer NNCodec 2.1.3 on the same tensors (issue 4, figure 1).

Our points: uniform and dependent (trellis) quantization, CABAC-coded, in three kinds of family: one step shared by
all tensors (NNCodec's own allocation: one qp for every tensor; step 2^(qp/4), halved for dq whose union grid is
twice as fine), per-channel SQNR targets, and one step for the model fitted to a total SQNR target
(``scope=model``, the deepcabac preset's quantizer). 1-D tensors (here the LSTM biases) are kept lossless (our
default), or, in two more global-step families, quantized uniformly like NNCodec does by default (its
``nonweight_qp = -75``: step 2^(-75/4)) or at 1/8 of the weights' dq step (three bits finer than the weights).
NNCodec's curve: its full pipeline (``nnc.compress``, default settings per qp, with and without dependent
quantization), measured now by ``bench/peer_nncodec_rd.py`` (in the peer venv, see
bench/PEER.md) in the same run; without the peer the run stops unless ``--no-peer``. Tensor set: every tensor with >= 1000 elements, as
NNCodec's figures. Bits per weight are whole containers over all elements of the set; SQNR is over all of them
together. At each of our points NNCodec's size at equal SQNR is interpolated on its DQ curve.

With ``--states 4,16`` more families per state count: dq with that machine (spec 4.5, State_Count) at one global
step, the 1-D tensors of >= 1000 elements (the LSTM biases) quantized uniformly at step/8, and (with
``--states-targets 25,35``) at per-channel SQNR targets.

    NNCODEC_PEER_PYTHON=/work/peer-venv/bin/python python bench/bench_rd.py [--repeat 3] [--no-peer | --peer-json F]
                             [--plot rd.png]   (matplotlib)   [--states 4,8,16,32 --states-targets 25,35]
"""

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, SHARED_NPZ, load_weights, machine, median_time, peer_or_exit  # noqa: E402

sys.path.append(str(ROOT))
import nncodec  # noqa: E402
from nncodec.quant import sqnr_db  # noqa: E402

NNCODEC_NONWEIGHT_STEP = 2.0 ** (-75 / 4)   # NNCodec 2.1.3's default step for 1-D tensors (nonweight_qp = -75)


def peer_points(args):
    """(source, NNCodec's points): its full pipeline run now on the same tensors (bench/peer_nncodec_rd.py), or
    the points of an explicitly given ``--peer-json`` (the output names that file), or none with ``--no-peer``."""
    if args.peer_json:
        with open(args.peer_json) as f:
            data = json.load(f)
        source = f"read from {args.peer_json} (not measured in this run)"
    else:
        data = peer_or_exit(args.no_peer, "peer_nncodec_rd.py",
                            ["--npz", args.npz or SHARED_NPZ, "--qps=" + args.peer_qps, "--repeat", args.repeat])
        if data is None:
            return "not run (--no-peer)", []
        source = "NNCodec 2.1.3 measured now"
    points = data.get("points") or data.get("settings")
    return source, [{"dq": p["dq"], "bits_per_weight": p["bits_per_weight"], "sqnr_db": p["sqnr_db"],
                     "enc_MBps": p.get("enc_MBps_f32"), "dec_MBps": p.get("dec_MBps_f32"), "qp": p.get("qp")}
                    for p in points]


def interpolate(points, sqnr):
    """NNCodec's bits/weight at ``sqnr`` on its curve (linear between the bracketing points), or None."""
    curve = sorted((p["sqnr_db"], p["bits_per_weight"]) for p in points)
    for (s0, b0), (s1, b1) in zip(curve, curve[1:]):
        if s0 <= sqnr <= s1:
            return b0 + (b1 - b0) * (sqnr - s0) / (s1 - s0)
    return None


def config_row(name, spec, one_d=(), one_d_spec=None):
    """``(family, row label, quantize)``: ``spec`` for every tensor, or with the 1-D tensors ``one_d`` quantized by
    ``one_d_spec`` instead of kept lossless."""
    if one_d_spec is None:
        return name, spec, spec
    return name, f"{spec}; 1-D {one_d_spec}", {**dict.fromkeys(one_d, one_d_spec), "*": spec}


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


def plot(rows, peer, path):
    """Two panels: bits/weight against SQNR for each of our families and NNCodec's two curves; below, each family's
    bytes over NNCodec's (DQ curve) at equal SQNR, where the 1-2% differences can be seen."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ratio_ax) = plt.subplots(2, 1, figsize=(7, 8), sharex=True, height_ratios=(3, 2))
    for family in dict.fromkeys(r[0] for r in rows):
        pts = sorted((r[4], r[3], r[5]) for r in rows if r[0] == family)
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"ours: {family} + cabac")
        inside = [(s, b / theirs) for s, b, theirs in pts if theirs]
        ratio_ax.plot([p[0] for p in inside], [p[1] for p in inside], marker="o", color=line.get_color())
    for dq, name in ((1, "NNCodec 2.1.3, dq"), (0, "NNCodec 2.1.3, no dq")):
        pts = sorted((p["sqnr_db"], p["bits_per_weight"]) for p in peer if p["dq"] == dq)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="--", marker="x", label=name)
    ratio_ax.axhline(1.0, color="black", linewidth=0.8)
    ratio_ax.axhline(0.97, color="grey", linestyle=":", linewidth=0.8)
    ax.set_ylabel("bits per weight (whole container)")
    ax.set_title("easyocr_english_g2: rate-distortion")
    ratio_ax.set_xlabel("weight SQNR over all tensors (dB)")
    ratio_ax.set_ylabel("our bytes / NNCodec dq bytes at equal SQNR")
    for a in (ax, ratio_ax):
        a.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npz")
    parser.add_argument("--peer-json", help="NNCodec's points from this JSON of peer_nncodec_rd.py instead of running it "
                        "now (the output says so)")
    parser.add_argument("--peer-qps", default="-26,-30,-34,-38,-42", help="NNCodec's qps, run now")
    parser.add_argument("--no-peer", action="store_true", help="measure nncodec alone (the table says so)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--targets", default="20,25,30,35,40,45",
                        help="SQNR targets, dB, of the per-channel and the model-step (scope=model) families")
    parser.add_argument("--qps", default="-18,-22,-26,-30,-34,-38,-42", help="global steps 2**(qp/4)")
    parser.add_argument("--plot", help="write the RD curves to this PNG (needs matplotlib)")
    parser.add_argument("--states", default="", help="dq state counts, two families each (global step with "
                        "biases at step/8, and per-channel SQNR targets)")
    parser.add_argument("--states-targets", default="", help="per-channel SQNR targets of the --states families")
    args = parser.parse_args()
    peer_or_exit(args.no_peer or bool(getattr(args, 'peer_json', None)))
    label, weights = load_weights(args.npz)
    weights = {k: v for k, v in weights.items() if v.size >= 1000}
    n = sum(v.size for v in weights.values())
    mb = 4 * n / 1e6
    source, peer = peer_points(args)
    peer_dq = [p for p in peer if p["dq"] == 1]
    rows = []
    configs = []
    one_d = [name for name, w in weights.items() if w.ndim < 2]
    qps = [int(q) for q in args.qps.split(",") if q]
    for qp in qps:
        step = 2.0 ** (qp / 4)
        dq = f"dq:step={step / 2:.9g}"
        configs += [config_row("uniform, global step", f"uniform:step={step:.9g}"), config_row("dq, global step", dq),
                    config_row("dq, global step, 1-D at NNCodec's step", dq, one_d,
                           f"uniform:step={NNCODEC_NONWEIGHT_STEP:.9g}"),
                    config_row("dq, global step, 1-D at step/8", dq, one_d, f"uniform:step={step / 16:.9g}")]
    for target in [int(t) for t in args.targets.split(",") if t]:
        configs += [config_row("uniform, per-channel SQNR", f"uniform:sqnr={target},axis=0"),
                    config_row("dq, per-channel SQNR", f"dq:sqnr={target},axis=0"),
                    config_row("uniform, one model step for the SQNR", f"uniform:sqnr={target},scope=model"),
                    config_row("dq, one model step for the SQNR", f"dq:sqnr={target},scope=model")]
    for states in [int(c) for c in args.states.split(",") if c]:
        configs += states_families(states, one_d, qps, [int(t) for t in args.states_targets.split(",") if t])
    for name, spec, quantize in configs:
        config = {"quantize": quantize, "entropy": "cabac"}
        t_enc, blob = median_time(lambda: nncodec.encode(weights, **config), args.repeat)
        t_dec, decoded = median_time(lambda: nncodec.decode(blob), args.repeat)
        bpw = 8 * len(blob) / n
        sqnr = sqnr_db(weights, decoded)
        theirs = interpolate(peer_dq, sqnr)
        rows.append((name, spec, len(blob), bpw, sqnr, theirs, mb / t_enc, mb / t_dec))
        print(f"{spec}: {bpw:.3f} b/w, {sqnr:.2f} dB", file=sys.stderr)
    print(f"# Rate-distortion against NNCodec 2.1.3\n\n{datetime.date.today()}, {machine()}\n"
          f"data: {label}, {len(weights)} tensors with >= 1000 elements, {n} weights; NNCodec curve: {source}\n"
          f"command: python {' '.join(sys.argv)}\n")
    if args.plot:
        plot(rows, peer, args.plot)
    print("| ours | bytes | bits/weight | SQNR dB | NNCodec DQ b/w at this SQNR | ours / NNCodec | enc MB/s | dec MB/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for family, spec, size, bpw, sqnr, theirs, enc, dec in rows:
        ratio = f"{bpw / theirs:.3f}" if theirs else "outside its curve"
        theirs_s = f"{theirs:.3f}" if theirs else "-"
        print(f"| {spec} + cabac | {size} | {bpw:.3f} | {sqnr:.2f} | {theirs_s} | {ratio} | {enc:.1f} | {dec:.1f} |")
    print("\nPer family, over the points inside NNCodec's curve: ours / NNCodec at equal SQNR\n")
    print("| family | points | best | worst |\n|---|---:|---:|---:|")
    for family in dict.fromkeys(r[0] for r in rows):
        ratios = [r[3] / r[5] for r in rows if r[0] == family and r[5]]
        if ratios:
            print(f"| {family} | {len(ratios)} | {min(ratios):.3f} | {max(ratios):.3f} |")
    print("\nNNCodec points (bits/weight, SQNR dB, enc/dec MB/s as measured by the peer script):\n")
    print("| dq | qp | bits/weight | SQNR dB | enc MB/s | dec MB/s |\n|---|---:|---:|---:|---:|---:|")
    for p in sorted(peer, key=lambda p: (p["dq"], p["sqnr_db"])):
        fmt = lambda x: "-" if x is None else f"{x:.1f}"  # noqa: E731
        print(f"| {p['dq']} | {p.get('qp', '-')} | {p['bits_per_weight']:.3f} | {p['sqnr_db']:.2f} | "
              f"{fmt(p.get('enc_MBps'))} | {fmt(p.get('dec_MBps'))} |")


if __name__ == "__main__":
    main()
