"""Replay of the extreme-value adversary's minimised findings (fuzz/extremes/), and a smoke run of the adversary.

Each file in fuzz/extremes/ runs through every entry point of ``fuzz/adversary.py`` on both backends in a worker
process capped at 3 GiB of address space, with ``DecodeLimits(max_output_bytes=2**30)``: every entry point must
return arrays or raise a DecodeError (for ``accept-*`` files: must raise, the input breaks a rule on purpose), in
time, and both backends must agree. The files that fail today are listed in ``OPEN`` with their root cause,
marked ``xfail(strict=True)``: delete a file's entry when the fix lands (the test then has to pass).
"""

import pathlib
import random
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))

import adversary  # noqa: E402
import adversary_gen  # noqa: E402
import nncodec  # noqa: E402
from nncodec.decoder.container import Container  # noqa: E402

EXTREMES = ROOT / "fuzz" / "extremes"
TIMEOUT = 5.0  # seconds per entry point and backend; each input here is at most a few KB

# file name -> root cause; the lead removes an entry when its fix is merged
OPEN = {}


def _files():
    files = sorted(p for p in EXTREMES.glob("*.nnc"))
    return [pytest.param(p, id=p.name, marks=[pytest.mark.xfail(strict=True, reason=OPEN[p.name])]
                         if p.name in OPEN else []) for p in files]


def test_every_open_finding_has_its_file():
    assert set(OPEN) <= {p.name for p in EXTREMES.glob("*.nnc")}


@pytest.mark.parametrize("path", _files())
def test_extreme_input(path):
    expect = path.name.split("-")[1] if path.name.startswith("accept-") else None
    findings = adversary.check(path.read_bytes(), expect=expect, timeout=TIMEOUT, first=True)
    assert findings == []


def test_generator_reaches_the_extremes():
    """300 generated inputs, deterministic by seed, get through the CRCs to a spread of directory rules, and
    some are valid directories."""
    first = [adversary_gen.generate(random.Random(12))[0] for _ in range(2)]
    assert first[0] == adversary_gen.generate(random.Random(12))[0]
    rng = random.Random(5)
    outcomes, huge = set(), 0
    for _ in range(300):
        blob, _ = adversary_gen.generate(rng)
        try:
            directory = Container(blob, limits=adversary_gen.HARNESS_LIMITS, backend="reference").directory
            outcomes.add("ok")
            huge += any(max(r.node.shape, default=0) >= 2**31 for r in directory.tensors)
        except nncodec.DecodeError as exc:
            outcomes.add(adversary.RULE.search(str(exc)).group(1))
    assert "ok" in outcomes and huge
    assert {"R6", "R3.5-d", "R3.5-j", "R3.5-m"} <= outcomes, outcomes
    assert len(outcomes) >= 8, outcomes


IN_PROCESS = ("decode", "decode-lazy", "open[name]", "open.get-lazy", "verify-lazy", "verify", "runtime.load")


def test_adversary_smoke_in_process():
    """300 generated inputs through every in-process entry point on both backends under the fuzzers' small limits
    (fuzz/_harness.py: every extent and output bounded, so no input can be slow or large here; the CLI and the
    memory-mapped path use default limits and run only in the capped workers): every entry point runs on every
    backend, and nothing comes back as a memory overrun (the small limits bound every allocation)."""
    import _harness
    rng = random.Random(2024)
    runs = findings = 0
    for _ in range(300):
        blob, expect = adversary_gen.generate(rng)
        results = adversary.run_input(blob, limits=_harness.LIMITS, points=IN_PROCESS)
        assert {b for _, b in results} == set(adversary.BACKENDS)
        assert {p for p, _ in results} >= set(IN_PROCESS) - {"runtime.load"}
        runs += len(results)
        found = adversary.compare(results, expect)
        assert not [f for f in found if f[0] == "memory"], found
        findings += len(found)
    assert runs >= 300 * 12


def test_harness_reports_findings(tmp_path):
    """A valid container gives no finding in the capped worker; the same bytes declared to break a rule give an
    ``accept`` finding on every entry point, written as an input file with its one-line summary."""
    valid = nncodec.encode({"w": __import__("numpy").arange(6, dtype="float32").reshape(2, 3)})
    assert adversary.check(valid, timeout=TIMEOUT) == []
    campaign = adversary.Campaign(seed=0, timeout=TIMEOUT, out=tmp_path, keep=100)
    campaign.run(1, source=lambda: (valid, "R0-x"))
    assert campaign.inputs == 1 and campaign.runs == len(adversary.BACKENDS) * 10
    assert len(campaign.findings) == len(adversary.BACKENDS) * 9  # every entry point but cli-info returns arrays
    summary = (tmp_path / "accept").glob("*.txt")
    lines = next(summary).read_text().splitlines()
    assert len(lines) == len(campaign.findings) and all("R0-x" in line for line in lines)
