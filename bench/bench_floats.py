"""Lossless floats: the float-planes coding (spec 5.5) beside ZipNN and zstd, on the shared CRNN and a synthetic
transformer-like set, each converted to bfloat16, float16, float32 and the two float8 types.

    python bench/bench_floats.py [--repeat 3] [--sets crnn synth] [--dtypes bf16 fp16 fp32 e4m3 e5m2]
                                 [--layers 6] [--npz CRNN.npz] [--json OUT]

Each tensor is its own stream for every coder (as in a container). Per set and dtype: the per-byte-plane H0 bound
(plane p = byte p of every element of every tensor; the sum over planes of the plane's order-0 entropy, in bytes),
float-planes' bytes, ZipNN's (0.5.4, ``threads=1``, byte input; an optional import: the script runs where
``import zipnn`` works, e.g. /work/venv-peers, and its round trip is checked) and zstd-shuffle's at level 3. Then
speeds in MB/s of the raw bytes, best of --repeat rounds, the coders' rows interleaved in each round: decode and
encode on 1 thread, and float-planes on 2 threads (the chunks of a large tensor on both, small tensors spread over
both), by wall clock and by process CPU time (the machine may be shared: CPU time is what a quiet core gives).
Every coder's decoded tensors are dropped one by one, so the allocator reuses their memory and the figures measure
the coders; "kept" keeps float-planes' tensors as a loader does, which adds the first-touch page faults of fresh
memory (on this kind of virtual machine about 0.3 ms per MB, the same for any decoder).
The targets of issue 16 are checked at the end (size <= 1.005 x bound and <= ZipNN; bf16/fp16 decode >= 1.5 GB/s,
encode >= 500 MB/s, >= 1.2 x ZipNN; 2 threads >= 1.7 x 1). The CRNN is --npz, by default
../shared/data/easyocr_english_g2.npz (skipped when missing).
"""

import argparse
import json
import os
import sys
import time
import warnings

import ml_dtypes
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, SHARED_NPZ, machine  # noqa: E402
from transformer_like import transformer_like  # noqa: E402

sys.path.append(str(ROOT))  # an installed nncodec wins; else the checkout (built in place)

from nncodec.format.dtypes import code_of  # noqa: E402
from nncodec.format.limits import DEFAULT_LIMITS  # noqa: E402
from nncodec.format.records import Stream  # noqa: E402
from nncodec.kernels import parallel  # noqa: E402
from nncodec.stages.float_planes import FloatPlanesCoding  # noqa: E402
from nncodec.stages.zstd import ShuffledZstdCoding  # noqa: E402

DTYPES = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16, "fp32": np.float32,
          "e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}
ZIPNN_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
TARGETS = {"bound": 1.005, "decode": 1500, "encode": 500, "vs_zipnn": 1.2, "two_threads": 1.7}


