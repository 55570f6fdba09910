"""Entropy coders on quantized weights: bits per weight against the H0 bound, and encode/decode speed.

    python bench/bench_entropy.py [--npz PATH] [--repeat 5] [--bits 8 5] [--backends cython reference] [--json OUT]

For each b in --bits, every tensor with >= 1000 weights is quantized as in bench/levels.py (delta = max|w| /
2**(b-1), q = round(w / delta)) and coded one stream per tensor by every coder of ``coders()``: huffman at the
coding level (HuffmanCoding on int8/int16 levels, the int64 conversion included) and at the kernel level (int64 in
and out), zstd level 19 on the int8/int16 levels, and cabac when ``nncodec.stages.cabac`` imports. Sizes include
every byte of each stream (tables, headers); H0 is the zeroth-order empirical entropy per tensor, no side info.
Speeds are MB/s of the original float32 bytes (4 bytes per weight): medians over --repeat runs of the sum over
tensors, by wall clock and by process CPU time (robust to a loaded machine; a multi-threaded coder's CPU time is
the sum over its threads). DeepCABAC figures come from bench/peer_deepcabac.py run under $NNCODEC_PEER_PYTHON on
the same levels in the same run (wall clock and CPU time, one thread); without the peer the run stops, unless
``--no-peer`` asks for our figures alone (the table then says "not run").
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, SHARED_NPZ, machine, peer_or_exit  # noqa: E402
from levels import MIN_WEIGHTS, quantize, tensor_h0_bits  # noqa: E402

sys.path.append(str(ROOT))  # an installed nncodec wins; else the checkout (built in place)

import nncodec  # noqa: E402
from nncodec import kernels  # noqa: E402
from nncodec.format.dtypes import code_of  # noqa: E402
from nncodec.format.limits import DEFAULT_LIMITS  # noqa: E402
from nncodec.format.records import Stream  # noqa: E402
from nncodec.stages.huffman import HuffmanCoding  # noqa: E402
from nncodec.stages.zstd import ZstdCoding  # noqa: E402

# measured by bench/peer_deepcabac.py (NNCodec 2.1.3, one thread) on these levels; see bench/PEER.md

def load_levels(npz, bits):
    """(label, {name: int64 levels}) of every tensor with >= 1000 weights; synthetic Laplacian weights without npz."""
    path = pathlib.Path(npz) if npz else SHARED_NPZ
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            weights = {k: z[k] for k in z.files if z[k].size >= MIN_WEIGHTS}
        label = path.name
    else:
        rng = np.random.default_rng(0)
        shapes = [(256, 128, 3, 3), (512, 256), (1024, 512), (10, 1024)]
        weights = {f"layer{i}": rng.laplace(0, 0.02, s).astype(np.float32) for i, s in enumerate(shapes)}
        label = "synthetic Laplacian"
    return label, {name: quantize(w, bits) for name, w in weights.items()}


def narrow(levels):
    """The levels as int8 when they fit, else int16 (what a quantizer would hand to a coder)."""
    return levels.astype(np.int8 if -128 <= levels.min() and levels.max() <= 127 else np.int16)


def _stream_coder(coding):
    """(encode, decode) of a coding-level stream coder (int8/int16 levels in and out)."""
    def encode(levels, backend):
        return coding.encode(narrow(levels), backend=backend)

    def decode(data, levels, backend):
        small = narrow(levels)
        stream = Stream(coding.coding_id, code_of(small.dtype), 0, small.size, len(data), 0)
        return coding.decode(memoryview(data), stream, DEFAULT_LIMITS, backend=backend)
    return encode, decode


def _kernel_coder(name):
    """(encode, decode) of a kernel (int64 levels in and out)."""
    def encode(levels, backend):
        return kernels.module(name, backend).encode(levels)

    def decode(data, levels, backend):
        return kernels.module(name, backend).decode(data, levels.size, DEFAULT_LIMITS)
    return encode, decode


def coders(backends):
    """name -> (encode(levels, backend), decode(data, levels, backend), backends it runs on). Add coders here."""
    table = {
        "huffman": (*_stream_coder(HuffmanCoding()), backends),
        "huffman kernel": (*_kernel_coder("huffman"), backends),
        "zstd-19": (*_stream_coder(ZstdCoding(level=19)), ("lib",)),
    }
    try:
        from nncodec.stages.cabac import CabacCoding
    except ImportError:
        return table
    table["cabac"] = (*_stream_coder(CabacCoding()), backends)
    return table


def timed(fn, repeat):
    """(median wall s, median CPU s, last result) over ``repeat`` calls."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(wall), statistics.median(cpu), result


