"""Writes the hand-minimised extreme inputs of fuzz/extremes/ (one per root cause the adversary found), each written
from the spec with every field honest but the one extreme that breaks the decoder.

    python fuzz/make_extremes.py            # (re)writes fuzz/extremes/*.nnc from the builders below

Inputs found by ``fuzz/adversary.py`` and minimised with ``fuzz/adversary_min.py`` sit beside them as they are.
File names: ``<kind>-<what>.nnc``; ``accept-<rule>-...`` inputs break that rule on purpose and must be rejected.
"""

import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from adversary_gen import _container, _crc, _elem, _varint, huffman_constant, zstd_frame  # noqa: E402
from crafting import reseal  # noqa: E402
from nncodec.bundle import trailer  # noqa: E402
from nncodec.format.assemble import PendingStream  # noqa: E402
from nncodec.format.records import Alias, Chain, Composite, Node, Stage, Stream, TensorRecord  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "extremes"
F32, F64 = _elem("float32"), _elem("float64")
CONST_MAX = 2**24  # elements a 2-byte Huffman constant stream may stand for (the expansion slack)


class Blob:
    """Collects streams in payload order while nodes are built; ``bytes(records, metadata)`` seals it all."""

    def __init__(self):
        self.pending = []

    def stream(self, coding, elem, count, data):
        self.pending.append(PendingStream(coding, _elem(elem), 0, count, data))
        return Stream(coding, _elem(elem), 0, count, len(data), _crc(data))

    def raw(self, values, elem):
        return self.stream(0, elem, len(values), np.array(values, dtype=elem).tobytes())

    def constant(self, count, value=1, elem="int8"):
        """A Huffman Mode-1 stream: ``count`` copies of ``value`` in 2 bytes."""
        return self.stream(2, elem, count, huffman_constant(value))

    def ones(self, shape, dtype=F32):
        """A dense chain of 1.0s of ``shape`` (at most 2^24 elements) from a 2-byte stream."""
        count = int(np.prod(shape, dtype=object))
        return Node(dtype, tuple(shape), Chain((self.constant(count),), (Stage(1, b""), unit_step(dtype))))

    def bytes(self, records, metadata=()):
        return reseal(_container(list(records), self.pending, list(metadata)))


def unit_step(dtype=F32):
    """uniform (spec 4.2): one step of 1.0, output ``dtype``."""
    return Stage(16, bytes((dtype, 255)) + _varint(1) + np.float32(1).tobytes())


def cer_factor_column_2p31():
    """product (1, 1) of a CER factor (1, k) holding one element at column c = 2^31 + 65535 and a relidx factor
    (k, 1) whose entries sit every 2^16 rows (so both of its streams are constants): valid, 160 bytes."""
    b = Blob()
    t = 32769
    c = 65536 * t - 1
    left = Node(F32, (1, c + 1), Chain((b.raw([0, 1], "int8"), b.raw([1], "uint8"), b.raw([1], "uint8"),
                                        b.raw([c], "uint32")), (Stage(4, b""), unit_step())))
    right = Node(F32, (c + 1, 1), Chain((b.constant(t, 65535, "uint16"), b.constant(t, 1)),
                                        (Stage(2, bytes((16,))), unit_step())))
    return b.bytes([TensorRecord("w", Node(F32, (1, 1), Composite(2, (left, right))))])


def empty_huge(layout, shape):
    """An empty tensor of ``shape`` (one extent 0, the other huge) in a sparse layout with empty streams."""
    b = Blob()
    m = shape[0]
    streams = {"csr": lambda: (b.constant(m, 0, "uint8") if m else b.raw([], "uint8"), b.raw([], "uint8"),
                               b.raw([], "int8")),
               "cer": lambda: (b.raw([], "int8"), b.constant(m, 0, "uint8") if m else b.raw([], "uint8"),
                               b.raw([], "uint8"), b.raw([], "uint8")),
               "relidx": lambda: (b.raw([], "uint8"), b.raw([], "int8"))}[layout]()
    params = bytes((8,)) if layout == "relidx" else b""
    stage = {"csr": 3, "cer": 4, "relidx": 2}[layout]
    return b.bytes([TensorRecord("e", Node(_elem("int8"), shape, Chain(streams, (Stage(stage, params),))))])