def zipnn_class():
    """ZipNN's class, or None when it is not installed (it imports torch, which warns)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from zipnn import ZipNN
    except ImportError:
        return None
    return ZipNN


def plane_bound(arrays):
    """The per-byte-plane H0 bound of ``arrays`` (one dtype), in bytes."""
    width = arrays[0].dtype.itemsize
    total = 0.0
    for p in range(width):
        counts = sum(np.bincount(a.reshape(-1).view(np.uint8)[p::width], minlength=256) for a in arrays)
        c = counts[counts > 0].astype(np.float64)
        total += float((c * np.log2(c.sum() / c)).sum()) / 8
    return total


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def serial(function):
    """``function()`` as a jobs=1 call: float-planes starts no threads (nncodec.kernels.parallel)."""
    return lambda: parallel.map_ordered(lambda _: function(), [0], jobs=1)


def run(set_name, tensors, key, repeat, zipnn):
    dtype = np.dtype(DTYPES[key])
    arrays = [np.ascontiguousarray(t.astype(dtype)).reshape(-1) for t in tensors]
    raw = sum(a.nbytes for a in arrays)
    one, two = FloatPlanesCoding(jobs=1), FloatPlanesCoding(jobs=2)
    streams = [one.encode(a) for a in arrays]
    row = {"set": set_name, "dtype": key, "elements": sum(a.size for a in arrays), "raw": raw,
           "bound": plane_bound(arrays), "ours": sum(len(s) for s in streams)}
    row["ours_roundtrip"] = all(one.decode_array(s, a.size, dtype).tobytes() == a.tobytes()
                                for s, a in zip(streams, arrays))
    shuffled = ShuffledZstdCoding(level=3)
    zstd_streams = [shuffled.encode(a) for a in arrays]
    row["zstd_shuffle_l3"] = sum(len(s) for s in zstd_streams)
    descriptors = [Stream(shuffled.coding_id, code_of(dtype), 0, a.size, len(s), 0)
                   for s, a in zip(zstd_streams, arrays)]
    big = [i for i, a in enumerate(arrays) if a.size > 1 << one.chunk_log2]
    small = [i for i in range(len(arrays)) if i not in big]

    def decode_one():
        for s, a in zip(streams, arrays):
            one.decode_array(s, a.size, dtype)

    def decode_small(i):
        one.decode_array(streams[i], arrays[i].size, dtype)

    def decode_two():
        for i in big:
            two.decode_array(streams[i], arrays[i].size, dtype)
        parallel.map_ordered(decode_small, small, jobs=2)

    def encode_two():
        for i in big:
            two.encode(arrays[i])
        parallel.map_ordered(lambda i: len(one.encode(arrays[i])), small, jobs=2)

    def decode_zstd():
        for s, d in zip(zstd_streams, descriptors):
            shuffled.decode(s, d, DEFAULT_LIMITS)

    rounds = {
        "fp_decode": serial(decode_one),
        "fp_decode_kept": serial(lambda: [one.decode_array(s, a.size, dtype) for s, a in zip(streams, arrays)]),
        "fp_encode": serial(lambda: [one.encode(a) for a in arrays]),
        "fp_decode_2t": decode_two,
        "fp_encode_2t": encode_two,
        "zstd_decode": decode_zstd,
        "zstd_encode": lambda: [shuffled.encode(a) for a in arrays],
    }
    if zipnn is not None and key in ZIPNN_DTYPES:
        coder = zipnn(input_format="byte", bytearray_dtype=ZIPNN_DTYPES[key], threads=1)
        # ZipNN 0.5.4 rewrites its input buffer in place (float32, bfloat16): it gets a private copy every time
        compressed = [coder.compress(bytearray(a.tobytes())) for a in arrays]
        row["zipnn"] = sum(len(c) for c in compressed)
        row["zipnn_roundtrip"] = all(bytes(coder.decompress(c)) == a.tobytes() for c, a in zip(compressed, arrays))

        def zipnn_decode():
            for c in compressed:
                coder.decompress(c)
        rounds["zipnn_decode"] = zipnn_decode

        def zipnn_encode():
            copies = [bytearray(a.tobytes()) for a in arrays]
            return lambda: [coder.compress(c) for c in copies]
        rounds["zipnn_encode"] = zipnn_encode  # a factory: the copies are made outside the timing
    best = {}
    for _ in range(repeat):
        for label, function in rounds.items():
            if label == "zipnn_encode":
                function = function()
            wall, cpu = timed(function)
            old = best.get(label, (float("inf"), float("inf")))
            best[label] = (min(old[0], wall), min(old[1], cpu))
    row["mb_per_s"] = {label: {"wall": raw / w / 1e6, "cpu": raw / c / 1e6} for label, (w, c) in best.items()}
    return row


def verdicts(row):
    """The issue's targets that apply to a row: {name: bool}."""
    s, out = row["mb_per_s"], {}
    out["size <= 1.005 bound"] = row["ours"] <= TARGETS["bound"] * row["bound"]
    if "zipnn" in row:
        out["size <= ZipNN"] = row["ours"] <= row["zipnn"]
    if row["dtype"] in ("bf16", "fp16"):
        for kind, clock in (("decode", "cpu"), ("encode", "cpu")):
            out[f"{kind} >= {TARGETS[kind]} MB/s ({clock})"] = s[f"fp_{kind}"][clock] >= TARGETS[kind]
            if "zipnn" in row:
                out[f"{kind} >= 1.2 x ZipNN ({clock})"] = (
                    s[f"fp_{kind}"][clock] >= TARGETS["vs_zipnn"] * s[f"zipnn_{kind}"][clock])
        out["2 threads >= 1.7 x 1 (wall)"] = s["fp_decode_2t"]["wall"] >= TARGETS["two_threads"] * s["fp_decode"]["wall"]
    return out