def measure(levels, name, encode, decode, backend, repeat):
    """Sizes per tensor and total speeds of one coder on one backend; checks the round trip."""
    be = None if backend == "lib" else backend
    t_enc, c_enc, streams = timed(lambda: {k: encode(v, be) for k, v in levels.items()}, repeat)
    t_dec, c_dec, decoded = timed(lambda: {k: decode(streams[k], v, be) for k, v in levels.items()}, repeat)
    for k, v in levels.items():
        if not np.array_equal(np.asarray(decoded[k], dtype=np.int64), v):
            raise AssertionError(f"{name} on {backend} does not round-trip tensor {k}")
    n = sum(v.size for v in levels.values())
    mb = 4 * n / 1e6
    return {"coder": name, "backend": backend, "bytes": {k: len(s) for k, s in streams.items()},
            "total_bytes": sum(len(s) for s in streams.values()), "repeat": repeat,
            "enc_MBps": mb / t_enc, "dec_MBps": mb / t_dec, "enc_cpu_MBps": mb / c_enc, "dec_cpu_MBps": mb / c_dec}


def run_deepcabac(levels, repeat, no_peer):
    """DeepCABAC totals from bench/peer_deepcabac.py, run now on the same levels (None with ``--no-peer``)."""
    with tempfile.TemporaryDirectory() as tmp:
        levels_path = os.path.join(tmp, "levels.npz")
        np.savez(levels_path, **{k: v.astype(np.int32) for k, v in levels.items()})
        result = peer_or_exit(no_peer, "peer_deepcabac.py", ["--levels", levels_path, "--repeat", repeat])
    if result is None:
        return {"bits_per_weight": float("nan"), "enc_MBps": float("nan"), "dec_MBps": float("nan"),
                "source": "not run (--no-peer)"}
    total = result["total"]
    mb = 4 * total["n"] / 1e6
    return {"bits_per_weight": total["bits_per_weight"], "enc_MBps": total["enc_MBps_f32"],
            "dec_MBps": total["dec_MBps_f32"], "enc_cpu_MBps": mb / total["enc_cpu_s"],
            "dec_cpu_MBps": mb / total["dec_cpu_s"], "source": "measured now"}


def report(bits, label, levels, results, peer):
    n = sum(v.size for v in levels.values())
    h0 = {k: tensor_h0_bits(v) for k, v in levels.items()}
    h0_total = sum(h0.values())
    print(f"\n## Q{bits}: {label}, {len(levels)} tensors, {n} weights, H0 = {h0_total / n:.4f} bits/weight\n")
    sizes = {r["coder"]: r["bytes"] for r in results}          # sizes do not depend on the backend
    names = list(sizes)
    print("| tensor | weights | H0 b/w | " + " | ".join(f"{c} b/w" for c in names) + " |")
    print("|---|---:|---:|" + "---:|" * len(names))
    for k, v in levels.items():
        cells = " | ".join(f"{8 * sizes[c][k] / v.size:.4f}" for c in names)
        print(f"| {k} | {v.size} | {h0[k] / v.size:.4f} | {cells} |")
    print("\n| coder | backend | bits/weight | x H0 | enc MB/s | dec MB/s | enc MB/s (CPU) | dec MB/s (CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        bpw = 8 * r["total_bytes"] / n
        print(f"| {r['coder']} | {r['backend']} (x{r['repeat']}) | {bpw:.4f} | {8 * r['total_bytes'] / h0_total:.4f} | "
              f"{r['enc_MBps']:.1f} | {r['dec_MBps']:.1f} | {r['enc_cpu_MBps']:.1f} | {r['dec_cpu_MBps']:.1f} |")
    cpu = " | ".join(f"{peer[k]:.1f}" if k in peer else "" for k in ("enc_cpu_MBps", "dec_cpu_MBps"))
    print(f"| DeepCABAC (NNCodec 2.1.3, {peer['source']}) | C++ | {peer['bits_per_weight']:.4f} | "
          f"{peer['bits_per_weight'] * n / h0_total:.4f} | {peer['enc_MBps']:.1f} | {peer['dec_MBps']:.1f} | {cpu} |")
    return {"bits": bits, "weights": n, "h0_bits_per_weight": h0_total / n, "results": results, "deepcabac": peer}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npz")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reference-repeat", type=int, default=1,
                        help="repeats for the pure-Python reference backend (slow: bit-serial decoding)")
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 5])
    parser.add_argument("--backends", nargs="+", default=list(nncodec.available_backends()),
                        choices=nncodec.available_backends())
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--no-peer", action="store_true", help="do not run DeepCABAC (the table says so)")
    args = parser.parse_args()
    peer_or_exit(args.no_peer or bool(getattr(args, 'peer_json', None)))
    print(f"# Entropy coders on quantized levels\n\n{machine()}; medians over {args.repeat} runs "
          f"(reference backend: {args.reference_repeat}); single thread per call unless the coder says otherwise")
    summary = []
    for bits in args.bits:
        label, levels = load_levels(args.npz, bits)
        results = []
        for name, (encode, decode, backends) in coders(args.backends).items():
            for backend in backends:
                repeat = args.reference_repeat if backend == "reference" else args.repeat
                results.append(measure(levels, name, encode, decode, backend, repeat))
        peer = run_deepcabac(levels, args.repeat, args.no_peer)
        summary.append(report(bits, label, levels, results, peer))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "levels": summary}, f, indent=1)


if __name__ == "__main__":
    main()