def alias_bomb(aliases=256):
    """A (1, 1) product of two 2^24-long factors of ones (two 128 MiB float64 intermediates, 2^24 multiply-adds)
    and ``aliases`` aliases of it: 4 bytes of output each, a whole product decoded each."""
    b = Blob()
    target = Node(F32, (1, 1), Composite(2, (b.ones((1, CONST_MAX)), b.ones((CONST_MAX, 1)))))
    return b.bytes([TensorRecord("t", target)] + [TensorRecord(f"a{i}", Node(F32, (1, 1), Alias(0)))
                                                  for i in range(aliases)])


def runtime_repeated_weight(layers=64):
    """An architecture of ``layers`` (1 -> 1) linear layers all naming one weight, a (1, 1) product of two 2^24-long
    factors: runtime.load decodes the weight once per layer that names it."""
    b = Blob()
    weight = Node(F32, (1, 1), Composite(2, (b.ones((1, CONST_MAX)), b.ones((CONST_MAX, 1)))))
    arch = {"format": "nncodec.sequential/1", "input_shape": [1],
            "layers": [{"type": "linear", "weight": "w"}] * layers}
    return b.bytes([TensorRecord("w", weight)], [("nncodec.architecture", json.dumps(arch))])


def sum_bomb(children=24):
    """sum of ``children`` constant float64 children of 2^24 elements: 128 MiB out, each child 128 MiB."""
    b = Blob()
    return b.bytes([TensorRecord("s", Node(F64, (CONST_MAX,), Composite(1, tuple(
        b.ones((CONST_MAX,), F64) for _ in range(children)))))])


def zstd_size0_trailing():
    """A zstd stream (spec 5.2) whose frame declares content size 0, followed by 8 bytes that are not a frame."""
    b = Blob()
    stream = b.stream(1, "uint8", 0, zstd_frame(0) + b"polyglot")
    return b.bytes([TensorRecord("z", Node(_elem("uint8"), (0,), Chain((stream,), (Stage(1, b""),))))])


def named(name):
    """A valid 2-element float32 tensor called ``name`` (npz's savez takes keyword names: 'file', 'allow_pickle')."""
    b = Blob()
    return b.bytes([TensorRecord(name, Node(F32, (2,), Chain((b.raw([1.0, 2.0], "float32"),), (Stage(1, b""),))))])


def damaged_trailer():
    """A valid container appended to a host with a trailer whose Reserved bytes are set (CRC resealed)."""
    blob = named("w")
    tail = bytearray(trailer(len(blob)))
    tail[16] = 1
    tail[20:24] = _crc(bytes(tail[:20])).to_bytes(4, "little")
    return bytes(64) + blob + bytes(tail)


BUILDERS = {
    "memory-cer-factor-column-2p31.nnc": cer_factor_column_2p31,
    "extreme-csr-empty-0x2p34.nnc": lambda: empty_huge("csr", (0, 2**34)),
    "memory-cer-empty-0x2p34.nnc": lambda: empty_huge("cer", (0, 2**34)),
    "memory-relidx-empty-2p34x0.nnc": lambda: empty_huge("relidx", (2**34, 0)),
    "extreme-cer-empty-2p34x0.nnc": lambda: empty_huge("cer", (2**34, 0)),
    "hang-alias-bomb.nnc": alias_bomb,
    "memory-sum-holds-children.nnc": sum_bomb,
    "hang-verify-sum-512-children.nnc": lambda: sum_bomb(512),
    "hang-runtime-layers-repeat-weight.nnc": runtime_repeated_weight,
    "accept-R5.2-c-zstd-size0-trailing.nnc": zstd_size0_trailing,
    "escape-cli-npz-name-file.nnc": lambda: named("file"),
    "cli-output-npz-name-allow-pickle.nnc": lambda: named("allow_pickle"),
    "escape-damaged-trailer-buffererror.nnc": damaged_trailer,
}


def main():
    OUT.mkdir(exist_ok=True)
    for name, build in BUILDERS.items():
        blob = build()
        (OUT / name).write_bytes(blob)
        print(f"{name}: {len(blob)} bytes")


if __name__ == "__main__":
    main()
