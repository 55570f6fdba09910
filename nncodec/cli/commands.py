"""Command-line interface: ``nncodec demo | encode | decode | info | verify | diff | rd | bench``.

Exit codes (docs/cli.md): 0 success; 1 the input is invalid or verification failed (a DecodeError); 2 usage,
I/O or encoding error; 3 ``diff`` found differences; 130 interrupted. Errors are printed as one line on stderr;
``--debug`` shows the traceback. ``--json`` prints one JSON document on stdout instead of tables.
"""

import argparse
import importlib.util
import json
import math
import os
import sys
import time

from .. import __version__, kernels
from ..errors import DecodeError, NNCodecError
from ..format.limits import DecodeLimits
from ..encoder.option_names import CAST_CHOICES, FLOAT_CODINGS, INTEGER_CODINGS
from ..presets import DEFAULT_QUALITY, PRESET_KEY, PRESETS, encode_with_preset, preset_options
from .progress import Progress
from ..decoder.summary import read_summary

# NumPy, the codec (nncodec.api) and the file readers are imported inside the commands that use them, so that
# ``nncodec info`` starts without them (see BENCHMARKS.md section 10).


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


DEMO_CONFIGS = (
    ("lossless, raw (memory-mappable)", {"compress": "none"}),
    ("lossless, auto (zstd over byte planes where it pays)", {"compress": "auto"}),
    ("lossy: dependent quantization, one step for the model at 40 dB, entropy coder picked per stream",
     {"quantize": "dq:sqnr=40,scope=model", "entropy": "auto", "compress": "auto"}),
)


def _as_numpy(value):
    """The array behind a weight (NumPy is imported here, not at start-up)."""
    import numpy as np
    return np.asarray(value)


def _float_pairs(name, a, b):
    """(max abs error, SQNR dB) between two arrays of tensor ``name`` (floats compared as float64)."""
    import numpy as np
    from ..quant.metrics import max_abs_error, sqnr_db
    x = {name: np.asarray(a).astype(np.float64)}
    y = {name: np.asarray(b).astype(np.float64)}
    return max_abs_error(x, y), sqnr_db(x, y)


def cmd_demo(args):
    from .. import api
    from .demo import demo_model
    from ..quant import sqnr_db
    weights = demo_model()
    total = sum(a.nbytes for a in weights.values())
    backend = kernels.resolve(args.backend)
    _say(args, f"nncodec {__version__} (backend: {backend}) - built-in demo model: "
               f"{len(weights)} tensors, {sum(a.size for a in weights.values())} parameters, {_human(total)}")
    results = []
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
        results.append({"config": label, "bytes": len(blob), "ratio": total / len(blob), "encode_s": t1 - t0,
                        "decode_s": t2 - t1, "check": check, "tensors": rows})
        _say(args, f"\n{label}: {len(blob)} bytes, ratio {total / len(blob):.2f}, encode {1e3 * (t1 - t0):.1f} ms, "
                   f"decode {1e3 * (t2 - t1):.1f} ms, {check}\n{_table(rows, INFO_COLUMNS)}")
    if args.json:
        _emit_json({"version": __version__, "backend": backend, "bytes": total, "results": results})
    return 0


def _say(args, text):
    if not args.quiet and not args.json:
        print(text)


