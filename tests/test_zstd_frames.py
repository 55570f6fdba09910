"""zstd and zstd-shuffle streams (spec 5.2, 5.4) must be exactly one frame: vectors in the golden-vector style,
hand-made block by block (RFC 8878 3.1.1), so they do not depend on the libzstd version.

Regression: a frame declaring content size 0 was accepted whatever followed it (python-zstandard answers b"" for
such a frame without reading it), which broke R5.2-c and the no-polyglot claim of spec 8.
"""

import numpy as np
import pytest
import zstandard

import nncodec
from nncodec.errors import FormatError, InconsistentError
from tests import crafting

RAW, RLE = 0, 1  # Block_Type


def block(kind, size, last=False, content=None):
    """One block: its 3-byte header (Last_Block, Block_Type, Block_Size) and content (RLE: one byte)."""
    body = content if content is not None else (b"\x41" if kind == RLE else bytes(size))
    return (int(last) | kind << 1 | size << 3).to_bytes(3, "little") + body


def frame(content_size, *blocks):
    """A single-segment frame (no checksum, no dictionary) with a 1-byte Frame_Content_Size."""
    return b"\x28\xb5\x2f\xfd" + bytes([0x20, content_size]) + b"".join(blocks)


EMPTY = frame(0, block(RAW, 0, last=True))
LIBZSTD_EMPTY = zstandard.ZstdCompressor(write_content_size=True).compress(b"")

# name -> (stream bytes, Element_Count, expected error class and rule, or None when the stream is valid)
VECTORS = {
    "size0": (EMPTY, 0, None),
    "size0-libzstd": (LIBZSTD_EMPTY, 0, None),
    "size0-three-empty-blocks": (frame(0, block(RAW, 0), block(RLE, 0), block(RAW, 0, last=True)), 0, None),
    "size0-extra-bytes": (EMPTY + b"arbitrary bytes", 0, (FormatError, "R5.2-c")),
    "size0-libzstd-extra-byte": (LIBZSTD_EMPTY + b"\x00", 0, (FormatError, "R5.2-c")),
    "size0-second-frame": (EMPTY + frame(4, block(RAW, 4, last=True)), 0, (FormatError, "R5.2-c")),
    "size0-no-block": (frame(0), 0, (FormatError, "R5.2-c")),
    "size0-no-last-block": (frame(0, block(RAW, 0)), 0, (FormatError, "R5.2-c")),
    "size0-block-holds-1": (frame(0, block(RAW, 1, last=True)), 0, (FormatError, "R5.2-c")),
    "size0-rle-128k": (frame(0, block(RLE, 1 << 17, last=True)), 0, (FormatError, "R5.2-c")),
    "size0-block-cut": (frame(0, block(RAW, 4, last=True))[:-2], 0, (FormatError, "R5.2-c")),
    "size0-for-4": (EMPTY, 4, (InconsistentError, "R5.2-b")),
    "size4": (frame(4, block(RAW, 4, last=True)), 4, None),
    "size4-extra-byte": (frame(4, block(RAW, 4, last=True)) + b"\x00", 4, (FormatError, "R5.2-c")),
    "size4-cut": (frame(4, block(RAW, 4, last=True))[:-1], 4, (FormatError, "R5.2-c")),
    "size4-no-last-block": (frame(4, block(RAW, 4)), 4, (FormatError, "R5.2-c")),
}


def _container(coding, data, count):
    """One uint8 tensor of ``count`` elements stored as ``data`` in zstd (1) or zstd-shuffle (4)."""
    return crafting.craft([crafting.dense_tensor("z", "uint8", (count,), data, coding=coding, align_log2=0)])


def _every_entry_point(blob, backend):
    """Decode through decode, open + get, and verify_all without building; the arrays decode and get returned."""
    decoded = nncodec.decode(blob, backend=backend)["z"]
    with nncodec.open(blob, backend=backend) as reader:
        got = reader.get("z")
        reader.verify_all(materialize=False)
    return decoded, got


@pytest.mark.parametrize("coding", [1, 4], ids=["zstd", "zstd-shuffle"])
@pytest.mark.parametrize("name", list(VECTORS))
def test_zstd_stream_is_exactly_one_frame(name, coding, backend):
    data, count, expected = VECTORS[name]
    blob = _container(coding, data, count)
    if expected is None:
        for array in _every_entry_point(blob, backend):
            assert array.dtype == np.uint8 and array.tobytes() == bytes(count)
        return
    error, rule = expected
    for entry in (lambda: nncodec.decode(blob, backend=backend),
                  lambda: nncodec.open(blob, backend=backend).get("z"),
                  lambda: nncodec.open(blob, backend=backend).verify_all(materialize=False)):
        with pytest.raises(error, match=rule) as caught:
            entry()
        assert type(caught.value) is error


@pytest.mark.parametrize("coding", [1, 4], ids=["zstd", "zstd-shuffle"])
def test_empty_float_tensor_with_bytes_after_its_frame(coding, backend):
    """The same for 4-byte elements (zstd-shuffle's planes are then 4 empty ones)."""
    def tensor(data):
        return crafting.craft([crafting.dense_tensor("w", "float32", (0, 7), data, coding=coding, align_log2=0)])
    assert nncodec.decode(tensor(LIBZSTD_EMPTY), backend=backend)["w"].shape == (0, 7)
    with pytest.raises(FormatError, match="R5.2-c"):
        nncodec.decode(tensor(LIBZSTD_EMPTY + b"polyglot"), backend=backend)
