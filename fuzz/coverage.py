"""Line coverage of the decoders reached by the fuzz corpora: Python lines by a line tracer (coverage.py is not
installed here), Cython lines by gcov when the extensions were built with ``--coverage``.

    fuzz/instrumented_build.sh gcov /tmp/nncodec-gcov
    cd /tmp/nncodec-gcov && python fuzz/coverage.py huffman=/tmp/nnc-fuzz/huffman decode=/tmp/nnc-fuzz/decode ...
    cd /tmp/nncodec-gcov && python fuzz/coverage.py --gcov

The first command replays ``fuzz/corpus/<target>/`` and ``fuzz/regressions/`` plus the given ``target=dir``
corpora through the targets (fuzz/replay.py) and prints a table: per nncodec source file, executable lines and
lines run. gcov's counts reach the disk only when that process exits, so the second command reports the .pyx
modules from them: a .pyx line counts as run when any C line Cython emitted under its ``/* "file.pyx":N`` marker
ran (so the figure covers exactly the .pyx lines that produce C code). Run from the tree whose nncodec it measures.
"""

import collections
import pathlib
import re
import subprocess
import sys
import threading

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
PACKAGE = ROOT / "nncodec"
sys.path.insert(0, str(FUZZ))

import replay  # noqa: E402

# encoder-side, command-line and not-yet-decoding modules: no decoder code to cover
ENCODER_ONLY = ("demo.py", "rd.py", "cli.py", "__main__.py", "trellis.py", "trellis.pyx", "sparse.py")
MARKER = re.compile(r'/\* "(nncodec/kernels/cython/\w+\.pyx)":(\d+)')


def executable_lines(path):
    """Line numbers that carry bytecode in the Python file ``path``."""
    lines, todo = set(), [compile(path.read_text(), str(path), "exec")]
    while todo:
        code = todo.pop()
        lines.update(line for _, _, line in code.co_lines() if line)
        todo.extend(c for c in code.co_consts if hasattr(c, "co_lines"))
    return lines


def traced(run):
    """Run ``run()`` under a line tracer; returns {filename: set of lines run} for files under nncodec/."""
    hits = collections.defaultdict(set)
    prefix = str(PACKAGE)

    def tracer(frame, event, arg):
        if not frame.f_code.co_filename.startswith(prefix):
            return None
        if event == "line":
            hits[frame.f_code.co_filename].add(frame.f_lineno)
        return tracer

    sys.settrace(tracer)
    threading.settrace(tracer)
    try:
        run()
    finally:
        sys.settrace(None)
        threading.settrace(None)
    return hits


def pyx_coverage():
    """{pyx path: (lines with code, lines run)} from the gcov counts of the generated C files, if any."""
    result = {}
    for gcda in sorted(ROOT.rglob("*.gcda")):
        source = PACKAGE / "kernels" / "cython" / (gcda.stem + ".c")
        if not source.exists():
            continue
        report = subprocess.run(["gcov", "--stdout", "-o", str(gcda.parent), str(source.relative_to(ROOT))],
                                cwd=ROOT, capture_output=True, text=True, errors="replace", check=True).stdout
        code, run, current, inside = set(), set(), None, False
        for line in report.splitlines():
            parts = line.split(":", 2)
            if len(parts) < 3:
                continue
            count, text = parts[0].strip(), parts[2]
            if parts[1].strip() == "0" and text.startswith("Source:"):  # gcov also reports the headers
                inside, current = text.endswith(source.name), None
            if not inside:
                continue
            marker = MARKER.search(text)
            if marker:
                current = int(marker.group(2))
                continue
            if current is None or count == "-":
                continue
            code.add(current)
            if count not in ("#####", "====="):
                run.add(current)
        result[f"nncodec/kernels/cython/{gcda.stem}.pyx"] = (code, run)
    return result


def main():
    if sys.argv[1:] == ["--gcov"]:
        print("| file | lines | run | % |\n|---|---:|---:|---:|")
        for name, (code, run) in pyx_coverage().items():
            if not name.endswith(ENCODER_ONLY):
                print(f"| {name} (gcov) | {len(code)} | {len(run)} | {100 * len(run) / max(len(code), 1):.0f} |")
        return
    corpora = collections.defaultdict(list)
    for path in sorted((FUZZ / "corpus").iterdir()):
        corpora[path.name].append(path)
    for path in sorted((FUZZ / "regressions").glob("*-*")):
        corpora[path.name.split("-", 1)[0]].append(path)
    for spec in sys.argv[1:]:
        target, _, directory = spec.partition("=")
        corpora[target].append(pathlib.Path(directory))
    counts = {}
    hits = traced(lambda: counts.update({t: replay.replay(t, paths) for t, paths in sorted(corpora.items())}))
    print("inputs replayed: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    print("\n| file | lines | run | % |\n|---|---:|---:|---:|")
    for path in sorted(PACKAGE.rglob("*.py")):
        if {"quant", "examples"} & set(path.parts) or path.name in ENCODER_ONLY:
            continue
        lines = executable_lines(path)
        run = hits.get(str(path), set()) & lines
        print(f"| {path.relative_to(ROOT)} | {len(lines)} | {len(run)} | {100 * len(run) / max(len(lines), 1):.0f} |")


if __name__ == "__main__":
    main()
