"""Mutation check of the test suite: deliberate bugs, one at a time, each of which the suite must catch.

Each mutant edits one or more files of a scratch checkout of HEAD (both backends at once where the bug is a format
change the twins would share), rebuilds the Cython extensions it touched, and runs the tests it names, then the
whole suite if those pass. A mutant is *killed* when a test fails. The report counts kills per kind (bounds checks,
limits, entropy decoders, layout kernels, format) and lists the survivors.

    python -m fuzz.mutation_check               # every mutant (about 1-3 minutes each on 2 cores)
    python -m fuzz.mutation_check --only cer-row-groups-off-by-one --keep
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Mutant:
    name: str
    kind: str
    edits: tuple  # (path, old text, new text): old must occur exactly once
    tests: tuple  # the tests that should catch it first


def _edit(path, old, new):
    return (path, old, new)


MUTANTS = (
    Mutant("cer-row-groups-off-by-one", "layout kernels", (
        _edit("nncodec/kernels/cython/layouts.pyx", "max_groups = max(omega_count - 1, 0)", "max_groups = max(omega_count, 0)"),),
        ("tests/test_vectors.py", "tests/test_layouts.py")),
    Mutant("csr-columns-int32", "layout kernels", (
        _edit("nncodec/sparse/matrices.py", "np.int32 if bound <= 1 << 31 else np.int64", "np.int32"),),
        ("tests/test_layout_extremes.py",)),
    Mutant("duplicate-column-sort-path", "layout kernels", (
        _edit("nncodec/kernels/cython/layouts.pyx", "            if keys[j] == keys[j - 1]:", "            if keys[j] == keys[j - 1] + 1:"),),
        ("tests/test_layout_extremes.py", "tests/test_vectors.py")),
    Mutant("alias-planned-per-name", "limits", (
        _edit("nncodec/decoder/container.py", "targets = list(dict.fromkeys(stored.values()))", "targets = list(stored.values())"),),
        ("tests/test_call_budget.py", "tests/test_vectors.py")),
    Mutant("zstd-trailing-after-size0", "bounds checks", (
        _edit("nncodec/stages/zstd.py", "            if frame.unused_data:", "            if False:"),),
        ("tests/test_zstd_frames.py", "tests/test_adversary_regressions.py")),
    Mutant("csr-column-bound-both", "bounds checks", (
        _edit("nncodec/kernels/cython/layouts.pyx", "if g < 0 or g >= n - c - 1:", "if g < 0 or g > n - c - 1:"),
        _edit("nncodec/kernels/reference/layouts.py", "int(cols.max()) >= n:", "int(cols.max()) > n:"),
        _edit("nncodec/kernels/reference/layouts.py", "int(col_gaps.max()) >= n)", "int(col_gaps.max()) > n)")),
        ("tests/test_vectors.py", "tests/test_layout_extremes.py")),
    Mutant("relidx-gap-bound-both", "bounds checks", (
        _edit("nncodec/kernels/cython/layouts.pyx", "if g < 0 or g > max_gap:", "if g < 0 or g > max_gap + 1:"),
        _edit("nncodec/kernels/reference/layouts.py", "int(gaps.max()) > (1 << gap_bits) - 1)",
              "int(gaps.max()) > (1 << gap_bits))")), ("tests/test_vectors.py",)),
    Mutant("limit-check-off-by-one", "limits", (
        _edit("nncodec/format/limits.py", "if declared > maximum:", "if declared > maximum + 1:"),),
        ("tests/test_limits.py",)),
    Mutant("expansion-per-stream-only", "limits", (
        _edit("nncodec/format/budget.py", "        self.limits.check_expansion(self.decoded, self.stored)\n", ""),),
        ("tests/test_call_budget.py",)),
    Mutant("macs-not-counted", "limits", (
        _edit("nncodec/decoder/container.py", "            budget.add_macs(left.shape[0] * left.shape[1] * right.shape[1])\n",
              ""),), ("tests/test_call_budget.py", "tests/test_limits.py")),
    Mutant("build-factor-ignored", "limits", (
        _edit("nncodec/format/budget.py", "        if self.built > allowed:", "        if False:"),),
        ("tests/test_call_budget.py",)),
    Mutant("child-count-bound-both", "bounds checks", (
        _edit("nncodec/kernels/reference/directory.py", "if not 1 <= child_count <= MAX_CHILDREN:",
              "if not 1 <= child_count <= MAX_CHILDREN + 1:"),
        _edit("nncodec/kernels/cython/directory.pyx", "if not 1 <= child_count <= MAX_CHILDREN:",
              "if not 1 <= child_count <= MAX_CHILDREN + 1:")),
        ("tests/test_vectors.py", "tests/test_container.py")),
    Mutant("raw-length-unchecked", "bounds checks", (
        _edit("nncodec/stages/raw.py", "if stream.length != expected:", "if stream.length < expected:"),),
        ("tests/test_vectors.py",)),
    Mutant("zstd-content-size-unchecked", "bounds checks", (
        _edit("nncodec/stages/zstd.py", "    if params.content_size != expected:", "    if False:"),),
        ("tests/test_vectors.py",)),
    Mutant("cabac-sign-context-both", "entropy decoders", (
        _edit("nncodec/kernels/reference/cabac.py", "min(_mag_class(a1), 7)", "min(_mag_class(a1), 6)"),
        _edit("nncodec/kernels/cython/cabac.pyx", "(c1 if c1 < 7 else 7)", "(c1 if c1 < 6 else 6)")),
        ("tests/test_vectors.py", "tests/test_cabac.py")),
    Mutant("cabac-bins-limit", "entropy decoders", (
        _edit("nncodec/kernels/cython/cabac.pyx", "budget = min(limits.max_bins_per_element * (hi - lo), 2**64 - 1)",
              "budget = min(4 * limits.max_bins_per_element * (hi - lo), 2**64 - 1)"),),
        ("tests/test_cabac.py",)),
    Mutant("huffman-min-value-mapping-both", "entropy decoders", (  # a coordinated format change: roundtrips pass
        _edit("nncodec/kernels/reference/huffman.py", "write_varint(out, zigzag(lo))", "write_varint(out, zigzag(lo) ^ 1)"),
        _edit("nncodec/kernels/reference/huffman.py", 'lo = unzigzag(cursor.varint("Min_Value"))',
              'lo = unzigzag(cursor.varint("Min_Value") ^ 1)'),
        _edit("nncodec/kernels/cython/huffman.pyx", "write_varint(header, _zigzag(lo))", "write_varint(header, _zigzag(lo) ^ 1)"),
        _edit("nncodec/kernels/cython/huffman.pyx", 'lo = _unzigzag(cursor.varint("Min_Value"))',
              'lo = _unzigzag(cursor.varint("Min_Value") ^ 1)')), ("tests/test_vectors.py", "tests/test_huffman.py")),
    Mutant("dq-level-bound", "bounds checks", (
        _edit("nncodec/kernels/cython/dequant.pyx", "if level >= bound or level <= -bound:", "if level > bound or level < -bound:"),),
        ("tests/test_vectors.py", "tests/test_quant.py")),
)


def _run(command, cwd, timeout=None, env=None):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def _build(scratch):
    result = _run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], scratch)
    if result.returncode:
        raise SystemExit(f"build failed in {scratch}:\n{result.stderr[-2000:]}")


def _tests_fail(scratch, tests, timeout):
    """True when a test fails (or the run crashes or times out): the mutant is killed."""
    env = dict(os.environ, NNCODEC_REQUIRE_CYTHON="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        return _run(command, scratch, timeout, env).returncode != 0
    except subprocess.TimeoutExpired:
        return True


def check(mutant, scratch, timeout):
    """'killed' or 'survived' for ``mutant`` applied to ``scratch`` (restored afterwards)."""
    saved = {}
    for path, old, new in mutant.edits:
        full = os.path.join(scratch, path)
        text = saved.get(path) or open(full, encoding="utf-8").read()
        saved.setdefault(path, text)
        current = open(full, encoding="utf-8").read()
        if current.count(old) != 1:
            raise SystemExit(f"mutant {mutant.name}: {old!r} occurs {current.count(old)} times in {path}")
        with open(full, "w", encoding="utf-8") as f:
            f.write(current.replace(old, new))
    compiled = any(path.endswith(".pyx") for path in saved)
    try:
        if compiled:
            _build(scratch)
        killed = _tests_fail(scratch, mutant.tests, timeout) or _tests_fail(scratch, (), timeout)
    finally:
        for path, text in saved.items():
            with open(os.path.join(scratch, path), "w", encoding="utf-8") as f:
                f.write(text)
        if compiled:
            _build(scratch)
    return "killed" if killed else "survived"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only the mutant(s) of this name")
    parser.add_argument("--keep", action="store_true", help="keep the scratch checkout")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per test run")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    scratch = tempfile.mkdtemp(prefix="nncodec-mutants-")
    _run(["git", "worktree", "add", "--detach", scratch, "HEAD"], ROOT)
    try:
        _build(scratch)
        results = []
        for mutant in mutants:
            start = time.monotonic()
            verdict = check(mutant, scratch, args.timeout)
            results.append((mutant, verdict))
            print(f"{verdict:8} {mutant.kind:16} {mutant.name}  ({time.monotonic() - start:.0f} s)", flush=True)
        for kind in sorted({m.kind for m, _ in results}):
            rows = [v for m, v in results if m.kind == kind]
            print(f"{kind}: {rows.count('killed')}/{len(rows)} killed")
        killed = sum(v == "killed" for _, v in results)
        print(f"total: {killed}/{len(results)} killed ({100 * killed / max(len(results), 1):.0f}%)")
        return 0 if killed == len(results) else 1
    finally:
        if not args.keep:
            _run(["git", "worktree", "remove", "--force", scratch], ROOT)
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
