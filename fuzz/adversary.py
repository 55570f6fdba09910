"""Extreme-value adversary: generated hostile containers (``fuzz/adversary_gen.py``) run through every decoding
entry point on both backends, in worker processes with an address-space cap and a per-entry-point timeout.

    python -m fuzz.adversary --inputs 2000000 --workers 2 --memory 3G --timeout 20 --seed 1

For each input and backend the worker runs (with ``L = DecodeLimits(max_output_bytes=2**30)``, one thread):
``decode``; ``decode(materialize=False)`` then ``todense()`` and ``@ x`` of each structure; ``open`` then
``[name]``; ``open`` then ``get(name, materialize=False)``; ``open(path)`` (memory-mapped) then ``[name]``;
``Container.verify_all(materialize=False)`` and ``verify_all()``; ``runtime.load`` when the metadata holds an
architecture; the CLI verbs ``verify``, ``info`` and ``decode -o x.npz`` through ``nncodec.cli.main``.

A finding is: ``crash`` (the worker died by a signal), ``hang`` (no answer within the timeout), ``escape`` (an
exception other than DecodeError, or a CLI exit code other than 0 and 1), ``memory`` (MemoryError, or the worker
killed at the address-space cap), ``disagree`` (the backends give different arrays or different error classes
or rule ids), ``accept`` (the generator broke a rule on purpose and the entry point returned arrays) and
``cli-output`` (``decode -o x.npz`` wrote other names than the container holds). Each is saved as
``fuzz/findings/<kind>/<sha1>.nnc`` with ``<sha1>.txt`` (one line); at most ``--keep`` inputs per signature
(kind, entry point, backend, exception, rule) are kept, every one is counted.
"""

import argparse
import collections
import contextlib
import hashlib
import io
import multiprocessing
import os
import pathlib
import random
import re
import resource
import sys
import tempfile
import time
import traceback
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests", ROOT / "fuzz"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import nncodec  # noqa: E402
from nncodec.errors import DecodeError  # noqa: E402

from adversary_gen import HARNESS_LIMITS, generate  # noqa: E402

__all__ = ["ENTRY_POINTS", "run_input", "compare", "Campaign", "check", "main"]

BACKENDS = nncodec.available_backends()
RULE = re.compile(r"\[(R[0-9][^\]\s]*)\]")
MATMUL_MAX = 1 << 16  # `@` is tried on structures whose both matrix extents are at most this


def _digest(value, h=None):
    """A hash of arrays / dicts of arrays / sparse structures (todense and @ with a fixed x)."""
    h = h or hashlib.sha1()
    if isinstance(value, dict):
        for name in sorted(value):
            h.update(repr(name).encode())
            _digest(value[name], h)
    elif isinstance(value, np.ndarray):
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).reshape(-1).view(np.uint8))  # no copy of the bytes
    elif hasattr(value, "todense"):
        h.update(type(value).__name__.encode())
        _digest(np.asarray(value.todense()), h)
        m, n = value.shape
        if m <= MATMUL_MAX and n <= MATMUL_MAX:
            x = (np.arange(n, dtype=np.float32) % 7) - 3
            _digest(np.asarray(value @ x), h)
    else:
        h.update(repr(value).encode())
    return h.hexdigest()[:16]


def _names(blob, backend, limits=HARNESS_LIMITS):
    try:
        with nncodec.open(blob, limits=limits, backend=backend, jobs=1) as reader:
            return reader.keys(), reader.metadata
    except DecodeError:
        return [], {}


def _each(open_reader, fetch):
    """Digest of ``fetch(reader, name)`` for every name of the reader ``open_reader()`` returns (the digest of the
    dict of results), each result hashed and dropped before the next is fetched: every access is a call of its
    own, and keeping earlier results alive would charge their memory to the next call."""
    h = hashlib.sha1()
    with open_reader() as reader:
        for name in sorted(reader.keys()):
            h.update(repr(name).encode())
            _digest(fetch(reader, name), h)
    return h.hexdigest()[:16]


