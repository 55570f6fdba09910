"""Write the seed corpus of fuzz_decode: small valid containers covering every coding, dtype family and node kind.

    python fuzz/make_corpus.py              # writes fuzz/corpus/decode/seed-*.nnc (deterministic)
    python fuzz/make_corpus.py --vectors    # also copies spec/vectors/valid/*.nnc as vector-*.nnc

Seeds stay small (a few hundred bytes) so that libFuzzer's mutations land in interesting fields.
"""

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import nncodec  # noqa: E402
from nncodec.api import COMPRESS_CHOICES, ENTROPY_CHOICES  # noqa: E402
from nncodec.format.assemble import PendingStream, write_container  # noqa: E402
from nncodec.stages import CODINGS  # noqa: E402
from nncodec.format.records import PRODUCT, SUM, Chain, Composite, Node, Stage, Stream, TensorRecord  # noqa: E402

import crafting  # noqa: E402

OUT = ROOT / "fuzz" / "corpus" / "decode"


def _f32_node(shape, values):
    data = np.asarray(values, dtype="<f4").tobytes()
    stream = Stream(0, 12, 6, int(np.prod(shape)), len(data), crafting.crc32(data))
    return Node(12, shape, Chain((stream,), (Stage(1, b""),))), PendingStream(0, 12, 6, stream.count, data)


def composites():
    """The encoder never writes sum or product nodes; the decoder reads them (spec 3.5.2)."""
    a, pa = _f32_node((2, 3), np.arange(6))
    b, pb = _f32_node((2, 3), np.ones(6))
    total = TensorRecord("sum", Node(12, (2, 3), Composite(SUM, (a, b))))
    left, pl = _f32_node((3, 1), [1, 2, 3])
    right, pr = _f32_node((1, 2), [4, 5])
    product = TensorRecord("lowrank", Node(12, (3, 2), Composite(PRODUCT, (left, right))))
    return write_container([(total, [pa, pb]), (product, [pl, pr])], (("k", "v"),))


def seeds():
    rng = np.random.default_rng(7)
    yield "empty", nncodec.encode({})
    yield "single-int8", nncodec.encode(np.arange(-4, 4, dtype=np.int8))
    yield "dict-meta", nncodec.encode({"w": np.arange(6, dtype=np.uint16).reshape(2, 3), "": np.float64(-0.0)},
                                      metadata={"author": "fuzz", "ü": ""})
    yield "zstd-f16", nncodec.encode({"h": rng.standard_normal(24).astype(np.float16)}, compress="zstd")
    yield "zstd-bool", nncodec.encode({"m": rng.integers(0, 2, 40).astype(bool)}, compress="zstd")
    if "zstd-shuffle" in COMPRESS_CHOICES:
        yield "shuffle-f32", nncodec.encode({"s": rng.standard_normal(16).astype(np.float32)},
                                            compress="zstd-shuffle")
    for entropy in ("huffman", "cabac"):
        if entropy in ENTROPY_CHOICES and any(c.name == entropy for c in CODINGS.values()):
            levels = rng.integers(-5, 6, 48).astype(np.int8)
            yield f"{entropy}-int8", nncodec.encode({"q": levels, "u": np.arange(9, dtype=np.uint16)},
                                                   compress="zstd", entropy=entropy)
    yield "chunked", nncodec.encode({"c": np.arange(12, dtype=np.int32).reshape(6, 2), "e": np.zeros((0, 3))},
                                    chunk_elements=4, compress="auto")
    yield "dtypes", nncodec.encode({"b": np.array([True, False]), "u64": np.array([2**64 - 1], np.uint64),
                                    "bf": nncodec.BFloat16(np.array([0x3F80, 0x7FC1], np.uint16)),
                                    "f64": np.array([np.nan, -np.inf])})
    yield "composites", composites()
    sparse = np.where(rng.random((4, 6)) < 0.3, rng.integers(-3, 4, (4, 6)), 0).astype(np.int8)
    yield "layouts", nncodec.encode({"r": sparse, "c": sparse.T.copy(), "e": sparse + 1, "s": sparse[:, :5]},
                                    layout={"r": "relidx:bits=2", "c": "csr", "e": "cer", "s": "cser"},
                                    entropy="huffman")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, blob in seeds():
        nncodec.decode(blob)  # every seed is valid
        (OUT / f"seed-{name}.nnc").write_bytes(blob)
    if "--vectors" in sys.argv:
        for path in sorted((ROOT / "spec" / "vectors" / "valid").glob("*.nnc")):
            (OUT / f"vector-{path.name}").write_bytes(path.read_bytes())
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT}")


if __name__ == "__main__":
    main()
