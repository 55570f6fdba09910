#!/usr/bin/env python3
"""Rate-distortion reference: Fraunhofer HHI's NNCodec 2.1.3 full pipeline
(``nncodec.nnc.compress`` / ``decompress``) on a dict of float32 weights.

Runs INSIDE the peer virtual environment (see bench/PEER.md); it never imports our
own ``nncodec`` package (both are called ``nncodec``; the repository is removed
from ``sys.path`` and the imported module is checked to be the peer's).

Usage::

    python bench/peer_nncodec_rd.py --npz WEIGHTS.npz --out RESULT.json \\
        [--qps -46,-42,...] [--dq 1,0] [--repeat 3] [--min-numel 1000]
    # lossless container reference for our levels (int32 tensors, NNR_PT_INT):
    python bench/peer_nncodec_rd.py --from-npz WEIGHTS.npz --bits 8 --out RESULT.json
    python bench/peer_nncodec_rd.py --levels LEVELS.npz --out RESULT.json

Lossy mode: for every qp and dq setting, ``nnc.compress(params, qp=qp,
use_dq=bool(dq), bitstream_path=None, return_bitstream=True, verbose=False)``
with every other argument at NNCodec's default (qp_density=2, so the step size
is 2**(qp/4) up to the fractional multiplier; nonweight_qp=-75 for 1-D
"non-weight" tensors; param_opt=True; cabac_unary_length_minus1=10; RDOQ with
lambda_scale=0), then ``nnc.decompress(bytearray(bitstream))``.  Reported per
point: total bytes of the NNR bitstream (everything: start unit, model
parameter set, all NDU headers and payloads), bits per weight over all coded
parameters, weight SQNR over all coded tensors together
``10*log10(sum w^2 / sum (w - w_hat)^2)``, and encode / decode wall seconds
(median over --repeat).

Tensor set: tensors with at least --min-numel weights (default 1000, the same
set as the Q8/Q5 level benchmarks; use --min-numel 0 for every tensor of the
file -- then BatchNorm running_var etc. dominate sum w^2 and the SQNR says
little about the weights).

Level mode (--levels, or --from-npz with --bits, which makes the levels with our
rule ``delta = max|w|/2**(bits-1)``, ``q = round(w/delta)``): the int32 levels
go through the same pipeline, which codes int32 tensors losslessly (approx
method 'skip', dq_flag 0); one point, checked to decode to the same levels,
bytes again include the whole NNR container.  SQNR is that of q*delta
against w when the weights are known.
"""

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import io
import json
import statistics
import sys
import time
import types

from _peer_path import check_peer, hide_our_nncodec

DEFAULT_QPS = "-42,-40,-38,-36,-34,-32,-30,-28,-26,-24,-22"
PEER = "nncodec 2.1.3"


class _Placeholder:
    """Stands in for any torchvision class/function NNCodec touches at import."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return args[0] if args else None


class _TorchvisionStubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.__path__ = []

        def __getattr__(attr, _base=spec.name):
            if attr.startswith("__"):
                raise AttributeError(attr)
            if attr[:1].islower():          # transforms, datasets, models, ...
                return importlib.import_module(_base + "." + attr)
            return type(attr, (_Placeholder,), {})   # ImageFolder, Compose, ...

        mod.__getattr__ = __getattr__
        return mod

    def exec_module(self, module):
        pass


class _TorchvisionStubFinder(importlib.abc.MetaPathFinder):
    """torchvision does not import against the CPU torch build in the peer venv,
    and NNCodec only needs it for its image-classification use cases, which
    we never run; serve an inert stub for torchvision and all its submodules."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, _TorchvisionStubLoader(),
                                                  is_package=True)
        return None


def _import_peer_nnc():
    hide_our_nncodec()
    sys.meta_path.insert(0, _TorchvisionStubFinder())
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from nncodec import nnc
    except ImportError as exc:
        sys.exit("peer_nncodec_rd: cannot import NNCodec (%s); run this with the "
                 "peer venv's python (NNCODEC_PEER_PYTHON)" % exc)
    check_peer(nnc, "compress", "peer_nncodec_rd")
    return nnc


