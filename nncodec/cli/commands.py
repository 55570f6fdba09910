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
from ..presets import DEFAULT_QUALITY, PRESET_KEY, PRESETS, preset_options
from .progress import Progress
from ..decoder.summary import read_summary

# NumPy, the codec (nncodec.api) and the file readers are imported inside the commands that use them, so that
# ``nncodec info`` starts without them (see bench/history/2026-11-sessions-1-to-5.md section 10).


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


FIDELITY_COLUMNS = [
    ("SQNR dB", lambda r: f"{r['sqnr_db']:.1f}" if "sqnr_db" in r else "-"),
    ("max |error|", lambda r: f"{r['max_abs_error']:.3g}" if "max_abs_error" in r else "-"),
]

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


def _fidelity(original, decoded, stored_bytes=None):
    """The fidelity report (``nncodec.quant.metrics.fidelity``) of ``decoded`` (a dict or an open Reader)."""
    from ..quant.metrics import fidelity
    return fidelity(original, decoded, stored_bytes)


def _fidelity_line(report):
    """The fidelity measures of a report in one line (docs/cli.md, "Fidelity")."""
    if not report["changed_tensors"]:
        return f"fidelity: exact, none of the {report['tensors']} tensors changed"
    changed = report["changed_tensors"]
    return (f"fidelity: SQNR {report['sqnr_db']:.1f} dB over the {changed} changed tensor{'s' * (changed != 1)} "
            f"({report['changed_weights']} of {report['weights']} weights); worst {report['worst_sqnr_db']:.1f} dB "
            f"({report['worst_tensor']}); max |error| {report['max_abs_error']:.3g}")


def _fidelity_summary(report):
    """A report without its per-tensor rows (for --json documents that list the tensors elsewhere)."""
    return {k: v for k, v in report.items() if k != "rows"}


def cmd_demo(args):
    from .. import api
    from .demo import demo_model
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
            check = f"SQNR {_fidelity(weights, decoded)['sqnr_db']:.1f} dB over the changed tensors"
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
    """A summary line on stdout (on stderr when stdout carries the output: ``-o -``), unless quiet or JSON."""
    if not args.quiet and not args.json:
        print(text, file=sys.stderr if getattr(args, "output", None) == STDOUT else sys.stdout)


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


LOSSY_OPTIONS = ("quantize", "prune", "cast", "factorize")


def _encode_options(args):
    """The encode options in effect: the preset's (without one, the ``lossless`` preset's: the command compresses
    by default), then the stage options given explicitly."""
    base = preset_options(args.preset or "lossless", args.quality, args.sqnr)
    return {**base, **_stage_options(args)}


def cmd_encode(args):
    from .. import api
    metadata = {}
    for entry in args.meta or []:
        if "=" not in entry:
            raise NNCodecError(f"--meta takes KEY=VALUE, got {entry!r}")
        key, value = entry.split("=", 1)
        metadata[key] = value
    if (args.quality is not None or args.sqnr is not None) and not args.preset:
        raise NNCodecError("--quality and --sqnr need --preset")
    t0 = time.perf_counter()
    if args.stream or os.path.isdir(args.input):
        weights = _encode_streaming(args, metadata)
        size = os.path.getsize(args.output)
    else:
        weights, recorded = _read_input(args.input)
        metadata.update(recorded)
        options = {**_stage_options(args), "backend": args.backend, "jobs": args.jobs}
        with _progress(args, "encode", weights.values()) as bar:
            # a preset by name (recorded in the metadata); without one, the lossless preset's options: the command
            # compresses by default
            chosen = ({"preset": args.preset, "quality": args.quality, "sqnr": args.sqnr} if args.preset
                      else _encode_options(args))
            blob = api.encode(weights, metadata=metadata, progress=bar.advance, **{**chosen, **options})
        _write_atomically(args.output, blob)
        size = len(blob)
    seconds = time.perf_counter() - t0
    total = sum(_as_numpy(a).nbytes for a in weights.values())
    result = {"output": args.output, "tensors": len(weights), "bytes": size, "input_bytes": total,
              "ratio": total / size, "seconds": seconds, "preset": args.preset}
    lossy = any(_encode_options(args).get(k) for k in LOSSY_OPTIONS)
    if lossy and not (args.quiet and not args.json):  # decodes the output: the measures are of what was written
        with api.open(args.output if args.stream else blob, backend=args.backend, jobs=args.jobs) as reader:
            result["fidelity"] = _fidelity(weights, reader, {r["name"]: r["stored_bytes"] for r in reader.info()})
    if args.json:
        _emit_json(result)
    _say(args, f"wrote {args.output}: {len(weights)} tensors, {size} bytes (ratio {result['ratio']:.2f}) "
               f"in {seconds:.2f} s")
    if "fidelity" in result:
        _say(args, f"{_fidelity_line(result['fidelity'])}\n"
                   f"per tensor: nncodec info {args.output} --original {args.input}")
    return 0


