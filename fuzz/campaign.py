"""Run fuzz targets one after another in time-boxed chunks and log libFuzzer's execution counts.

    nice -n 19 python fuzz/campaign.py --seconds 300 --log /tmp/nnc-fuzz/log.jsonl huffman cabac decode
    python fuzz/campaign.py --summary /tmp/nnc-fuzz/log.jsonl      # per-target totals (the FUZZING.md table)

One libFuzzer process at a time (the machine is shared). Each target ``<name>`` is ``fuzz/fuzz_<name>.py`` (or
``fuzz_<name>_decode.py``); its working corpus is ``<workdir>/<name>`` (new inputs go there), seeded from the
committed ``fuzz/corpus/<name>/``. Crashers land in ``fuzz/crashes/``. Each chunk appends one JSON line with the
target, seconds, executions and whether libFuzzer stopped on a finding.
"""

import argparse
import collections
import json
import pathlib
import re
import subprocess
import sys
import time

FUZZ = pathlib.Path(__file__).resolve().parent
STAT = re.compile(r"stat::(\w+):\s+(\d+)")


def target_script(name):
    for candidate in (FUZZ / f"fuzz_{name}.py", FUZZ / f"fuzz_{name}_decode.py"):
        if candidate.exists():
            return candidate
    raise SystemExit(f"no fuzz target called {name!r} in {FUZZ}")


def run_chunk(name, seconds, workdir, max_len):
    """One libFuzzer run of ``seconds``; returns the log record."""
    corpus = workdir / name
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = FUZZ / "corpus" / name
    crashes = FUZZ / "crashes"
    crashes.mkdir(exist_ok=True)
    command = [sys.executable, str(target_script(name)), f"-max_total_time={seconds}", "-print_final_stats=1",
               f"-max_len={max_len}", "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={crashes}/{name}-",
               str(corpus)] + ([str(seeds)] if seeds.is_dir() else [])
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, cwd=FUZZ.parent)
    stats = {key: int(value) for key, value in STAT.findall(result.stderr)}
    return {"target": name, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(time.time() - started, 1), "executions": stats.get("number_of_executed_units", 0),
            "exit_code": result.returncode, "finding": result.returncode != 0,
            "tail": result.stderr[-1500:] if result.returncode != 0 else ""}


def summary(log):
    totals = collections.defaultdict(lambda: [0, 0.0, 0, 0])
    for line in pathlib.Path(log).read_text().splitlines():
        record = json.loads(line)
        row = totals[record["target"]]
        row[0] += record["executions"]
        row[1] += record["seconds"]
        row[2] += 1
        row[3] += record["finding"]
    print("| target | executions | seconds | chunks | chunks ending in a finding |\n|---|---:|---:|---:|---:|")
    for name, (execs, seconds, chunks, findings) in sorted(totals.items()):
        print(f"| {name} | {execs:,} | {seconds:,.0f} | {chunks} | {findings} |")
    print(f"| **total** | **{sum(r[0] for r in totals.values()):,}** | "
          f"{sum(r[1] for r in totals.values()):,.0f} | | |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*")
    parser.add_argument("--seconds", type=int, default=120, help="length of one chunk")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the target list")
    parser.add_argument("--max-len", type=int, default=512)
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("/tmp/nnc-fuzz"))
    parser.add_argument("--log", type=pathlib.Path)
    parser.add_argument("--summary", metavar="LOG")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
        return
    log = args.log or args.workdir / "log.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(args.rounds):
        for name in args.targets:
            record = run_chunk(name, args.seconds, args.workdir, args.max_len)
            with open(log, "a") as out:
                out.write(json.dumps(record) + "\n")
            print(f"{record['target']}: {record['executions']} executions in {record['seconds']} s"
                  + (" -- FINDING, see fuzz/crashes/" if record["finding"] else ""), flush=True)


if __name__ == "__main__":
    main()
