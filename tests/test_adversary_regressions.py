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
from nncodec.container import Container  # noqa: E402

EXTREMES = ROOT / "fuzz" / "extremes"
TIMEOUT = 5.0  # seconds per entry point and backend; each input here is at most a few KB

# file name -> root cause; the lead removes an entry when its fix is merged
OPEN = {
    "memory-cer-factor-column-2p31.nnc":
        "per-column helper arrays sized by n (Cython CER: 16 GiB of int64 for n = 2^31 + 65536) and product factors "
        "materialized (reference: 16 GiB of float64); behind them, int32 column indices (issue 15 classes 2, 3, 1)",
    "memory-cer-empty-0x2p34.nnc":
        "Cython CER sizes its duplicate-column stamps by n: 128 GiB for an empty (0, 2^34) tensor, which the "
        "reference decodes (class 2)",
    "memory-relidx-empty-2p34x0.nnc":
        "relidx row pointers sized by m: 128 GiB for an empty (2^34, 0) tensor, both backends (class 2)",
    "hang-alias-bomb.nnc": "each alias decodes its target again: 257 products of two 2^24 factors from 2.8 KB (class 3)",
    "memory-sum-holds-children.nnc": "a sum node holds all its children at once: 24 x 128 MiB from 861 bytes (class 3)",
    "hang-verify-sum-512-children.nnc":
        "no whole-call budget on decoded elements: verify_all(materialize=False) decodes 512 x 2^24 elements from "
        "17 KB (class 3)",
    "hang-runtime-layers-repeat-weight.nnc":
        "runtime.load decodes a weight once per layer that names it (weight_names() keeps repeats): 64 layers of "
        "one (1, 1) product of two 2^24 factors (class 3)",
    "accept-R5.2-c-zstd-size0-trailing.nnc":
        "a zstd frame declaring content size 0 followed by other bytes is accepted (R5.2-c, class 4)",
    "escape-cli-npz-name-file.nnc":
        "nncodec decode -o x.npz passes tensor names as savez keywords: a tensor named 'file' raises TypeError",
    "cli-output-npz-name-allow-pickle.nnc":
        "nncodec decode -o x.npz silently drops a tensor named 'allow_pickle' (a savez keyword)",
    "escape-damaged-trailer-buffererror.nnc":
        "open(path) on a file with a damaged trailer raises BufferError (the mmap cannot close while a view of it "
        "lives): open, CLI verify/info/decode (class 4)",
    "disagree-codebook-0d-returns-scalar.nnc":
        "the reference codebook stage returns a NumPy scalar for a 0-d tensor, Cython a 0-d ndarray",
    "memory-cli-default-limits-cer-2p33.nnc":
        "the CLI verbs decode under the default limits with no whole-call budget (max_output_bytes 2^36): a 151-byte "
        "CER tensor of 2^33 int8 elements makes decode/verify allocate 8 GiB (and Cython CER 64 GiB of per-column "
        "stamps) (classes 2, 3)",
    "escape-matmul-empty-n0.nnc":
        "structure @ x with n = 0 (decode(materialize=False) of a (5, 2, 0) cser tensor) raises ValueError from "
        "x.reshape(0, -1) in nncodec/runtime/operators.py",
}


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