nnc = _import_peer_nnc()
import numpy as np  # noqa: E402
from _common import total_sqnr_db  # noqa: E402  (the same SQNR as bench_rd.py measures ours with)


def load_weights(path, min_numel):
    out = {}
    with np.load(path) as z:
        for name in z.files:
            w = np.asarray(z[name])
            if w.size < max(min_numel, 1) or not np.issubdtype(w.dtype, np.floating):
                continue
            out[name] = np.ascontiguousarray(w, dtype=np.float32)
    return out


def make_levels(weights, bits):
    """Our level rule: delta = max|w|/2**(bits-1); q = round(w/delta)."""
    levels, deltas = {}, {}
    for name, w in weights.items():
        w = w.astype(np.float64)
        m = float(np.max(np.abs(w)))
        delta = m / 2.0 ** (bits - 1)
        q = np.rint(w / delta) if delta > 0 else np.zeros_like(w)
        levels[name] = q.astype(np.int64)
        deltas[name] = delta
    return levels, deltas


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def run_point(params, repeat, **compress_kwargs):
    """Compress/decompress `repeat` times; returns bitstream, reconstruction, times."""
    enc_t, dec_t, enc_c, dec_c, bs, rec = [], [], [], [], None, None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        b = _quiet(nnc.compress, dict(params), bitstream_path=None, return_bitstream=True,
                   verbose=False, **compress_kwargs)
        enc_t.append(time.perf_counter() - t0)
        enc_c.append(time.process_time() - c0)
        b = bytes(b)
        if bs is not None and b != bs:
            sys.exit("peer_nncodec_rd: bitstream not deterministic")
        bs = b
        c0, t0 = time.process_time(), time.perf_counter()
        rec = _quiet(nnc.decompress, bytearray(bs))
        dec_t.append(time.perf_counter() - t0)
        dec_c.append(time.process_time() - c0)
    missing = set(params) - set(rec)
    if missing:
        sys.exit("peer_nncodec_rd: decoder lost tensors %s" % sorted(missing))
    return bs, rec, (enc_t, enc_c), (dec_t, dec_c)


def point_record(bs, n, enc, dec):
    (enc_t, enc_c), (dec_t, dec_c) = enc, dec
    enc_s, dec_s = statistics.median(enc_t), statistics.median(dec_t)
    return {"bytes": len(bs), "bits_per_weight": 8.0 * len(bs) / n,
            "enc_s": enc_s, "dec_s": dec_s,
            "enc_MBps_f32": 4.0 * n / enc_s / 1e6, "dec_MBps_f32": 4.0 * n / dec_s / 1e6,
            "enc_s_min": min(enc_t), "dec_s_min": min(dec_t),
            "enc_cpu_s": statistics.median(enc_c), "dec_cpu_s": statistics.median(dec_c)}


