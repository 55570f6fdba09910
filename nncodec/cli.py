"""Command-line interface: ``nncodec demo | encode | decode | info | verify``.

Exit codes: 0 success; 1 the input is invalid or verification failed (a DecodeError); 2 usage or I/O error.
Errors are printed as one line; ``--debug`` shows the traceback.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from . import __version__, api, _backend
from .encoder import FLOAT_CODINGS, INTEGER_CODINGS
from .errors import DecodeError, NNCodecError


def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _table(rows, columns):
    """A plain-text table; ``columns`` is a list of (header, formatter)."""
    cells = [[h for h, _ in columns]] + [[f(r) for _, f in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = []
    for k, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


INFO_COLUMNS = [
    ("tensor", lambda r: r["name"] or "(unnamed)"),
    ("dtype", lambda r: r["dtype"]),
    ("shape", lambda r: "x".join(map(str, r["shape"])) or "scalar"),
    ("chain", lambda r: r["chain"]),
    ("bytes", lambda r: str(r["nbytes"])),
    ("stored", lambda r: str(r["stored_bytes"])),
    ("ratio", lambda r: f"{r['ratio']:.2f}"),
    ("bits/w", lambda r: f"{r['bits_per_weight']:.2f}"),
]


def _read_weights(path):
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.endswith(".nnc"):
        return api.load(path)
    raise NNCodecError(f"cannot read weights from {path!r}: use .npz, .npy or .nnc")


DEMO_CONFIGS = (
    ("lossless, raw (memory-mappable)", {"compress": "none"}),
    ("lossless, auto (zstd over byte planes where it pays)", {"compress": "auto"}),
    ("lossy: dependent quantization at 40 dB per channel, entropy coder picked per stream",
     {"quantize": "dq:sqnr=40,axis=0", "entropy": "auto", "compress": "auto"}),
)


def cmd_demo(args):
    from .demo import demo_model
    from .quant import sqnr_db
    weights = demo_model()
    total = sum(a.nbytes for a in weights.values())
    print(f"nncodec {__version__} (backend: {_backend.resolve(args.backend)}) - built-in demo model: "
          f"{len(weights)} tensors, {sum(a.size for a in weights.values())} parameters, {_human(total)}")
    for label, options in DEMO_CONFIGS:
        t0 = time.perf_counter()
        blob = api.encode(weights, metadata={"model": "nncodec demo"}, backend=args.backend, **options)
        t1 = time.perf_counter()
        decoded = api.decode(blob, backend=args.backend)
        t2 = time.perf_counter()
        if "quantize" in options:
            floats = [k for k, a in weights.items() if a.dtype.kind == "f"]
            check = f"weight SQNR {sqnr_db({k: weights[k] for k in floats}, {k: decoded[k] for k in floats}):.1f} dB"
        else:
            for name, array in weights.items():
                if decoded[name].tobytes() != array.tobytes() or decoded[name].shape != array.shape:
                    print(f"error: tensor {name!r} did not round-trip", file=sys.stderr)
                    return 1
            check = "lossless round trip OK"
        with api.open(blob, backend=args.backend) as reader:
            rows = reader.info()
        print(f"\n{label}: {len(blob)} bytes, ratio {total / len(blob):.2f}, encode {1e3 * (t1 - t0):.1f} ms, "
              f"decode {1e3 * (t2 - t1):.1f} ms, {check}")
        print(_table(rows, INFO_COLUMNS))
    return 0


def cmd_encode(args):
    weights = _read_weights(args.input)
    metadata = dict(kv.split("=", 1) for kv in args.meta or [])
    size = api.save(args.output, weights, compress=args.compress, entropy=args.entropy, metadata=metadata,
                    backend=args.backend, layout=args.layout)
    if not args.quiet:
        print(f"wrote {args.output}: {size} bytes")
    return 0


def cmd_decode(args):
    arrays = api.load(args.input, backend=args.backend)
    if not isinstance(arrays, dict):
        arrays = {"": arrays}
    if not args.output.endswith(".npz"):
        raise NNCodecError("decode writes .npz files (-o OUT.npz)")
    np.savez(args.output, **arrays)
    if not args.quiet:
        print(f"wrote {args.output}: {len(arrays)} tensors")
    return 0


def cmd_info(args):
    with api.open(args.input, backend=args.backend) as reader:
        rows, metadata = reader.info(), reader.metadata
    if args.json:
        print(json.dumps({"tensors": rows, "metadata": metadata}, default=list))
        return 0
    print(_table(rows, INFO_COLUMNS))
    stored = os.path.getsize(args.input)
    total = sum(r["nbytes"] for r in rows)
    print(f"\n{len(rows)} tensors, {total} bytes decoded, {stored} bytes on disk "
          f"(ratio {total / stored if stored else 0:.3f})")
    for key, value in metadata.items():
        print(f"metadata {key} = {value}")
    return 0


def cmd_verify(args):
    with api.open(args.input, backend=args.backend) as reader:
        reader.verify_all()
        n = len(reader)
    if not args.quiet:
        print(f"{args.input}: OK ({n} tensors, every checksum and stream verified)")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="nncodec", description="Compress and inspect neural-network weights.")
    parser.add_argument("--version", action="version", version=f"nncodec {__version__}")
    parser.add_argument("--backend", choices=("cython", "reference"), default=None,
                        help="kernel backend (default: NNCODEC_BACKEND or the fastest available)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="encode and decode the built-in example model and print a table")
    p = sub.add_parser("encode", help="encode .npz/.npy weights into a container")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--compress", choices=FLOAT_CODINGS, default="auto")
    p.add_argument("--entropy", choices=INTEGER_CODINGS, default=None)
    p.add_argument("--meta", action="append", metavar="KEY=VALUE", help="metadata entry (repeatable)")
    p.add_argument("--layout", default="dense",
                   help="dense (default), csr, relidx[:bits=B], cer, cser or auto (smallest coded size)")
    p = sub.add_parser("decode", help="decode a container into an .npz file")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p = sub.add_parser("info", help="per-tensor table of a container (reads only the directory)")
    p.add_argument("input")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("verify", help="check every checksum and decode every tensor")
    p.add_argument("input")
    return parser


COMMANDS = {"demo": cmd_demo, "encode": cmd_encode, "decode": cmd_decode, "info": cmd_info, "verify": cmd_verify}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DecodeError as exc:
        if args.debug:
            raise
        print(f"nncodec: invalid container: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except (NNCodecError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"nncodec: error: {exc}", file=sys.stderr)
        return 2