def _read_input(path):
    """(weights, container metadata recording the input's own) of a weight file read whole: a .safetensors
    file's ``__metadata__`` is kept (nncodec.io.checkpoint)."""
    from ..io import open_checkpoint, read_weights
    if not path.lower().endswith(".safetensors"):
        return read_weights(path), {}
    with open_checkpoint(path) as checkpoint:
        return {name: array.copy() for name, array in checkpoint.tensors()}, checkpoint.container_metadata()


def _encode_streaming(args, metadata):
    """``encode --stream`` and checkpoint directories: tensors go one at a time through nncodec.Writer (peak memory
    about one tensor; nncodec.io.encode_checkpoint); .safetensors inputs and directories are memory-mapped rather
    than read, and a directory's tensors are coded in chunks on every core. Returns the input weights."""
    from ..io import encode_checkpoint, open_checkpoint, read_weights
    from ..io.checkpoint import CHUNK_ELEMENTS, is_checkpoint
    from ..presets import preset_record
    weights = open_checkpoint(args.input) if is_checkpoint(args.input) else read_weights(args.input)
    options = _encode_options(args)
    if args.preset:
        metadata[PRESET_KEY] = preset_record(args.preset, args.quality, args.sqnr, options)
    options.setdefault("chunk_elements", CHUNK_ELEMENTS if os.path.isdir(args.input) else None)
    with _progress(args, "encode", weights.values()) as bar:
        encode_checkpoint(weights, args.output, metadata=metadata, backend=args.backend, jobs=args.jobs,
                          progress=bar.advance, **options)
    return weights


def _write_atomically(path, blob):
    """``blob`` to the file ``path`` (atomically; errors name ``path``), or to stdout for ``-``."""
    if path == STDOUT:
        sys.stdout.buffer.write(blob)
        sys.stdout.buffer.flush()
        return
    from ..encoder.atomic import atomic_file
    with atomic_file(path) as f:
        f.write(blob)


STDOUT = "-"


def _check_stdout_output(args):
    """``-`` as an output file is stdout: only ``encode`` (in memory) writes there, never to a terminal, and its
    summary then goes to stderr. Other verbs choose the format by the file name's suffix and refuse it."""
    for option, flag in (("output", "-o"), ("out", "--out"), ("plot", "--plot")):
        if getattr(args, option, None) != STDOUT:
            continue
        if args.command != "encode":
            why = " (its suffix, .npz or .safetensors, chooses the format)" if args.command == "decode" else ""
            raise NNCodecError(f"{args.command} {flag} writes a file, not stdout ('-'): give a file name{why}")
        if args.stream or args.json:
            raise NNCodecError(f"encode -o - cannot be combined with --{'stream' if args.stream else 'json'}: "
                               "give a file name")
        if sys.stdout.isatty():
            raise NNCodecError("encode -o - would write binary data to the terminal: redirect stdout "
                               "(> model.nnc or | ...) or give a file name")


def cmd_decode(args):
    from .. import api
    from ..io import decode_checkpoint, write_weights
    from ..io.checkpoint import DEFAULT_SHARD_SIZE
    target = _decode_target(args)
    if target != ".npz":  # a .safetensors file or a checkpoint directory: tensor by tensor
        with api.open(args.input, limits=_limits(args)) as reader:  # header and directory: the bar's totals
            rows = reader.info()
        with Progress("decode", len(rows), sum(r["nbytes"] for r in rows),
                      enabled=not (args.quiet or args.json)) as bar:
            files = decode_checkpoint(args.input, args.output, shard_size=args.shard_size or DEFAULT_SHARD_SIZE,
                                      limits=_limits(args), backend=args.backend, jobs=args.jobs,
                                      progress=bar.advance)
        if args.json:
            _emit_json({"output": args.output, "tensors": len(rows), "files": files})
        _say(args, f"wrote {args.output}: {len(rows)} tensors" + (f" in {len(files)} files" if not target else ""))
        return 0
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


