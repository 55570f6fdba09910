"""Fuzz target: the cabac stream decoder (spec/cabac.md), differential over the backends.

    python fuzz/fuzz_cabac_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/

Input layout: byte 0 below 0x80 is the element count itself; byte 0 >= 0x80 means bytes 1..8 hold the count
(u64le, so counts far beyond the stream's size come up). The rest is the stream. A bug is any exception other
than a :class:`nncodec.errors.DecodeError`, a result of the wrong shape or type, or backends that disagree
(different levels or different error classes). Importable without atheris: ``tests/test_cabac.py`` calls
:func:`TestOneInput` on :func:`seeds`.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:
    atheris = None

if atheris is not None and "pytest" not in sys.modules:
    with atheris.instrument_imports(include=["nncodec"]):
        import nncodec
        import nncodec.reference.cabac  # noqa: F401  (imported here so that the reference decoder is instrumented)
        from nncodec import _backend
        from nncodec.errors import DecodeError
else:
    import nncodec
    from nncodec import _backend
    from nncodec.errors import DecodeError

import numpy as np  # noqa: E402

# at most 2**16 levels and 32 bins per level: the bit-serial reference stays fast on every input
LIMITS = nncodec.DecodeLimits(max_elements=1 << 16, max_expansion=64, expansion_slack=1 << 12,
                              max_bins_per_element=32)


def split_input(data):
    """(count, stream) from a fuzz input (see the module docstring)."""
    if not data:
        return 0, b""
    if data[0] < 0x80:
        return data[0], data[1:]
    return int.from_bytes(data[1:9], "little"), data[9:]


def outcome(backend, stream, count):
    """("ok", levels bytes) or ("error", DecodeError class name); any other exception is a bug."""
    try:
        levels = _backend.kernels("cabac", backend).decode(memoryview(stream), count, LIMITS)
    except DecodeError as exc:
        return "error", type(exc).__name__
    except Exception as exc:
        raise AssertionError(f"{backend} cabac decoder let {type(exc).__name__} escape: {exc}") from exc
    if levels.dtype != np.int64 or levels.shape != (count,):
        raise AssertionError(f"{backend} cabac decoder returned {levels.dtype}{levels.shape} for count {count}")
    return "ok", levels.tobytes()


def TestOneInput(data):
    count, stream = split_input(bytes(data))
    results = {b: outcome(b, stream, count) for b in nncodec.available_backends()}
    if len(set(results.values())) > 1:
        summary = {b: r if r[0] == "error" else ("ok", len(r[1])) for b, r in results.items()}
        raise AssertionError(f"backends disagree on count {count}, stream {stream[:64].hex()}: {summary}")


def seeds():
    """Valid inputs to start from: every mode, escapes, rows, several segments."""
    encode = _backend.kernels("cabac", "reference").encode
    rng = np.random.default_rng(0)
    cases = [(np.zeros(0, np.int64), {}), (np.array([0, 0, -2, 1, 9, -1], np.int64), {}),
             (np.round(rng.laplace(0, 5, 100)).astype(np.int64), {"row_length": 9, "segments": 3}),
             (np.array([1 << 62, -(1 << 62), 3, (1 << 20) - 1, 1 << 20, -1], np.int64), {"gt_flags": 0}),
             (rng.integers(0, 16, 90), {"bounded": "one-sided", "max_magnitude": 15, "gt_flags": 2}),
             (rng.integers(-6, 7, 70), {"bounded": "two-sided", "gt_flags": 32}),
             (np.zeros(120, np.int64), {"bounded": "one-sided"})]
    out = []
    for values, params in cases:
        stream = encode(np.asarray(values, dtype=np.int64), **params)
        out.append(bytes([values.size]) + stream if values.size < 0x80
                   else b"\x80" + values.size.to_bytes(8, "little") + stream)
    return out


def main():
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
