"""Replay inputs through a fuzz target without a fuzzing engine (zstd's regression_driver), e.g. a working
corpus under the sanitizer build or for coverage:

    python fuzz/replay.py huffman /tmp/nnc-fuzz/huffman fuzz/corpus/huffman

Each file goes through the target's ``TestOneInput``; the first AssertionError (a bug) is printed with the file
name and the exit status is 1. ``replay(target, paths)`` is also what fuzz/coverage.py runs.
"""

import importlib
import pathlib
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(FUZZ))


def target_module(target):
    """The module of fuzz target ``target``: fuzz/fuzz_<target>.py or fuzz/fuzz_<target>_decode.py."""
    name = f"fuzz_{target}" if (FUZZ / f"fuzz_{target}.py").exists() else f"fuzz_{target}_decode"
    return importlib.import_module(name)


def inputs(paths):
    for path in map(pathlib.Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        yield from (p for p in files if not p.name.upper().startswith("README"))


def replay(target, paths):
    """Run every input file under ``paths`` through ``target``; returns the number of inputs run."""
    test_one_input = target_module(target).TestOneInput
    count = 0
    for path in inputs(paths):
        try:
            test_one_input(path.read_bytes())
        except AssertionError:
            print(f"BUG: {target} on {path}", file=sys.stderr)
            raise
        count += 1
    return count


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    print(f"{sys.argv[1]}: {replay(sys.argv[1], sys.argv[2:])} inputs replayed, no finding")


if __name__ == "__main__":
    main()
