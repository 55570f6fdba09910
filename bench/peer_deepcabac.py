#!/usr/bin/env python3
"""Lossless DeepCABAC reference: code given integer levels with Fraunhofer HHI's
NNCodec 2.1.3 low-level coder (``nncodec.extensions.deepCABAC``).

Runs INSIDE the peer virtual environment (see bench/PEER.md); it never imports our
own ``nncodec`` package (both are called ``nncodec``; the repository is removed
from ``sys.path`` and the imported module is checked to be the peer's).

Usage::

    python bench/peer_deepcabac.py --levels LEVELS.npz --out RESULT.json [--repeat 5]
    python bench/peer_deepcabac.py --from-npz WEIGHTS.npz --bits 8 --out RESULT.json

LEVELS.npz: one integer array per tensor (key = tensor name), the quantization
levels to code.  With ``--from-npz`` the levels are made here with our rule
``delta = max|w| / 2**(bits-1)``, ``q = round(w / delta)`` for every tensor with
at least ``--min-numel`` (default 1000) weights.

Coding set-up (the same as NNCodec's own pipeline uses for one tensor, minus
quantization): one ``deepCABAC.Encoder`` per tensor, ``initCtxModels(11, 1)``
(cabac_unary_length = cabac_unary_length_minus1 + 1 = 11, parameter-optimised
context initialisation on), then ``encodeLayer(levels, dq_flag=0, scan_order=0,
general_profile_idc=1, parent_node_id_present_flag=0, rowSkipFlag=0, ...)`` and
``finish()``.  dq_flag=0 means no dependent (trellis) quantization: the levels
are binarised exactly as given (encodeLayer never sees a step size).

What the byte count is: the length of the array returned by ``Encoder.finish()``
for that tensor, i.e. the complete CABAC stream of the tensor: the per-layer
header bits DeepCABAC writes inside the stream (the best-context-initialisation
indices chosen by the parameter optimiser, and for tensors with >= 2 dims the
row-skip flag bit), all coded levels, the terminating bin and the final flush.
NOT counted: NNR container syntax around it (NNR unit / NDU header with tensor
name id, dimensions, qp, entry points; ~tens of bytes per tensor) and the step
size (``delta``), which the caller must carry separately.  NNCodec itself uses
one Encoder (one stream) per NDU, i.e. per tensor, so the per-tensor sum is the
normal-usage total; the ``single_stream`` entry additionally reports all tensors
coded back to back into one Encoder (for information only).
"""

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import statistics
import sys
import time

from _peer_path import check_peer, hide_our_nncodec


def _import_peer_deepcabac():
    """Import NNCodec's deepCABAC, making sure it is not our package."""
    hide_our_nncodec()
    try:
        from nncodec.extensions import deepCABAC  # noqa: the peer's C++ coder
    except ImportError as exc:
        sys.exit("peer_deepcabac: cannot import NNCodec's deepCABAC (%s); run this "
                 "with the peer venv's python (NNCODEC_PEER_PYTHON)" % exc)
    check_peer(deepCABAC, "Encoder", "peer_deepcabac")
    return deepCABAC


deepCABAC = _import_peer_deepcabac()
import numpy as np  # noqa: E402

PEER = "nncodec 2.1.3 deepCABAC"
CABAC_UNARY_LENGTH = 11   # NNCodec default cabac_unary_length_minus1=10, +1
GENERAL_PROFILE_IDC = 1   # what nnc.compress uses
PAD = 16                  # zero bytes after a stream while decoding (read-ahead guard)


def make_levels(npz_path, bits, min_numel):
    """Our level rule: delta = max|w|/2**(bits-1); q = round(w/delta)."""
    levels, deltas = {}, {}
    with np.load(npz_path) as z:
        for name in z.files:
            w = np.asarray(z[name])
            if w.size < min_numel or not np.issubdtype(w.dtype, np.floating):
                continue
            w = w.astype(np.float64)
            m = float(np.max(np.abs(w))) if w.size else 0.0
            delta = m / 2.0 ** (bits - 1)
            q = np.rint(w / delta) if delta > 0 else np.zeros_like(w)
            levels[name] = q.astype(np.int64)
            deltas[name] = delta
    return levels, deltas


def load_levels(path):
    out = {}
    with np.load(path) as z:
        for name in z.files:
            out[name] = np.asarray(z[name])
    return out


def to_int32(name, q):
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        sys.exit("peer_deepcabac: %s is %s, not integer levels" % (name, q.dtype))
    if q.size and (q.min() < -(2 ** 31) + 1 or q.max() > 2 ** 31 - 1):
        sys.exit("peer_deepcabac: %s has levels outside int32" % name)
    if q.ndim == 0:
        q = q.reshape(1)
    return np.ascontiguousarray(q, dtype=np.int32)


