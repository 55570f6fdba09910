"""Storage of every layout (spec 4.1, 4.6 to 4.9) per tensor after pruning + k-means, which one layout="auto"
keeps, and the relative-index stream's filler overhead across gap widths.

    python bench/bench_layouts.py [--npz PATH] [--min-size 1024] [--repeat 3]

Sizes are the encoder's own measure (nncodec.encoder.tensor.node_size: stream bytes plus the node's directory bytes),
with each integer stream coded as the setting's entropy option says (auto: the smallest of zstd, huffman and
cabac, kept if it saves >= 3% over raw). ``--repeat N`` adds the encode time per layout choice (median of N).
"""

import argparse
import datetime
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, load_weights, machine, median_time  # noqa: E402

sys.path.append(str(ROOT))  # an installed nncodec wins; else the checkout
from nncodec.format.dtypes import code_of  # noqa: E402
from nncodec.encoder.tensor import StreamCodings, frequent_entry_first, node_size, quantized_node  # noqa: E402
from nncodec.encoder.layout_choice import parse_layout  # noqa: E402
from nncodec.quant import parse_prune, parse_quantizer  # noqa: E402
from nncodec.sparse import relidx_from_dense  # noqa: E402
from nncodec.stages import STAGES  # noqa: E402
from nncodec.stages.sparse_layout import index_array, zero_view  # noqa: E402

# (prune, quantize, entropy): the Deep Compression point with every stream coder, then one at which the
# sparse layouts only pay if they code their streams well, then fixed coders (huffman as in Deep Compression;
# raw: no entropy coding at all)
SETTINGS = (("magnitude:0.9", "kmeans:k=16", "auto"), ("magnitude:0.5", "kmeans:k=4", "auto"),
            ("magnitude:0.9", "kmeans:k=16", "huffman"), ("magnitude:0.9", "kmeans:k=16", "raw"))
LAYOUTS = ("dense", "csr", "relidx", "cer", "cser")
FILLER_BITS = range(1, 13)


def quantize_all(weights, prune, quantize):
    """{name: Quantized} for the float tensors of >= 2 dims, pruned per tensor then quantized."""
    masks = parse_prune(prune)({n: w.astype(np.float64) for n, w in weights.items()})
    quantizer = parse_quantizer(quantize)
    return {n: quantizer.quantize(weights[n].astype(np.float64), mask=masks[n]) for n in weights}


def layout_sizes(quantized, entropy):
    """{layout: bytes} for one tensor, plus the name of the layout auto keeps."""
    sizes = {}
    for layout in LAYOUTS + ("auto",):
        codings = StreamCodings("none", entropy, 9, None, parse_layout(layout))
        node, pending = quantized_node(12, quantized, codings)
        sizes[layout] = node_size(node, pending)
        if layout == "auto":
            sizes["auto picks"] = STAGES[node.body.stages[0].stage_id].name
    return sizes


def filler_rows(quantized_by_name, entropy):
    """Per gap width b: entries, filler fraction, fixed-width index bits (b per entry) and coded bytes."""
    codings = StreamCodings("none", entropy, 9, None)
    total_weights = sum(q.levels.size for q in quantized_by_name.values())
    rows = []
    for bits in FILLER_BITS:
        entries = fillers = coded = 0
        for q in quantized_by_name.values():
            levels, _ = frequent_entry_first(q.levels, q.codebook)
            matrix = relidx_from_dense(zero_view(levels), bits)
            entries += matrix.gaps.size
            fillers += int(np.count_nonzero(matrix.values == 0))
            gaps = index_array(matrix.gaps)
            values = index_array(matrix.values)
            coded += sum(len(codings.code(s, code_of(s.dtype))[1]) for s in (gaps, values))
        rows.append((bits, entries, fillers, bits * entries, coded, 8.0 * coded / total_weights))
    return rows


def encode_times(weights, repeat):
    """Median seconds of nncodec.encode over the whole set (first setting) per layout choice, measured in turn."""
    import nncodec
    prune, quantize, entropy = SETTINGS[0]
    out = {}
    for layout in ("dense", "relidx", "cer", "auto"):
        seconds, blob = median_time(lambda: nncodec.encode(weights, prune=prune, quantize=quantize, entropy=entropy,
                                                           layout=layout), repeat)
        out[layout] = (seconds, len(blob))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npz")
    parser.add_argument("--min-size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=0, help="also time encode per layout (median of REPEAT)")
    args = parser.parse_args()
    label, weights = load_weights(args.npz)
    weights = {n: w for n, w in weights.items()
               if w.dtype.kind == "f" and w.ndim >= 2 and w.size >= args.min_size}
    started = time.time()
    print(f"# Layouts on {label}: {len(weights)} tensors with >= 2 dims and >= {args.min_size} weights, "
          f"{sum(w.size for w in weights.values())} weights")
    print(f"{machine()}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    for prune, quantize, entropy in SETTINGS:
        quantized = quantize_all(weights, prune, quantize)
        print(f"\n## prune={prune!r}, quantize={quantize!r}, entropy={entropy!r}: bytes (bits per weight)")
        print("| tensor | shape | non-zero | " + " | ".join(LAYOUTS) + " | auto | auto picks |")
        print("|---|---|---:|" + "---:|" * (len(LAYOUTS) + 1) + "---|")
        totals = dict.fromkeys(LAYOUTS + ("auto",), 0)
        picks = {}
        for name, q in quantized.items():
            sizes = layout_sizes(q, entropy)
            n = q.levels.size
            density = np.count_nonzero(q.reconstruct()) / n
            cells = " | ".join(f"{sizes[k]} ({8 * sizes[k] / n:.2f})" for k in LAYOUTS + ("auto",))
            shape = "x".join(map(str, q.levels.shape))
            print(f"| {name} | {shape} | {density:.2f} | {cells} | {sizes['auto picks']} |")
            for k in totals:
                totals[k] += sizes[k]
            picks[sizes["auto picks"]] = picks.get(sizes["auto picks"], 0) + 1
        n = sum(w.size for w in weights.values())
        cells = " | ".join(f"{totals[k]} ({8 * totals[k] / n:.3f})" for k in LAYOUTS + ("auto",))
        print(f"| **total** | | | {cells} | {', '.join(f'{k} x{v}' for k, v in sorted(picks.items()))} |")
        print(f"\n### relidx filler overhead across gap widths (same setting, all {len(quantized)} tensors)")
        print("| b | entries | fillers | filler share | b-bit index stream bytes | coded gaps+values bytes | "
              "coded bits/weight |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for bits, entries, fillers, fixed_bits, coded, bpw in filler_rows(quantized, entropy):
            print(f"| {bits} | {entries} | {fillers} | {fillers / max(entries, 1):.3f} | {fixed_bits // 8} | "
                  f"{coded} | {bpw:.3f} |")
    if args.repeat:
        prune, quantize, entropy = SETTINGS[0]
        print(f"\n## encode time of the {len(weights)} tensors, prune={prune!r}, quantize={quantize!r}, "
              f"entropy={entropy!r}: median of {args.repeat}, measured in turn in one run")
        print("| layout | median s | x dense | container bytes |")
        print("|---|---:|---:|---:|")
        times = encode_times(weights, args.repeat)
        for layout, (seconds, size) in times.items():
            print(f"| {layout} | {seconds:.2f} | {seconds / times['dense'][0]:.2f} | {size} |")
    print(f"\n(total {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