def _strict(value):
    """``value`` with every non-finite float (an exact SQNR is inf) replaced by None: JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _emit_json(document):
    """One strict JSON document on stdout (RFC 8259: non-finite numbers become null)."""
    print(json.dumps(_strict(document), default=str, allow_nan=False))


def _progress(args, label, arrays):
    sizes = [_as_numpy(a).nbytes for a in arrays]
    return Progress(label, len(sizes), sum(sizes), enabled=not (args.quiet or args.json))


def _stage_options(args):
    """The encode keywords given explicitly on the command line (they override the preset's)."""
    options = {"quantize": args.quantize, "prune": args.prune, "entropy": args.entropy, "compress": args.compress,
               "cast": args.cast, "chunk_elements": args.chunk_elements, "layout": args.layout}
    return {k: v for k, v in options.items() if v is not None}


def cmd_encode(args):
    from .. import api
    from ..io import read_weights
    metadata = {}
    for entry in args.meta or []:
        if "=" not in entry:
            raise NNCodecError(f"--meta takes KEY=VALUE, got {entry!r}")
        key, value = entry.split("=", 1)
        metadata[key] = value
    if (args.quality is not None or args.sqnr is not None) and not args.preset:
        raise NNCodecError("--quality and --sqnr need --preset")
    t0 = time.perf_counter()
    if args.stream:
        weights = _encode_streaming(args, metadata)
        size = os.path.getsize(args.output)
    else:
        weights = read_weights(args.input)
        options = {**_stage_options(args), "backend": args.backend, "jobs": args.jobs}
        with _progress(args, "encode", weights.values()) as bar:
            if args.preset:
                blob = encode_with_preset(weights, args.preset, quality=args.quality, sqnr=args.sqnr,
                                          metadata=metadata, progress=bar.advance, **options)
            else:
                blob = api.encode(weights, metadata=metadata, progress=bar.advance, **options)
        _write_atomically(args.output, blob)
        size = len(blob)
    seconds = time.perf_counter() - t0
    total = sum(_as_numpy(a).nbytes for a in weights.values())
    result = {"output": args.output, "tensors": len(weights), "bytes": size, "input_bytes": total,
              "ratio": total / size, "seconds": seconds, "preset": args.preset}
    if args.json:
        _emit_json(result)
    _say(args, f"wrote {args.output}: {len(weights)} tensors, {size} bytes (ratio {result['ratio']:.2f}) "
               f"in {seconds:.2f} s")
    return 0


RESOLVE_OPTIONS = ("quantize", "lossless", "keep_small", "factorize")


def _encode_streaming(args, metadata):
    """``encode --stream``: tensors go one at a time through nncodec.Writer (peak memory about one tensor);
    .safetensors inputs are memory-mapped rather than read. Returns the input weights."""
    from ..io import read_weights
    from ..io.safetensors import read_safetensors
    from ..presets import preset_record
    from ..encoder.writer import Writer, resolved_quantize
    if args.input.lower().endswith(".safetensors"):
        weights = read_safetensors(args.input, copy=False)[0]
    else:
        weights = read_weights(args.input)
    options = _stage_options(args)
    if args.preset:
        options = {**preset_options(args.preset, args.quality, args.sqnr), **options}
        metadata[PRESET_KEY] = preset_record(args.preset, args.quality, args.sqnr, options)
    if options.get("prune") is None:  # scope=model steps need every tensor: found in a first pass
        options["quantize"] = resolved_quantize(weights, **{k: options[k] for k in RESOLVE_OPTIONS if k in options})
    with Writer(args.output, metadata=metadata, backend=args.backend, **options) as writer, \
            _progress(args, "encode", weights.values()) as bar:
        for name, array in weights.items():
            writer.add(name, array)
            bar.advance(name, _as_numpy(array).nbytes)
    return weights


def _write_atomically(path, blob):
    tmp = f"{path}.nncodec-tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cmd_decode(args):
    from .. import api
    from ..io import write_weights
    with api.open(args.input, backend=args.backend, jobs=args.jobs, limits=_limits(args)) as reader:
        names = reader.keys()
        with Progress("decode", len(names), sum(r["nbytes"] for r in reader.info()),
                      enabled=not (args.quiet or args.json)) as bar:
            arrays = reader.decode_tensors(names, copy=True, progress=bar.advance)  # one call: limits bound it all
        metadata = {k: v for k, v in reader.metadata.items() if not k.startswith("nncodec.")}
    write_weights(args.output, arrays, metadata=metadata)
    if args.json:
        _emit_json({"output": args.output, "tensors": len(arrays)})
    _say(args, f"wrote {args.output}: {len(arrays)} tensors")
    return 0


def cmd_info(args):
    rows, metadata = read_summary(args.input, backend=args.backend, limits=_limits(args))
    if args.original:
        from .. import api
        from ..io import read_weights
        original = read_weights(args.original)
        with api.open(args.input, backend=args.backend, limits=_limits(args)) as reader:
            for row in rows:
                if row["name"] in original and _as_numpy(original[row["name"]]).dtype.kind == "f":
                    row["max_abs_error"], row["sqnr_db"] = _float_pairs(row["name"], original[row["name"]],
                                                                        reader.decode_tensor(row["name"]))
    if args.json:
        preset = json.loads(metadata[PRESET_KEY]) if PRESET_KEY in metadata else None
        _emit_json({"tensors": rows, "metadata": metadata, "preset": preset})
        return 0
    columns = list(INFO_COLUMNS)
    if args.original:
        columns.append(("SQNR dB", lambda r: f"{r['sqnr_db']:.1f}" if "sqnr_db" in r else "-"))
    print(_table(rows, columns))
    stored = os.path.getsize(args.input)
    total = sum(r["nbytes"] for r in rows)
    print(f"\n{len(rows)} tensors, {total} bytes decoded, {stored} bytes on disk "
          f"(ratio {total / stored if stored else 0:.3f})")
    for key, value in metadata.items():
        print(f"metadata {key} = {value}")
    return 0


def cmd_verify(args):
    from .. import api
    with api.open(args.input, backend=args.backend, verify=True, limits=_limits(args)) as reader:
        rows = reader.info()
        with Progress("verify", len(rows), sum(r["nbytes"] for r in rows),
                      enabled=not (args.quiet or args.json)) as bar:
            # one call: every stream's padding, CRC and decode, every rule and limit, without building the tensors
            reader.verify_all(materialize=False, progress=bar.advance)
    if args.json:
        _emit_json({"input": args.input, "ok": True, "tensors": len(rows)})
    _say(args, f"{args.input}: OK ({len(rows)} tensors, every checksum and stream verified)")
    return 0


def cmd_diff(args):
    from ..io import read_weights
    a, b = read_weights(args.a), read_weights(args.b)
    rows = []
    for name in list(a) + [n for n in b if n not in a]:
        row = {"name": name}
        if name not in a or name not in b:
            row["status"] = f"only in {args.a if name in a else args.b}"
        else:
            x, y = _as_numpy(a[name]), _as_numpy(b[name])
            if x.shape != y.shape:
                row["status"] = f"shape {list(x.shape)} vs {list(y.shape)}"
            else:
                row["max_abs_error"], row["sqnr_db"] = _float_pairs(name, x, y)
                same = x.dtype == y.dtype and x.tobytes() == y.tobytes()
                row["status"] = "identical" if same else "differs"
        rows.append(row)
    differ = any(r["status"] != "identical" for r in rows)
    if args.json:
        _emit_json({"tensors": rows, "identical": not differ})
    elif not args.quiet:
        print(_table(rows, [("tensor", lambda r: r["name"] or "(unnamed)"), ("status", lambda r: r["status"]),
                            ("max |error|", lambda r: f"{r['max_abs_error']:.3g}" if "max_abs_error" in r else "-"),
                            ("SQNR dB", lambda r: f"{r['sqnr_db']:.1f}" if "sqnr_db" in r else "-")]))
    return 3 if differ else 0


def cmd_rd(args):
    import csv
    from ..io import read_weights
    from ..encoder.rd import rd_sweep
    if args.plot and importlib.util.find_spec("matplotlib") is None:  # checked before the sweep, not after it
        raise NNCodecError("--plot needs matplotlib (pip install matplotlib)")
    weights = read_weights(args.input)
    bar = Progress("rd", 0, 0, enabled=not (args.quiet or args.json))

    def progress(done, total, config):
        bar.items, bar.total = total, total
        bar.advance(str(config.get("quantize", "")), 1)

    rows = rd_sweep(weights, progress=progress, backend=args.backend, jobs=args.jobs)
    bar.close()
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["bytes", "bits_per_weight", "sqnr_db", "max_abs_error", "config"])
        for row in rows:
            config = {k: v for k, v in row["config"].items() if k not in ("backend", "jobs")}
            writer.writerow([row["bytes"], f"{row['bits_per_weight']:.6g}", f"{row['sqnr_db']:.6g}",
                             f"{row['max_abs_error']:.6g}", json.dumps(config, sort_keys=True)])
    if args.plot:
        _plot_rd(rows, args.plot)
    if args.json:
        _emit_json({"csv": args.out, "points": len(rows), "plot": args.plot})
    _say(args, f"wrote {args.out}: {len(rows)} points" + (f", plot {args.plot}" if args.plot else ""))
    return 0