def _cli(argv, path):
    from nncodec import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    if code == 1:
        found = re.match(r"nncodec: invalid input: (\w+): ", err.getvalue())
        raise CliRejected(err.getvalue().strip()[:300], found.group(1) if found else "?")
    if code != 0:
        raise CliExit(f"exit {code}: {err.getvalue().strip()[:200]}")
    return code


class CliExit(Exception):
    """The CLI returned an exit code docs/cli.md does not give for a readable input file."""


class CliRejected(DecodeError):
    """The CLI's exit 1 (a DecodeError, printed): ``error_class`` is the class it names."""

    def __init__(self, message, error_class):
        super().__init__(message)
        self.error_class = error_class


class WrongOutput(Exception):
    """An entry point returned something other than the container's tensors."""


def _cli_decode(path, backend, L):
    out = path + ".npz"
    try:
        code = _cli(["--backend", backend, "-q", "--jobs", "1", "decode", path, "-o", out, "--max-output-bytes",
                     str(L.max_output_bytes)], path)
        if code == 0:
            with np.load(out, allow_pickle=False) as npz:
                written = sorted(npz.files)
            expected = sorted(_names(pathlib.Path(path).read_bytes(), backend)[0])
            if written != expected:
                raise WrongOutput(f"decode -o x.npz wrote {written[:5]}, the container holds {expected[:5]}")
        return code
    finally:
        if os.path.exists(out):
            os.unlink(out)


def _entry_points(blob, path, backend, has_architecture, L):
    """(name, thunk) for every entry point on one backend under limits ``L`` (the CLI gets its max_output_bytes
    through --max-output-bytes); each thunk returns a digest or raises."""
    from nncodec.decoder.container import Container

    def opened():
        return nncodec.open(blob, limits=L, backend=backend, jobs=1)

    points = [
        ("decode", lambda: _digest(nncodec.decode(blob, limits=L, backend=backend, jobs=1))),
        ("decode-lazy", lambda: _digest(nncodec.decode(blob, limits=L, backend=backend, jobs=1, materialize=False))),
        ("open[name]", lambda: _each(opened, lambda r, name: r[name])),
        ("open.get-lazy", lambda: _each(opened, lambda r, name: r.get(name, materialize=False))),
        ("open(path)[name]", lambda: _each(lambda: nncodec.open(path, limits=L, backend=backend, jobs=1),
                                           lambda r, name: r[name])),
        ("verify-lazy", lambda: Container(blob, limits=L, backend=backend, jobs=1).verify_all(materialize=False)),
        ("verify", lambda: Container(blob, limits=L, backend=backend, jobs=1).verify_all()),
        ("cli-verify", lambda: _cli(["--backend", backend, "-q", "--jobs", "1", "verify", path,
                                     "--max-output-bytes", str(L.max_output_bytes)], path)),
        ("cli-info", lambda: _cli(["--backend", backend, "-q", "info", path, "--max-output-bytes",
                                   str(L.max_output_bytes)], path)),
        ("cli-decode", lambda: _cli_decode(path, backend, L)),
    ]
    if has_architecture:
        from nncodec import runtime
        points.append(("runtime.load", lambda: repr(type(runtime.load(blob, limits=L, backend=backend)))))
    return points


ENTRY_POINTS = ("decode", "decode-lazy", "open[name]", "open.get-lazy", "open(path)[name]", "verify-lazy", "verify",
                "cli-verify", "cli-info", "cli-decode", "runtime.load")


def _run_one(thunk):
    """("ok", digest) | ("error", class, rule) | ("escape"|"memory"|"cli-output", class, message)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return ("ok", thunk())
    except DecodeError as exc:
        rule = RULE.search(str(exc))
        return ("error", getattr(exc, "error_class", type(exc).__name__), rule.group(1) if rule else "")
    except MemoryError as exc:
        return ("memory", "MemoryError", str(exc)[:200])
    except WrongOutput as exc:
        return ("cli-output", "WrongOutput", str(exc)[:200])
    except BaseException as exc:  # noqa: B902 - everything else escaping a decoder is the finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return ("escape", type(exc).__name__,
                f"{str(exc)[:160]} at {pathlib.Path(where.filename).name}:{where.lineno}")


def run_input(blob, report=None, backends=BACKENDS, limits=HARNESS_LIMITS, points=ENTRY_POINTS):
    """Run the entry points named in ``points`` on every backend over ``blob``; ``report(event)`` is called with
    ("begin", point, backend) before each run and ("end", point, backend, outcome) after it.
    Returns {(point, backend): outcome}."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="nnc-adv-") as tmp:
        path = os.path.join(tmp, "input.nnc")
        with open(path, "wb") as f:
            f.write(blob)
        arch = any("nncodec.architecture" == k for k in _names(blob, backends[0], limits)[1])
        for backend in backends:
            for point, thunk in _entry_points(blob, path, backend, arch, limits):
                if point not in points:
                    continue
                if report:
                    report(("begin", point, backend))
                outcome = _run_one(thunk)
                results[(point, backend)] = outcome
                if report:
                    report(("end", point, backend, outcome))
    return results


