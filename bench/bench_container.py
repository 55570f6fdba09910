"""Container benchmark: size and encode/decode MB/s of the raw and zstd paths next to np.savez and safetensors,
and the time to open a container and fetch one tensor (zero-copy for raw tensors).

    python bench/bench_container.py [--npz PATH] [--repeat 7]

MB/s are of the original tensor bytes; times are medians over --repeat runs, all measured in one run.
"""

import argparse
import datetime
import io
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, load_weights, machine, median_time  # noqa: E402

sys.path.append(str(ROOT))  # an installed nncodec wins; else the checkout (built in place)

import nncodec  # noqa: E402


def savez_bytes(weights, compressed=False):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **weights)
    return buf.getvalue()


def savez_load(blob):
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npz")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    label, weights = load_weights(args.npz)
    total = sum(a.nbytes for a in weights.values())
    mb = total / 1e6
    rows = []

    def add(name, encode, decode):
        t_enc, blob = median_time(encode, args.repeat)
        t_dec, _ = median_time(lambda: decode(blob), args.repeat)
        rows.append((name, len(blob), total / len(blob), mb / t_enc, mb / t_dec))

    for backend in nncodec.available_backends():
        for compress in ("none", "zstd", "auto"):
            add(f"nncodec {compress} ({backend})",
                lambda c=compress, b=backend: nncodec.encode(weights, compress=c, backend=b),
                lambda blob, b=backend: nncodec.decode(blob, backend=b))
    add("np.savez", lambda: savez_bytes(weights), savez_load)
    add("np.savez_compressed", lambda: savez_bytes(weights, True), savez_load)
    try:
        from safetensors.numpy import load as st_load, save as st_save
        add("safetensors", lambda: st_save(weights), st_load)
    except ImportError:
        rows.append(("safetensors (not installed)", 0, 0, 0, 0))

    print(f"# Container benchmark\n\n{datetime.date.today()}, {machine()}\n"
          f"data: {label}: {len(weights)} tensors, {sum(a.size for a in weights.values())} params, {total} bytes\n"
          f"command: python bench/bench_container.py --repeat {args.repeat}\n")
    print("| format | bytes | ratio | encode MB/s | decode MB/s |\n|---|---:|---:|---:|---:|")
    for name, size, ratio, enc, dec in rows:
        print(f"| {name} | {size} | {ratio:.3f} | {enc:.0f} | {dec:.0f} |")

    # open + fetch one tensor: the directory only, then a zero-copy view for a raw tensor
    largest = max(weights, key=lambda k: weights[k].nbytes)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.nnc")
        nncodec.save(path, weights, compress="none")

        def open_and_fetch(verify):
            with nncodec.open(path, verify=verify) as reader:
                array = reader[largest]
                return array.ctypes.data % 64, array.flags.owndata

        t_open, _ = median_time(lambda: nncodec.open(path).close(), args.repeat * 3)
        t_fetch, (align, owns) = median_time(lambda: open_and_fetch(True), args.repeat * 3)
        t_fetch_nv, _ = median_time(lambda: open_and_fetch(False), args.repeat * 3)
        t_full, _ = median_time(lambda: nncodec.load(path), args.repeat)
    nbytes = weights[largest].nbytes
    print(f"\nopen() of the raw container (directory only): {1e3 * t_open:.3f} ms")
    print(f"open() + fetch {largest!r} ({nbytes} bytes), CRC verified: {1e3 * t_fetch:.3f} ms; "
          f"verify=False: {1e3 * t_fetch_nv:.3f} ms; zero-copy: {not owns}, 64-byte aligned: {align == 0}")
    print(f"load() of every tensor (copies): {1e3 * t_full:.1f} ms")


if __name__ == "__main__":
    main()