def parse_ints(text):
    return [int(x) for x in text.replace(" ", "").split(",") if x]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--npz", help="float weights (npz); lossy RD sweep")
    src.add_argument("--from-npz", help="float weights; code our --bits levels losslessly")
    src.add_argument("--levels", help="npz of integer levels; code them losslessly")
    ap.add_argument("--bits", type=int, help="bits for --from-npz (e.g. 8 or 5)")
    ap.add_argument("--out", required=True, help="result JSON")
    ap.add_argument("--qps", default=DEFAULT_QPS, help="comma list (default %(default)s)")
    ap.add_argument("--dq", default="1,0", help="dependent quantization settings, "
                    "comma list of 0/1 (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--min-numel", type=int, default=1000,
                    help="only tensors with at least this many weights (default "
                         "%(default)s; 0 = all)")
    # "--qps -38,-34" would read as an option: glue such values to their flag
    argv = list(sys.argv[1:] if argv is None else argv)
    for i in range(len(argv) - 2, -1, -1):
        if argv[i] in ("--qps", "--dq"):
            argv[i:i + 2] = [argv[i] + "=" + argv[i + 1]]
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    result = {"peer": PEER, "repeat": args.repeat,
              "timing": "median wall time over repeats of nnc.compress / "
                        "nnc.decompress (whole call, single thread); *_min = fastest; "
                        "*_cpu_s = median process CPU time; MBps_f32 = 4 bytes per weight / s",
              "bytes_counted": "len() of the complete NNR bitstream returned by "
                               "nnc.compress (all units and headers)"}

    if args.npz:
        weights = load_weights(args.npz, args.min_numel)
        if not weights:
            sys.exit("peer_nncodec_rd: no float tensors with >= %d weights" % args.min_numel)
        n = sum(w.size for w in weights.values())
        result.update({"mode": "lossy", "source": os.path.abspath(args.npz),
                       "min_numel": args.min_numel, "tensors": len(weights), "n": n,
                       "settings": "nnc.compress defaults except qp and use_dq "
                                   "(qp_density=2, nonweight_qp=-75, param_opt=True, "
                                   "cabac_unary_length_minus1=10, lambda_scale=0)",
                       "points": []})
        for dq in parse_ints(args.dq):
            for qp in parse_ints(args.qps):
                bs, rec, enc, dec = run_point(weights, args.repeat, qp=qp,
                                                  use_dq=bool(dq))
                pt = {"qp": qp, "dq": int(bool(dq))}
                pt.update(point_record(bs, n, enc, dec))
                pt["sqnr_db"] = total_sqnr_db(weights, rec)
                result["points"].append(pt)
                print("dq=%d qp=%4d  %9d B  %6.3f b/w  %6.2f dB  enc %6.3f s (%5.1f MB/s, "
                      "cpu %6.3f s)  dec %6.3f s (%5.1f MB/s, cpu %6.3f s)"
                      % (pt["dq"], qp, pt["bytes"], pt["bits_per_weight"], pt["sqnr_db"],
                         pt["enc_s"], pt["enc_MBps_f32"], pt["enc_cpu_s"],
                         pt["dec_s"], pt["dec_MBps_f32"], pt["dec_cpu_s"]), flush=True)
    else:
        weights, deltas = None, None
        if args.from_npz:
            if args.bits is None or not 2 <= args.bits <= 30:
                ap.error("--from-npz needs --bits in 2..30")
            weights = load_weights(args.from_npz, args.min_numel)
            levels, deltas = make_levels(weights, args.bits)
            source = {"from_npz": os.path.abspath(args.from_npz), "bits": args.bits,
                      "min_numel": args.min_numel,
                      "rule": "delta = max|w|/2**(bits-1); q = round(w/delta)"}
        else:
            with np.load(args.levels) as z:
                levels = {k: np.asarray(z[k]) for k in z.files}
            source = {"levels": os.path.abspath(args.levels)}
        params = {}
        for name, q in levels.items():
            if not np.issubdtype(q.dtype, np.integer):
                sys.exit("peer_nncodec_rd: %s is not integer" % name)
            if q.size and (q.min() < -(2 ** 31) + 1 or q.max() > 2 ** 31 - 1):
                sys.exit("peer_nncodec_rd: %s has levels outside int32" % name)
            params[name] = np.ascontiguousarray(q, dtype=np.int32)
        if not params:
            sys.exit("peer_nncodec_rd: no tensors")
        n = sum(q.size for q in params.values())
        bs, rec, enc, dec = run_point(params, args.repeat)
        for name, q in params.items():
            got = np.asarray(rec[name])
            if got.shape != q.shape or not np.array_equal(got.astype(np.int64), q):
                sys.exit("peer_nncodec_rd: LOSSLESS CHECK FAILED for %s" % name)
        pt = {"lossless": True}
        pt.update(point_record(bs, n, enc, dec))
        if weights is not None:
            pt["sqnr_db"] = total_sqnr_db(weights, {k: params[k] * deltas[k] for k in params})
        result.update({"mode": "lossless_levels", "source": source,
                       "tensors": len(params), "n": n,
                       "settings": "nnc.compress defaults on int32 tensors (approx "
                                   "'skip', dq_flag 0)", "points": [pt]})
        print("levels: %d tensors, %d weights, %d B, %.3f b/w, enc %.3f s (%.1f MB/s), "
              "dec %.3f s (%.1f MB/s); lossless OK"
              % (len(params), n, pt["bytes"], pt["bits_per_weight"], pt["enc_s"],
                 pt["enc_MBps_f32"], pt["dec_s"], pt["dec_MBps_f32"]))

    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