def compare(results, expect=None):
    """Findings [(kind, point, backend, what)] from one input's results; ``expect`` is a rule it breaks on purpose."""
    findings = []
    points = sorted({p for p, _ in results})
    for point in points:
        per_backend = {b: results[(point, b)] for b in BACKENDS if (point, b) in results}
        for backend, outcome in per_backend.items():
            if outcome[0] in ("escape", "memory", "cli-output"):
                findings.append((outcome[0], point, backend, f"{outcome[1]}: {outcome[2]}"))
            # info reads no stream and runtime.load only the tensors its architecture names: neither must refuse
            elif expect and outcome[0] == "ok" and point not in ("cli-info", "runtime.load"):
                findings.append(("accept", point, backend, f"returned arrays, but the input breaks {expect}"))
        comparable = {b: o for b, o in per_backend.items() if o[0] in ("ok", "error")}
        if len(set(comparable.values())) > 1:
            findings.append(("disagree", point, "both", " vs ".join(f"{b}={o}" for b, o in comparable.items())))
    return findings


# -- the worker process and the campaign ------------------------------------------------------------------------------

def _worker(conn, memory):
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    while True:
        blob = conn.recv()
        if blob is None:
            return
        conn.send(("done", run_input(blob, report=conn.send)))


class Campaign:
    """Generates inputs, runs them in ``workers`` processes and records the findings under ``out``."""

    def __init__(self, seed, workers=1, memory=3 << 30, timeout=20.0, out=ROOT / "fuzz" / "findings", keep=3,
                 first=False):
        self.rng = random.Random(seed)
        self.first = first  # stop an input at its first escape, memory or output finding
        self.memory, self.timeout, self.keep = memory, timeout, keep
        self.out = pathlib.Path(out) if out is not None else None
        self.findings = []  # (kind, point, backend, what), the first ``keep`` of each signature
        self.workers = [None] * workers
        self.counts = collections.Counter()
        self.signatures = collections.Counter()
        self.inputs = self.runs = 0

    def _spawn(self, slot):
        parent, child = multiprocessing.get_context("fork").Pipe()
        proc = multiprocessing.get_context("fork").Process(target=_worker, args=(child, self.memory), daemon=True)
        proc.start()
        child.close()
        self.workers[slot] = [proc, parent, None, None, None]  # process, pipe, input, expect, (point, backend, t)

    def _record(self, blob, kind, point, backend, what):
        self.counts[kind] += 1
        cause = re.sub(r"\d{3,}", "N", what.split(" at ")[0])[:80]
        signature = (kind, point, backend, cause)
        self.signatures[signature] += 1
        if self.signatures[signature] > self.keep:
            return
        self.findings.append((kind, point, backend, what))
        if self.out is None:
            return
        folder = self.out / kind
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(blob).hexdigest()
        (folder / f"{name}.nnc").write_bytes(blob)
        with open(folder / f"{name}.txt", "a") as f:
            f.write(f"{kind}\t{point}\t{backend}\t{what}\n")

    def _feed(self, slot, blob, expect):
        worker = self.workers[slot]
        worker[2], worker[3], worker[4] = blob, expect, ("(start)", "-", time.monotonic())
        worker[1].send(blob)
        self.inputs += 1

    def _kill(self, slot):
        proc = self.workers[slot][0]
        if proc.is_alive():
            proc.kill()
        proc.join()
        self.workers[slot] = None

    def _poll(self, slot):
        proc, conn, blob, expect, (point, backend, started) = self.workers[slot]
        if conn.poll(0.05):
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = None
            if message is None:
                pass
            elif message[0] == "begin":
                self.workers[slot][4] = (message[1], message[2], time.monotonic())
                return True
            elif message[0] == "end":
                self.runs += 1
                outcome = message[3]
                if self.first and outcome[0] in ("escape", "memory", "cli-output"):
                    self._record(blob, outcome[0], message[1], message[2], f"{outcome[1]}: {outcome[2]}")
                    self._kill(slot)
                    return False
                return True
            else:
                for finding in compare(message[1], expect):
                    self._record(blob, *finding)
                return False
        if not proc.is_alive():
            code = proc.exitcode
            kind = "crash" if code is not None and code < 0 else "memory"
            self._record(blob, kind, point, backend, f"worker died with exit code {code}")
            self._kill(slot)
            return False
        if time.monotonic() - started > self.timeout:
            self._record(blob, "hang", point, backend, f"no answer after {self.timeout:.0f} s")
            self._kill(slot)
            return False
        return True

    def run(self, inputs, duration=None, progress=None, source=None):
        """Run ``inputs`` inputs (or for ``duration`` seconds); ``source()`` gives (blob, expect), by default the
        generator. Returns the seconds spent."""
        source = source or (lambda: generate(self.rng))
        start = time.monotonic()
        busy = [False] * len(self.workers)
        shown = 0
        while True:
            stop = self.inputs >= inputs or (duration and time.monotonic() - start > duration)
            for slot in range(len(self.workers)):
                if not busy[slot]:
                    if stop:
                        continue
                    if self.workers[slot] is None:
                        self._spawn(slot)
                    self._feed(slot, *source())
                    busy[slot] = True
                busy[slot] = self._poll(slot)
            if stop and not any(busy):
                break
            if progress and self.inputs >= shown + progress:
                shown = self.inputs
                self.print_counts(time.monotonic() - start, file=sys.stderr)
        for slot, worker in enumerate(self.workers):
            if worker is not None:
                worker[1].send(None)
                worker[0].join(5)
                self._kill(slot)
        return time.monotonic() - start

    def print_counts(self, elapsed, file=sys.stdout):
        rate = self.inputs / elapsed if elapsed else 0.0
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "none"
        print(f"inputs {self.inputs}, entry points run {self.runs}, backends {len(BACKENDS)} ({', '.join(BACKENDS)}), "
              f"findings: {kinds}; {len(self.signatures)} signatures; {rate:.2f} inputs/s", file=file, flush=True)