def table(rows):
    lines = ["| set | dtype | bound B | float-planes B | / bound | ZipNN B | / ZipNN | zstd-shuffle L3 B | "
             "RT ours / ZipNN |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        z = r.get("zipnn")
        lines.append(f"| {r['set']} | {r['dtype']} | {r['bound']:.0f} | {r['ours']} | {r['ours'] / r['bound']:.4f} | "
                     f"{z if z else 'n/a'} | {r['ours'] / z:.4f} | " if z else
                     f"| {r['set']} | {r['dtype']} | {r['bound']:.0f} | {r['ours']} | {r['ours'] / r['bound']:.4f} | "
                     f"n/a | n/a | ")
        lines[-1] += f"{r['zstd_shuffle_l3']} | {r['ours_roundtrip']} / {r.get('zipnn_roundtrip', 'n/a')} |"
    lines += ["", "MB/s of raw bytes, CPU time (wall clock in brackets): float-planes 1 thread, ZipNN 1 thread, "
              "zstd-shuffle L3 1 thread; float-planes 2 threads (wall clock, x one thread's wall clock)",
              "| set | dtype | decode ours | decode ours, kept | decode ZipNN | decode zstd | encode ours | encode ZipNN | "
              "encode zstd | decode 2T | encode 2T |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s = r["mb_per_s"]

        def cell(label):
            return f"{s[label]['cpu']:.0f} ({s[label]['wall']:.0f})" if label in s else "n/a"
        two = (f"{s['fp_decode_2t']['wall']:.0f} ({s['fp_decode_2t']['wall'] / s['fp_decode']['wall']:.2f}x)",
               f"{s['fp_encode_2t']['wall']:.0f} ({s['fp_encode_2t']['wall'] / s['fp_encode']['wall']:.2f}x)")
        lines.append(f"| {r['set']} | {r['dtype']} | {cell('fp_decode')} | {cell('fp_decode_kept')} | "
                     f"{cell('zipnn_decode')} | "
                     f"{cell('zstd_decode')} | {cell('fp_encode')} | {cell('zipnn_encode')} | {cell('zstd_encode')} | "
                     f"{two[0]} | {two[1]} |")
    lines += ["", "Targets (issue 16):"]
    for r in rows:
        for name, ok in verdicts(r).items():
            lines.append(f"  {r['set']:5} {r['dtype']:4} {name}: {'met' if ok else 'NOT met'}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sets", nargs="+", default=["crnn", "synth"], choices=["crnn", "synth"])
    ap.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    ap.add_argument("--layers", type=int, default=6, help="encoder layers of the synthetic set (6: 66.4 M params)")
    ap.add_argument("--npz", default=str(SHARED_NPZ), help="the CRNN weights (default: %(default)s)")
    ap.add_argument("--json", help="write the rows as JSON here")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    zipnn = zipnn_class()
    print(f"# {machine()}; ZipNN {'found' if zipnn else 'not installed (run where import zipnn works)'}",
          flush=True)
    sets = []
    if "crnn" in args.sets:
        if os.path.exists(args.npz):
            with np.load(args.npz, allow_pickle=False) as z:
                sets.append(("crnn", [z[k] for k in z.files]))
        else:
            print(f"# {args.npz} not found: the CRNN set is skipped", flush=True)
    if "synth" in args.sets:
        sets.append(("synth", list(transformer_like(seed=0, layers=args.layers).values())))
    rows = []
    for name, tensors in sets:
        for key in args.dtypes:
            rows.append(run(name, tensors, key, args.repeat, zipnn))
            print(f"# done {name} {key}", flush=True)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