def _decode_target(args):
    """".npz", ".safetensors" or "" (a checkpoint directory) for ``decode -o``: a directory is an existing one, a
    path ending in a separator or without a suffix, or any path with ``--shard-size``."""
    from ..io import WRITE_SUFFIXES
    path = args.output
    suffix = os.path.splitext(path.rstrip("/" + os.sep))[1].lower()
    if args.shard_size is not None or os.path.isdir(path) or path.endswith(("/", os.sep)) or not suffix:
        if suffix in WRITE_SUFFIXES and not os.path.isdir(path):
            raise NNCodecError(f"--shard-size applies to a checkpoint directory output, not a {suffix} file")
        return ""
    if suffix not in WRITE_SUFFIXES:
        raise NNCodecError(f"cannot write weights to {path!r}: use one of {', '.join(WRITE_SUFFIXES)}, or a "
                           f"checkpoint directory (an existing one, a path ending in /, or give --shard-size)")
    return suffix


def cmd_info(args):
    rows, metadata = read_summary(args.input, backend=args.backend, limits=_limits(args))
    if args.original:
        from .. import api
        from ..io import read_weights
        original = read_weights(args.original)
        with api.open(args.input, backend=args.backend, limits=_limits(args)) as reader:
            report = _fidelity({r["name"]: original[r["name"]] for r in rows if r["name"] in original}, reader)
        measured = {r["name"]: r for r in report["rows"]}
        for row in rows:
            if row["name"] in measured:
                row["sqnr_db"] = measured[row["name"]]["sqnr_db"]
                row["max_abs_error"] = measured[row["name"]]["max_abs_error"]
    if args.json:
        preset = json.loads(metadata[PRESET_KEY]) if PRESET_KEY in metadata else None
        document = {"tensors": rows, "metadata": metadata, "preset": preset}
        if args.original:
            document["fidelity"] = _fidelity_summary(report)
        _emit_json(document)
        return 0
    if args.quiet:  # the directory was read and checked: the exit code says whether it is valid
        return 0
    columns = list(INFO_COLUMNS)
    if args.original:
        columns += FIDELITY_COLUMNS
    print(_table(rows, columns))
    if args.original:
        print(_fidelity_line(report))
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
    rows, comparable = [], []
    for name in list(a) + [n for n in b if n not in a]:
        row = {"name": name}
        if name not in a or name not in b:
            row["status"] = f"only in {args.a if name in a else args.b}"
        else:
            x, y = _as_numpy(a[name]), _as_numpy(b[name])
            if x.shape != y.shape:
                row["status"] = f"shape {list(x.shape)} vs {list(y.shape)}"
            else:
                comparable.append(name)
                same = x.dtype == y.dtype and x.tobytes() == y.tobytes()
                row["status"] = "identical" if same else "differs"
        rows.append(row)
    report = _fidelity({name: a[name] for name in comparable}, b)
    for row, measured in zip([r for r in rows if r["name"] in comparable], report["rows"]):
        row["max_abs_error"], row["sqnr_db"] = measured["max_abs_error"], measured["sqnr_db"]
    differ = any(r["status"] != "identical" for r in rows)
    if args.json:
        _emit_json({"tensors": rows, "identical": not differ, "fidelity": _fidelity_summary(report)})
    elif not args.quiet:
        print(_table(rows, [("tensor", lambda r: r["name"] or "(unnamed)"), ("status", lambda r: r["status"])]
                     + FIDELITY_COLUMNS))
        print(_fidelity_line(report) + f" (over the {len(comparable)} tensors in both with equal shapes)")
    return 3 if differ else 0