def check(blob, expect=None, timeout=20.0, memory=3 << 30, first=False):
    """The findings [(kind, point, backend, what)] of one input, run in a capped worker process (``first``: stop at
    the first crash, hang, escape or memory finding)."""
    campaign = Campaign(0, 1, memory, timeout, out=None, keep=1 << 30, first=first)
    campaign.run(1, source=lambda: (bytes(blob), expect))
    return campaign.findings


def _size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1000, help="inputs to generate (default 1000)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--memory", default="3G", help="address-space cap per worker (default 3G; 0: none)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per entry point and backend")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "fuzz" / "findings"))
    parser.add_argument("--keep", type=int, default=3, help="inputs kept per finding signature")
    parser.add_argument("--replay", nargs="*", help="run these files once, in-process, and print the outcomes")
    args = parser.parse_args(argv)
    if args.replay:
        for name in args.replay:
            blob = pathlib.Path(name).read_bytes()
            results = run_input(blob)
            for (point, backend), outcome in sorted(results.items()):
                print(f"{name}\t{point}\t{backend}\t{outcome}")
            for finding in compare(results):
                print("FINDING", *finding, sep="\t")
        return 0
    campaign = Campaign(args.seed, args.workers, _size(args.memory), args.timeout, args.out, args.keep)
    elapsed = campaign.run(args.inputs, args.duration, progress=200)
    campaign.print_counts(elapsed)
    for (kind, point, backend, cause), count in sorted(campaign.signatures.items()):
        print(f"  {count:6d}  {kind:10s} {point:18s} {backend:9s} {cause}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
