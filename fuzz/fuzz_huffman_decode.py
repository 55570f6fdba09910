"""Fuzz target: the huffman stream decoder (spec/huffman.md), differential over the backends.

    python fuzz/fuzz_huffman_decode.py --write-seeds /tmp/huffman-corpus
    python fuzz/fuzz_huffman_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/huffman-corpus

Input layout: byte 0 < 0x80 is the element count itself; byte 0 >= 0x80 means bytes 1..8 hold the count
(u64le, so counts far beyond the stream's size come up). The rest is the stream. A bug is any exception other
than a :class:`nncodec.errors.DecodeError`, or backends that disagree (different values or error classes).
Importable without atheris: ``tests/test_huffman.py`` calls :func:`TestOneInput` on :func:`seeds`.
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
        import nncodec.reference.huffman  # noqa: F401  (kernels import lazily: instrument them here)
        from nncodec import _backend
        from nncodec.errors import DecodeError
else:
    import nncodec
    from nncodec import _backend
    from nncodec.errors import DecodeError

import numpy as np  # noqa: E402

# small limits keep every iteration fast: at most 4096 table entries and 2**20 elements
LIMITS = nncodec.DecodeLimits(max_alphabet=1 << 12, max_elements=1 << 20, max_expansion=64,
                              expansion_slack=1 << 16)


def split_input(data):
    """(count, stream) from a fuzz input (see the module docstring)."""
    if not data:
        return 0, b""
    if data[0] < 0x80:
        return data[0], data[1:]
    return int.from_bytes(data[1:9], "little"), data[9:]


def outcome(backend, stream, count):
    """("ok", values bytes) or ("error", DecodeError class name); any other exception is a bug."""
    try:
        values = _backend.kernels("huffman", backend).decode(memoryview(stream), count, LIMITS)
    except DecodeError as exc:
        return "error", type(exc).__name__
    except Exception as exc:
        raise AssertionError(f"{backend} huffman decoder let {type(exc).__name__} escape: {exc}") from exc
    if values.dtype != np.int64 or values.shape != (count,):
        raise AssertionError(f"{backend} huffman decoder returned {values.dtype}{values.shape} for count {count}")
    return "ok", values.tobytes()


def TestOneInput(data):
    count, stream = split_input(bytes(data))
    results = {b: outcome(b, stream, count) for b in nncodec.available_backends()}
    if len(set(results.values())) > 1:
        summary = {b: r if r[0] == "error" else ("ok", len(r[1])) for b, r in results.items()}
        raise AssertionError(f"backends disagree on count {count}, stream {stream[:64].hex()}: {summary}")


def seeds():
    """Valid inputs to start from: small streams of each mode, with escapes and long codes."""
    encode = _backend.kernels("huffman", "reference").encode
    rng = np.random.default_rng(0)
    arrays = [np.zeros(0, np.int64), np.full(9, -5, np.int64), np.array([0, 1, 1, 0], np.int64),
              np.round(rng.laplace(0, 6, 100)).astype(np.int64),
              np.array([1 << 62, -(1 << 62), 3, 3, 3, 4, 4, 5], np.int64),
              np.repeat(np.arange(12, dtype=np.int64), [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144])]
    out = []
    for values in arrays:
        stream = encode(values, max_length=8)
        out.append(bytes([values.size]) + stream if values.size < 0x80
                   else b"\x80" + values.size.to_bytes(8, "little") + stream)
    return out


def main():
    if sys.argv[1:2] == ["--write-seeds"]:
        corpus = pathlib.Path(sys.argv[2])
        corpus.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            (corpus / f"seed-{i}").write_bytes(seed)
        return
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