def cmd_rd(args):
    import csv
    from ..io import read_weights
    from ..encoder.rd import rd_sweep
    if args.plot and importlib.util.find_spec("matplotlib") is None:  # checked before the sweep, not after it
        raise NNCodecError("--plot needs matplotlib (pip install matplotlib)")
    weights = read_weights(args.input)
    bar = Progress("rd", 0, None, enabled=not (args.quiet or args.json), unit="configurations")

    def progress(done, total, config):
        bar.items = total
        bar.advance(str(config.get("quantize", "lossless")), 0)

    rows = rd_sweep(weights, progress=progress, backend=args.backend, jobs=args.jobs)
    bar.close()
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["bytes", "bits_per_weight", "sqnr_db", "worst_sqnr_db", "worst_tensor", "changed_tensors",
                         "max_abs_error", "config"])
        for row in rows:
            config = {k: v for k, v in row["config"].items() if k not in ("backend", "jobs")}
            writer.writerow([row["bytes"], f"{row['bits_per_weight']:.6g}", f"{row['sqnr_db']:.6g}",
                             f"{row['worst_sqnr_db']:.6g}", row["worst_tensor"] or "", row["changed_tensors"],
                             f"{row['max_abs_error']:.6g}", json.dumps(config, sort_keys=True)])
    if args.plot:
        _plot_rd(rows, args.plot)
    if args.json:
        _emit_json({"csv": args.out, "points": len(rows), "plot": args.plot})
    _say(args, f"wrote {args.out}: {len(rows)} points" + (f", plot {args.plot}" if args.plot else ""))
    return 0


def _plot_rd(rows, path):
    """Bits per weight against the SQNR of the changed tensors (the measure of ``rd_sweep`` and of SQNR targets),
    one series per quantizer kind, written to ``path`` (matplotlib was checked)."""
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
    ax.set_ylabel("SQNR of the changed tensors (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_bench(args):
    import statistics
    from .. import api
    from ..io import read_weights
    weights = read_weights(args.input)
    total = sum(_as_numpy(a).nbytes for a in weights.values())
    names = args.presets.split(",") if args.presets else list(PRESETS)
    rows = []
    for name in names:
        encode_times, decode_times = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            blob = api.encode(weights, preset=name, backend=args.backend, jobs=args.jobs)
            t1 = time.perf_counter()
            decoded = api.decode(blob, backend=args.backend, jobs=args.jobs)
            t2 = time.perf_counter()
            encode_times.append(t1 - t0)
            decode_times.append(t2 - t1)
        report = _fidelity(weights, decoded)
        row = {"preset": name, "bytes": len(blob), "ratio": total / len(blob),
               "encode_s": statistics.median(encode_times), "decode_s": statistics.median(decode_times),
               **{k: report[k] for k in ("sqnr_db", "worst_sqnr_db", "worst_tensor", "changed_tensors")}}
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
                            ("SQNR dB", lambda r: f"{r['sqnr_db']:.1f}"),
                            ("worst dB", lambda r: f"{r['worst_sqnr_db']:.1f}"),
                            ("changed", lambda r: str(r["changed_tensors"]))]))
        print(f"\n{len(weights)} tensors, {total} bytes; medians of {args.repeat} runs, jobs={args.jobs or 'all'}; "
              "SQNR over the changed tensors, worst: the lowest tensor's")
    return 0


_SIZE_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _size(text):
    """A byte count: an integer with an optional binary suffix K, M, G or T (``2G`` is 2 * 2**30)."""
    digits, suffix = (text[:-1], text[-1:].upper()) if text[-1:].upper() in _SIZE_SUFFIXES else (text, "")
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"not a byte count: {text!r} (e.g. 1073741824 or 1G)")
    return int(digits) * _SIZE_SUFFIXES[suffix]


def _shard_size(text):
    """A size as transformers' max_shard_size takes it (nncodec.io.checkpoint.parse_size)."""
    from ..io.checkpoint import parse_size
    try:
        return parse_size(text)
    except NNCodecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors (and --json's "
                        "document): no progress bar, summary or table", **keep)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout", **keep)


