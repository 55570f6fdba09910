"""zstd stream coding (spec 5.2): one Zstandard frame with a declared content size, checked before decompressing."""

import numpy as np
import zstandard

from ..dtypes import itemsize, numpy_dtype
from ..errors import FormatError, InconsistentError


class ZstdCoding:
    coding_id = 1
    name = "zstd"
    align_log2 = 0

    def __init__(self, level=19):
        self.level = level

    def encode(self, values, backend=None):
        raw = np.asarray(values, order="C").tobytes()
        cctx = zstandard.ZstdCompressor(level=self.level, write_content_size=True, write_checksum=False)
        return cctx.compress(raw)

    def decode(self, data, stream, limits, backend=None):
        expected = stream.count * itemsize(stream.elem_type)
        try:
            params = zstandard.get_frame_parameters(data)
        except zstandard.ZstdError as exc:
            raise FormatError(f"[R5.2-a] not a zstd frame: {exc}") from None
        if params.dict_id:
            raise FormatError(f"[R5.2-a] zstd frame needs dictionary {params.dict_id}")
        if params.content_size in (zstandard.CONTENTSIZE_UNKNOWN, zstandard.CONTENTSIZE_ERROR):
            raise InconsistentError("[R5.2-b] zstd frame does not declare its content size")
        if params.content_size != expected:
            raise InconsistentError(f"[R5.2-b] zstd frame declares {params.content_size} bytes, "
                                    f"the stream needs {expected}")
        try:
            raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=expected, allow_extra_data=False)
        except zstandard.ZstdError as exc:
            raise FormatError(f"[R5.2-c] bad zstd frame: {exc}") from None
        if len(raw) != expected:
            raise FormatError(f"[R5.2-c] zstd frame decompressed to {len(raw)} bytes, expected {expected}")
        if stream.elem_type == 1 and expected and max(raw) > 1:
            raise InconsistentError("[R3.7-a] bool element other than 0 or 1")
        return np.frombuffer(raw, dtype=numpy_dtype(stream.elem_type), count=stream.count)
