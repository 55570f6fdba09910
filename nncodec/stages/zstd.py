"""zstd stream codings (spec 5.2 and 5.4): one Zstandard frame with a declared content size, checked before
decompressing; ``zstd-shuffle`` compresses the elements' byte planes instead of the elements."""

import numpy as np
import zstandard

from .. import kernels
from ..format.dtypes import itemsize
from ..errors import FormatError, InconsistentError
from .raw import elements

DEFAULT_LEVEL = 9


def _check_frame(data, expected, limits):
    """Validate the frame header (spec 5.2) so nothing is allocated for a lying frame."""
    try:
        params = zstandard.get_frame_parameters(data)
    except zstandard.ZstdError as exc:
        raise FormatError(f"[R5.2-a] not a zstd frame: {exc}") from None
    if params.dict_id:
        raise FormatError(f"[R5.2-a] zstd frame needs dictionary {params.dict_id}")
    if params.content_size in (zstandard.CONTENTSIZE_UNKNOWN, zstandard.CONTENTSIZE_ERROR):
        raise InconsistentError("[R5.2-b] zstd frame does not declare its content size")
    if params.content_size != expected:
        raise InconsistentError(f"[R5.2-b] zstd frame declares {params.content_size} bytes, the stream needs {expected}")
    limits.check("max_zstd_window", params.window_size)


def _decompress(data, expected, limits):
    """The frame's content; the frame must be exactly ``data`` (spec 5.2: no bytes after it)."""
    # libzstd refuses windows above 2**27 unless told otherwise: tell it the limit (a power of two in 2**10..2**31)
    window = min(1 << 31, 1 << max(10, (limits.max_zstd_window - 1).bit_length()))
    dctx = zstandard.ZstdDecompressor(max_window_size=window)
    try:
        if expected:
            raw = dctx.decompress(data, max_output_size=expected, allow_extra_data=False)
        else:  # decompress() answers b"" for a frame declaring size 0 without reading its blocks or what follows
            frame = dctx.decompressobj()
            raw = frame.decompress(data)  # libzstd stops at the first block that exceeds the declared size
            if not frame.eof:
                raise FormatError("[R5.2-c] the zstd frame ends before its last block")
            if frame.unused_data:
                raise FormatError(f"[R5.2-c] {len(frame.unused_data)} bytes after the zstd frame")
    except zstandard.ZstdError as exc:
        raise FormatError(f"[R5.2-c] bad zstd frame: {exc}") from None
    if len(raw) != expected:
        raise FormatError(f"[R5.2-c] zstd frame decompressed to {len(raw)} bytes, expected {expected}")
    return raw


def _elements(raw, stream):
    if stream.elem_type == 1 and raw and max(raw) > 1:
        raise InconsistentError("[R3.7-a] bool element other than 0 or 1")
    return elements(raw, stream)


class ZstdCoding:
    """Coding 1: the elements' little-endian bytes in one zstd frame."""

    coding_id = 1
    name = "zstd"
    align_log2 = 0

    def __init__(self, level=DEFAULT_LEVEL):
        self.level = level

    def _compress(self, raw):
        cctx = zstandard.ZstdCompressor(level=self.level, write_content_size=True, write_checksum=False)
        return cctx.compress(raw)

    def encode(self, values, backend=None):
        return self._compress(np.asarray(values, order="C").tobytes())

    def decode(self, data, stream, limits, backend=None):
        expected = stream.count * itemsize(stream.elem_type)
        _check_frame(data, expected, limits)
        return _elements(_decompress(data, expected, limits), stream)


class ShuffledZstdCoding(ZstdCoding):
    """Coding 4: the elements' byte planes (spec 5.4) in one zstd frame; better on floats."""

    coding_id = 4
    name = "zstd-shuffle"

    def encode(self, values, backend=None):
        values = np.asarray(values, order="C")
        planes = kernels.module("shuffle", backend).shuffle(values.tobytes(), values.dtype.itemsize)
        return self._compress(planes)

    def decode(self, data, stream, limits, backend=None):
        size = itemsize(stream.elem_type)
        expected = stream.count * size
        _check_frame(data, expected, limits)
        raw = kernels.module("shuffle", backend).unshuffle(_decompress(data, expected, limits), size)
        return _elements(raw, stream)