def _plot_rd(rows, path):
    """Bits per weight against SQNR, one series per quantizer kind, written to ``path`` (matplotlib was checked)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = {}
    for row in rows:
        kind = str(row["config"].get("quantize", "lossless")).split(":")[0]
        series.setdefault(kind, []).append((row["bits_per_weight"], row["sqnr_db"]))
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=kind)
    ax.set_xlabel("bits per weight")
    ax.set_ylabel("weight SQNR (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_bench(args):
    import statistics
    from .. import api
    from ..io import read_weights
    from ..quant.metrics import sqnr_db
    weights = read_weights(args.input)
    total = sum(_as_numpy(a).nbytes for a in weights.values())
    floats = [k for k, a in weights.items() if _as_numpy(a).dtype.kind == "f"]
    names = args.presets.split(",") if args.presets else list(PRESETS)
    rows = []
    for name in names:
        encode_times, decode_times = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            blob = encode_with_preset(weights, name, backend=args.backend, jobs=args.jobs)
            t1 = time.perf_counter()
            decoded = api.decode(blob, backend=args.backend, jobs=args.jobs)
            t2 = time.perf_counter()
            encode_times.append(t1 - t0)
            decode_times.append(t2 - t1)
        row = {"preset": name, "bytes": len(blob), "ratio": total / len(blob),
               "encode_s": statistics.median(encode_times), "decode_s": statistics.median(decode_times),
               "sqnr_db": sqnr_db({k: weights[k] for k in floats}, {k: decoded[k] for k in floats}) if floats
               else float("inf")}
        rows.append(row)
        if not args.quiet and not args.json:
            print(f"{name}: done", file=sys.stderr)
    if args.json:
        _emit_json({"input": args.input, "input_bytes": total, "repeat": args.repeat, "jobs": args.jobs,
                    "presets": rows})
    elif not args.quiet:
        print(_table(rows, [("preset", lambda r: r["preset"]), ("bytes", lambda r: str(r["bytes"])),
                            ("ratio", lambda r: f"{r['ratio']:.2f}"),
                            ("encode MB/s", lambda r: f"{total / 1e6 / r['encode_s']:.1f}"),
                            ("decode MB/s", lambda r: f"{total / 1e6 / r['decode_s']:.1f}"),
                            ("SQNR dB", lambda r: f"{r['sqnr_db']:.1f}")]))
        print(f"\n{len(weights)} tensors, {total} bytes; medians of {args.repeat} runs, jobs={args.jobs or 'all'}")
    return 0


_SIZE_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _size(text):
    """A byte count: an integer with an optional binary suffix K, M, G or T (``2G`` is 2 * 2**30)."""
    digits, suffix = (text[:-1], text[-1:].upper()) if text[-1:].upper() in _SIZE_SUFFIXES else (text, "")
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"not a byte count: {text!r} (e.g. 1073741824 or 1G)")
    return int(digits) * _SIZE_SUFFIXES[suffix]


def _positive(text):
    """A whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _limits(args):
    """The DecodeLimits of a decoding verb: the defaults, with ``--max-output-bytes`` if given."""
    if args.max_output_bytes is None:
        return None
    try:
        return DecodeLimits(max_output_bytes=args.max_output_bytes)
    except ValueError as exc:
        raise NNCodecError(str(exc)) from None