def _hdsp_off():
    return deepCABAC.HdspMode.AlwaysOff, np.zeros(2, dtype=np.int8)


def encode_into(enc, q, param_opt):
    mode, hist = _hdsp_off()
    enc.initCtxModels(CABAC_UNARY_LENGTH, param_opt)
    enc.encodeLayer(q, 0, 0, GENERAL_PROFILE_IDC, 0, 0,
                    np.zeros(q.shape[0], dtype=np.int32), mode, hist, 0, 0)


def decode_from(dec, shape):
    mode, hist = _hdsp_off()
    out = np.zeros(shape, dtype=np.int32)
    dec.initCtxModels(CABAC_UNARY_LENGTH)
    dec.decodeLayer(out, 0, 0, GENERAL_PROFILE_IDC, 0, mode, hist, 0, 0)
    return out


def encode_tensor(q, param_opt):
    c0, t0 = time.process_time(), time.perf_counter()
    enc = deepCABAC.Encoder()
    encode_into(enc, q, param_opt)
    stream = enc.finish()
    return stream, time.perf_counter() - t0, time.process_time() - c0


def decode_tensor(padded, shape):
    c0, t0 = time.process_time(), time.perf_counter()
    dec = deepCABAC.Decoder()
    dec.setStream(padded)
    out = decode_from(dec, shape)
    nread = dec.finish()
    return out, nread, time.perf_counter() - t0, time.process_time() - c0