def build_parser():
    parser = argparse.ArgumentParser(prog="nncodec", description="Compress and inspect neural-network weights. "
                                     "Exit codes: 0 ok, 1 invalid input, 2 usage/I/O error, 3 diff differs.",
                                     epilog="example:\n  nncodec encode model.npz -o model.nnc --preset deepcabac",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nncodec {__version__}")
    _common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do (nncodec COMMAND --help: its options and an example)")

    def command(name, help_text, example):
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _common_options(p, top=False)
        return p

    command("demo", "encode and decode the built-in example model and print a table", "nncodec demo --json")
    p = command("encode", "encode .npz/.npy/.safetensors/.pt/.onnx weights, or a Hugging Face checkpoint directory "
                "(streamed), into a container", "nncodec encode model.npz -o model.nnc --preset deepcabac --quality 60")
    p.add_argument("input", help="weights file: .npz, .npy, .safetensors, .pt/.pth (needs torch), .onnx (needs "
                   "onnx) or .nnc; or a Hugging Face checkpoint directory (model.safetensors.index.json and shards)")
    p.add_argument("-o", "--output", required=True, help="container file to write; - writes it to stdout")
    p.add_argument("--preset", choices=list(PRESETS), help="named option set (docs/cli.md); stage options "
                   "below override it")
    knob = p.add_mutually_exclusive_group()
    knob.add_argument("--quality", type=float, metavar="Q",
                      help=f"0 (smallest) .. 100 (most faithful), default {DEFAULT_QUALITY}")
    knob.add_argument("--sqnr", type=float, metavar="DB", help="target weight SQNR in dB over all quantized "
                      "weights together (deepcabac: one step for the model)")
    p.add_argument("--quantize", metavar="SPEC", help="quantizer spec, e.g. uniform:bits=8 or "
                   "dq:sqnr=40,scope=model (one step for the model: fewer bytes at equal SQNR than per-channel "
                   "targets, axis=0)")
    p.add_argument("--prune", metavar="SPEC", help="pruner spec, e.g. magnitude:0.8 or std:quality=0.7")
    p.add_argument("--entropy", choices=INTEGER_CODINGS, help="coding of integer streams (quantized levels, "
                   "indices, integer tensors); auto: the smallest per stream")
    p.add_argument("--compress", choices=FLOAT_CODINGS, help="coding of float streams; none: raw and "
                   "memory-mappable; auto: the smallest where it saves >= 3%%")
    p.add_argument("--cast", choices=tuple(CAST_CHOICES), help="store unquantized float32/64 tensors in this "
                   "narrower type (widened again on decode)")
    p.add_argument("--chunk-elements", type=int, metavar="N", help="split larger lossless tensors into chunks")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE", help="metadata entry (repeatable)")
    p.add_argument("--layout", help="dense (default), csr, relidx[:bits=B], cer, cser or auto (smallest coded size)")
    p.add_argument("--stream", action="store_true", help="encode tensor by tensor (nncodec.Writer): peak memory "
                   "about one tensor; no global pruning, no aliases")
    p = command("decode", "decode a container into an .npz or .safetensors file, or a Hugging Face checkpoint "
                "directory (an existing directory, a path ending in /, a path without suffix, or --shard-size)",
                "nncodec decode model.nnc -o out/ --shard-size 5GB")
    p.add_argument("input", help="container file (.nnc, or a file with a container appended)")
    p.add_argument("-o", "--output", required=True, help="weights file to write (.npz or .safetensors, by suffix) "
                   "or a checkpoint directory")
    p.add_argument("--shard-size", type=_shard_size, metavar="SIZE", help="largest shard of a checkpoint directory "
                   "output, e.g. 5GB (the default), 500MB or 2GiB")
    _limit_options(p)
    p = command("info", "per-tensor table of a container (reads only the directory)",
                "nncodec info model.nnc --original model.npz")
    p.add_argument("input", help="container file")
    p.add_argument("--original", metavar="WEIGHTS",
                   help="the original weights: adds each tensor's SQNR (decodes the tensors)")
    _limit_options(p)
    p = command("verify", "check every checksum and decode every tensor (exit 0 OK, 1 invalid)",
                "nncodec verify download.nnc --max-output-bytes 256M")
    p.add_argument("input", help="container file")
    _limit_options(p)
    p = command("diff", "per-tensor max error and SQNR between two weight files (exit 3 if they differ)",
                "nncodec diff model.npz model.nnc")
    p.add_argument("a", help="first weights file (any readable kind, .nnc included)")
    p.add_argument("b", help="second weights file")
    p = command("rd", "rate-distortion sweep: size against weight SQNR, as CSV (and a plot with matplotlib)",
                "nncodec rd model.npz --out rd.csv --plot rd.png")
    p.add_argument("input", help="weights file to sweep")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--plot", help="PNG file to write (needs matplotlib)")
    p = command("bench", "encode/decode speed and size of each preset on a weight file",
                "nncodec bench model.npz --presets lossless,deepcabac --repeat 5")
    p.add_argument("input", help="weights file")
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
        _check_stdout_output(args)
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
