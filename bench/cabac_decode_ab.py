"""Decode speed of the built Cython cabac kernel side by side with the same kernel at another git revision.

    python bench/cabac_decode_ab.py [--baseline REV] [--rounds 15] [--npz PATH]

The baseline is ``nncodec/kernels/cython/cabac.pyx`` at REV (default HEAD~1), compiled into a temporary directory with the
flags of setup.py as the module ``nncodec.kernels.cython.cabac_baseline`` (nothing is written into the checkout). On the Q5
and Q8 levels of bench/levels.py both kernels must produce the same bytes and decode them to the same levels; then
the whole set of one-segment streams (one thread) is decoded by each kernel in turn, ``--rounds`` times. Printed:
median MB/s of float32 bytes by CPU time, and the median over rounds of the per-round speed ratio, which is the
figure to trust on a loaded machine (both kernels see the same load within a round).
"""

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, SHARED_NPZ, machine
from levels import quantized_levels

sys.path.append(str(ROOT))  # an installed nncodec wins; else the checkout (built in place)

from nncodec import kernels as nncodec_kernels  # noqa: E402
from nncodec.format.limits import DEFAULT_LIMITS  # noqa: E402

BUILD = """
from Cython.Build import cythonize
from setuptools import Extension, setup
ext = Extension("nncodec.kernels.cython.cabac_baseline", ["nncodec/kernels/cython/cabac_baseline.pyx"], extra_compile_args=["-O3"])
setup(ext_modules=cythonize([ext], quiet=True, compiler_directives={
    "language_level": 3, "boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False}),
    script_args=["build_ext", "--inplace"])
"""


def build_baseline(revision, tmp):
    """The cabac kernel of ``revision``, compiled in ``tmp`` and imported as nncodec.kernels.cython.cabac_baseline."""
    package = Path(tmp) / "nncodec" / "kernels" / "cython"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    for name, source in (("cabac_baseline.pyx", "nncodec/kernels/cython/cabac.pyx"), ("bits.pxd", "nncodec/kernels/cython/bits.pxd")):
        text = subprocess.run(["git", "show", f"{revision}:{source}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        (package / name).write_text(text)
    subprocess.run([sys.executable, "-c", BUILD], cwd=tmp, check=True, capture_output=True)
    built = next(package.glob("cabac_baseline*.so"))
    spec = importlib.util.spec_from_file_location("nncodec.kernels.cython.cabac_baseline", built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)     # its relative imports resolve to the checkout's nncodec package
    return module


def compare(kernels, levels, rounds):
    """{name: [CPU seconds per round]} after checking that all kernels agree on bytes and levels."""
    arrays = list(levels.values())
    streams = [kernels["baseline"].encode(a, segments=1) for a in arrays]
    for name, kernel in kernels.items():
        if [kernel.encode(a, segments=1) for a in arrays] != streams:
            raise AssertionError(f"{name} encodes other bytes than the baseline")
        for stream, a in zip(streams, arrays):
            if not np.array_equal(kernel.decode(stream, a.size, DEFAULT_LIMITS), a):
                raise AssertionError(f"{name} does not decode the baseline's streams")
    seconds = {name: [] for name in kernels}
    for _ in range(rounds):
        for name, kernel in kernels.items():
            c0 = time.process_time()
            for stream, a in zip(streams, arrays):
                kernel.decode(stream, a.size, DEFAULT_LIMITS)
            seconds[name].append(time.process_time() - c0)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD~1", help="git revision of the baseline kernel")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--npz", default=str(SHARED_NPZ))
    args = parser.parse_args()
    revision = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    print(f"{machine()}; baseline {args.baseline} = {revision}; {args.rounds} alternating rounds, CPU time")
    print("| setting | baseline dec MB/s | current dec MB/s | current / baseline (median of round ratios) |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        kernels = {"baseline": build_baseline(args.baseline, tmp), "current": nncodec_kernels.module("cabac", "cython")}
        for bits in (5, 8):
            levels = quantized_levels(args.npz, bits)
            mb = 4 * sum(a.size for a in levels.values()) / 1e6
            seconds = compare(kernels, levels, args.rounds)
            base, current = seconds["baseline"], seconds["current"]
            ratio = statistics.median(b / c for b, c in zip(base, current))
            print(f"| Q{bits} | {mb / statistics.median(base):.1f} | {mb / statistics.median(current):.1f} "
                  f"| {ratio:.3f} |")


if __name__ == "__main__":
    main()