def pad(stream):
    return np.concatenate([np.asarray(stream, dtype=np.uint8), np.zeros(PAD, np.uint8)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--levels", help="npz of integer level arrays, one per tensor")
    src.add_argument("--from-npz", help="npz of float weights; make levels with --bits")
    ap.add_argument("--bits", type=int, help="bits for --from-npz (e.g. 8 or 5)")
    ap.add_argument("--min-numel", type=int, default=1000,
                    help="--from-npz: only tensors with at least this many weights")
    ap.add_argument("--save-levels", help="--from-npz: also write the levels here (npz)")
    ap.add_argument("--out", required=True, help="result JSON")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--param-opt", type=int, default=1, choices=(0, 1),
                    help="DeepCABAC param_opt_flag (NNCodec default 1)")
    ap.add_argument("--no-single-stream", action="store_true",
                    help="skip the all-tensors-in-one-stream measurement")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    deltas = None
    if args.from_npz:
        if args.bits is None or not 2 <= args.bits <= 30:
            ap.error("--from-npz needs --bits in 2..30")
        levels, deltas = make_levels(args.from_npz, args.bits, args.min_numel)
        if args.save_levels:
            np.savez(args.save_levels, **levels)
        source = {"from_npz": os.path.abspath(args.from_npz), "bits": args.bits,
                  "min_numel": args.min_numel,
                  "rule": "delta = max|w|/2**(bits-1); q = round(w/delta)"}
    else:
        levels = load_levels(args.levels)
        source = {"levels": os.path.abspath(args.levels)}
    if not levels:
        sys.exit("peer_deepcabac: no tensors")

    qs = {name: to_int32(name, q) for name, q in levels.items()}
    for name, q in levels.items():  # the int32 copy must be the same numbers
        if not np.array_equal(qs[name].ravel(), np.asarray(q).ravel()):
            sys.exit("peer_deepcabac: %s changed on conversion to int32" % name)

    names = list(qs)
    enc_t = {n: [] for n in names}
    dec_t = {n: [] for n in names}
    enc_c = {n: [] for n in names}   # CPU seconds (process_time), robust to other load
    dec_c = {n: [] for n in names}
    nbytes = {}
    for rep in range(args.repeat):
        for name in names:
            q = qs[name]
            stream, te, ce = encode_tensor(q, args.param_opt)
            padded = pad(stream)
            out, nread, td, cd = decode_tensor(padded, q.shape)
            if not np.array_equal(out, q):
                bad = int(np.count_nonzero(out != q))
                sys.exit("peer_deepcabac: LOSSLESS CHECK FAILED for %s (%d of %d levels "
                         "differ)" % (name, bad, q.size))
            if nread > stream.size:
                sys.exit("peer_deepcabac: decoder read %d bytes of a %d-byte stream (%s)"
                         % (nread, stream.size, name))
            if name in nbytes and nbytes[name] != int(stream.size):
                sys.exit("peer_deepcabac: stream size of %s not deterministic" % name)
            nbytes[name] = int(stream.size)
            enc_t[name].append(te)
            dec_t[name].append(td)
            enc_c[name].append(ce)
            dec_c[name].append(cd)

    tensors = {}
    for name in names:
        rec = {"n": int(qs[name].size), "shape": list(np.shape(levels[name])),
               "bytes": nbytes[name],
               "enc_s": statistics.median(enc_t[name]),
               "dec_s": statistics.median(dec_t[name])}
        if deltas is not None:
            rec["delta"] = deltas[name]
        tensors[name] = rec
    n_tot = sum(r["n"] for r in tensors.values())
    b_tot = sum(r["bytes"] for r in tensors.values())
    enc_tot = statistics.median([sum(enc_t[n][i] for n in names) for i in range(args.repeat)])
    dec_tot = statistics.median([sum(dec_t[n][i] for n in names) for i in range(args.repeat)])
    total = {"tensors": len(names), "n": n_tot, "bytes": b_tot,
             "bits_per_weight": 8.0 * b_tot / n_tot if n_tot else None,
             "enc_s": enc_tot, "dec_s": dec_tot,
             "enc_MBps_f32": 4.0 * n_tot / enc_tot / 1e6,
             "dec_MBps_f32": 4.0 * n_tot / dec_tot / 1e6,
             # fastest repeat, less sensitive to other load on a shared machine
             "enc_s_min": min(sum(enc_t[n][i] for n in names) for i in range(args.repeat)),
             "dec_s_min": min(sum(dec_t[n][i] for n in names) for i in range(args.repeat)),
             # CPU time of this (single-threaded) process, median of per-repeat sums
             "enc_cpu_s": statistics.median([sum(enc_c[n][i] for n in names)
                                             for i in range(args.repeat)]),
             "dec_cpu_s": statistics.median([sum(dec_c[n][i] for n in names)
                                             for i in range(args.repeat)])}

    result = {"peer": PEER, "source": source,
              "settings": {"dq_flag": 0, "scan_order": 0,
                           "cabac_unary_length": CABAC_UNARY_LENGTH,
                           "param_opt_flag": args.param_opt,
                           "general_profile_idc": GENERAL_PROFILE_IDC,
                           "rowSkipFlag": 0, "hdsp": "AlwaysOff", "threads": 1},
              "bytes_counted": "per tensor: full DeepCABAC stream from Encoder.finish() "
                               "(in-stream context-init header bits, row-skip flag, levels, "
                               "termination/flush); excludes NNR unit/NDU headers and the "
                               "step size",
              "repeat": args.repeat,
              "timing": "median wall time over repeats (total = median of per-repeat "
                        "sums; *_min = fastest repeat; *_cpu_s = process CPU time); MBps_f32 = "
                        "4 bytes per weight / s",
              "tensors": tensors, "total": total}

    if not args.no_single_stream:
        # All tensors into one Encoder, contexts re-initialised per tensor as
        # NNCodec does for the tensors of one NDU (block).  Information only.
        s_enc, s_dec, s_bytes = [], [], None
        for rep in range(args.repeat):
            t0 = time.perf_counter()
            enc = deepCABAC.Encoder()
            for name in names:
                encode_into(enc, qs[name], args.param_opt)
            stream = enc.finish()
            s_enc.append(time.perf_counter() - t0)
            padded = pad(stream)
            t0 = time.perf_counter()
            dec = deepCABAC.Decoder()
            dec.setStream(padded)
            outs = [decode_from(dec, qs[name].shape) for name in names]
            dec.finish()
            s_dec.append(time.perf_counter() - t0)
            for name, out in zip(names, outs):
                if not np.array_equal(out, qs[name]):
                    sys.exit("peer_deepcabac: LOSSLESS CHECK FAILED (single stream) for %s"
                             % name)
            s_bytes = int(stream.size)
        result["single_stream"] = {
            "bytes": s_bytes, "bits_per_weight": 8.0 * s_bytes / n_tot,
            "enc_s": statistics.median(s_enc), "dec_s": statistics.median(s_dec),
            "note": "all tensors back to back in one Encoder; NNCodec normally uses "
                    "one stream per NDU (= per tensor), so 'total' is the reference"}

    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("%s: %d tensors, %d weights, %d bytes, %.3f bits/weight, enc %.3f s "
          "(%.1f MB/s; cpu %.3f s), dec %.3f s (%.1f MB/s; cpu %.3f s); lossless OK"
          % (PEER, len(names), n_tot, b_tot, total["bits_per_weight"], enc_tot,
             total["enc_MBps_f32"], total["enc_cpu_s"], dec_tot, total["dec_MBps_f32"],
             total["dec_cpu_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