def _limit_options(parser):
    parser.add_argument("--max-output-bytes", type=_size, metavar="N",
                        help="refuse a container whose decode would return more than N bytes (K/M/G suffixes; "
                             "default 2**36); the call's other budgets scale with it (spec 6)")


def _common_options(parser, top):
    """Options accepted before or after the command (``nncodec --json info x`` = ``nncodec info x --json``)."""
    keep = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--backend", choices=("cython", "reference"), help="kernel backend "
                        "(default: NNCODEC_BACKEND or the fastest available)", **({"default": None} if top else keep))
    parser.add_argument("--jobs", "-j", type=int, metavar="N", help="threads (default: every core; 1: serial)",
                        **({"default": None} if top else keep))
    parser.add_argument("--debug", action="store_true", help="show tracebacks", **keep)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries", **keep)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout", **keep)


def build_parser():
    parser = argparse.ArgumentParser(prog="nncodec", description="Compress and inspect neural-network weights. "
                                     "Exit codes: 0 ok, 1 invalid input, 2 usage/I/O error, 3 diff differs.")
    parser.add_argument("--version", action="version", version=f"nncodec {__version__}")
    _common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common_options(p, top=False)
        return p

    command("demo", "encode and decode the built-in example model and print a table")
    p = command("encode", "encode .npz/.npy/.safetensors/.pt/.onnx weights into a container")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--preset", choices=list(PRESETS), help="named option set (docs/cli.md); stage options "
                   "below override it")
    knob = p.add_mutually_exclusive_group()
    knob.add_argument("--quality", type=float, help=f"0 (smallest) .. 100 (most faithful), default {DEFAULT_QUALITY}")
    knob.add_argument("--sqnr", type=float, help="target weight SQNR in dB over all quantized weights together (deepcabac: "
                       "one step for the model)")
    p.add_argument("--quantize", help="quantizer spec, e.g. uniform:bits=8 or dq:sqnr=40,scope=model "
                   "(one step for the model: fewer bytes at equal SQNR than per-channel targets, axis=0)")
    p.add_argument("--prune", help="pruner spec, e.g. magnitude:0.8 or std:quality=0.7")
    p.add_argument("--entropy", choices=INTEGER_CODINGS)
    p.add_argument("--compress", choices=FLOAT_CODINGS)
    p.add_argument("--cast", choices=tuple(CAST_CHOICES))
    p.add_argument("--chunk-elements", type=int, metavar="N", help="split larger lossless tensors into chunks")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE", help="metadata entry (repeatable)")
    p.add_argument("--layout", help="dense (default), csr, relidx[:bits=B], cer, cser or auto (smallest coded size)")
    p.add_argument("--stream", action="store_true", help="encode tensor by tensor (nncodec.Writer): peak memory "
                   "about one tensor; no global pruning, no aliases")
    p = command("decode", "decode a container into an .npz or .safetensors file")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    _limit_options(p)
    p = command("info", "per-tensor table of a container (reads only the directory)")
    p.add_argument("input")
    p.add_argument("--original", help="the original weights: adds each tensor's SQNR (decodes the tensors)")
    _limit_options(p)
    p = command("verify", "check every checksum and decode every tensor (exit 0 OK, 1 invalid)")
    p.add_argument("input")
    _limit_options(p)
    p = command("diff", "per-tensor max error and SQNR between two weight files (exit 3 if they differ)")
    p.add_argument("a")
    p.add_argument("b")
    p = command("rd", "rate-distortion sweep: size against weight SQNR, as CSV (and a plot with matplotlib)")
    p.add_argument("input")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--plot", help="PNG file to write (needs matplotlib)")
    p = command("bench", "encode/decode speed and size of each preset on a weight file")
    p.add_argument("input")
    p.add_argument("--presets", help="comma-separated preset names (default: all)")
    p.add_argument("--repeat", type=_positive, default=3, help="runs per preset; medians are reported (default 3)")
    return parser


COMMANDS = {"demo": cmd_demo, "encode": cmd_encode, "decode": cmd_decode, "info": cmd_info, "verify": cmd_verify,
            "diff": cmd_diff, "rd": cmd_rd, "bench": cmd_bench}


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ("debug", "quiet", "json"):
        setattr(args, name, getattr(args, name, False))
    try:
        if args.jobs is not None and args.jobs < 0:
            raise NNCodecError(f"--jobs must be >= 0, got {args.jobs}")
        return COMMANDS[args.command](args)
    except DecodeError as exc:
        if args.debug:
            raise
        print(f"nncodec: invalid input: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nncodec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (NNCodecError, OSError, ValueError, ImportError) as exc:
        if args.debug:
            raise
        print(f"nncodec: error: {exc}", file=sys.stderr)
        return 2
