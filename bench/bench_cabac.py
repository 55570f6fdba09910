"""cabac on quantized CRNN levels: bits per weight against H0 and DeepCABAC, encode/decode speed.

    python bench/bench_cabac.py [--repeat 5] [--npz PATH] [--rates-search]

For b = 8 and b = 5, every tensor with >= 1000 weights is quantized as in bench/levels.py and coded with
CabacCoding (Cython backend). Speed is MB/s of original float32 bytes (4 bytes per weight), median over repeats:
wall clock with the default 2 segments (two threads), and CPU time with 1 segment (one thread), which is what a
loaded machine can measure honestly. DeepCABAC's figures (NNCodec 2.1.3, single thread, same levels) are the
ones measured by bench/peer_deepcabac.py. ``--rates-search`` instead compares the total size with the default
estimator rates and with rates chosen per stream (``CabacCoding(rates="search")``, spec/cabac.md §5.3.2.8).
"""

import argparse
import statistics
import sys
import time

import numpy as np

from _common import ROOT, SHARED_NPZ, machine
from levels import h0_bits, quantized_levels

sys.path.append(str(ROOT))  # an installed nncodec wins; else the checkout (built in place)

from nncodec import kernels  # noqa: E402
from nncodec.format.limits import DEFAULT_LIMITS  # noqa: E402
from nncodec.stages.cabac import CabacCoding  # noqa: E402

DEEPCABAC = {8: {"bpw": 6.447, "enc": 6.1, "dec": 25.0}, 5: {"bpw": 3.367, "enc": 14.7, "dec": 58.1}}


def timed(fn, repeat, clock):
    times, result = [], None
    for _ in range(repeat):
        t0 = clock()
        result = fn()
        times.append(clock() - t0)
    return statistics.median(times), result


def measure(levels, repeat, segments, clock):
    coding = CabacCoding() if segments is None else CabacCoding(segments=segments)
    arrays = list(levels.values())
    t_enc, streams = timed(lambda: [coding.encode(a, backend="cython") for a in arrays], repeat, clock)
    kernel = kernels.module("cabac", "cython")
    t_dec, decoded = timed(lambda: [kernel.decode(s, a.size, DEFAULT_LIMITS) for s, a in zip(streams, arrays)],
                           repeat, clock)
    for a, d in zip(arrays, decoded):
        assert np.array_equal(a, d)
    return sum(map(len, streams)), t_enc, t_dec


def rates_search(npz):
    """Sizes with default and searched rates, per setting (no timing)."""
    print("| setting | default b/w | searched b/w | searched / default |")
    print("|---|---:|---:|---:|")
    for bits in (8, 5):
        arrays = list(quantized_levels(npz, bits).values())
        n = sum(a.size for a in arrays)
        default = sum(len(CabacCoding().encode(a, backend="cython")) for a in arrays)
        searched = sum(len(CabacCoding(rates="search").encode(a, backend="cython")) for a in arrays)
        print(f"| Q{bits} | {default * 8 / n:.5f} | {searched * 8 / n:.5f} | {searched / default:.6f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--npz", default=str(SHARED_NPZ))
    parser.add_argument("--rates-search", action="store_true", help="compare default and searched rates")
    args = parser.parse_args()
    print(machine())
    if args.rates_search:
        rates_search(args.npz)
        return
    print("| setting | H0 b/w | cabac b/w | / DeepCABAC | enc MB/s 2 thr (wall) | dec MB/s 2 thr (wall) "
          "| enc MB/s 1 thr (cpu) | dec MB/s 1 thr (cpu) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for bits in (8, 5):
        levels = quantized_levels(args.npz, bits)
        n = sum(a.size for a in levels.values())
        size, enc_wall, dec_wall = measure(levels, args.repeat, None, time.perf_counter)
        _, enc_cpu, dec_cpu = measure(levels, args.repeat, 1, time.process_time)
        bpw = size * 8 / n
        mb = n * 4 / 1e6
        print(f"| Q{bits} | {h0_bits(levels) / n:.3f} | {bpw:.3f} | {bpw / DEEPCABAC[bits]['bpw']:.4f} "
              f"| {mb / enc_wall:.1f} | {mb / dec_wall:.1f} | {mb / enc_cpu:.1f} | {mb / dec_cpu:.1f} |")


if __name__ == "__main__":
    main()
