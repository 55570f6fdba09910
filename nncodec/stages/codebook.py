"""codebook transform (spec 4.3): integer indices into a table of float32 entries (weight sharing)."""

import numpy as np

from .. import kernels
from ..format.dtypes import is_integer_code, numpy_dtype
from ..errors import FormatError, InconsistentError
from ..format.records import Stage
from .transform import ParamsReader, out_type, pack

MAX_ENTRIES = 65536


class CodebookLookup:
    stage_id = 17
    name = "codebook"
    kind = "transform"

    def stage(self, out_code, entries):
        entries = np.asarray(entries, dtype="<f4").reshape(-1)
        return Stage(self.stage_id, pack(out_code, entries.size, entries.tobytes()))

    def parse(self, node, params, in_code):
        r = ParamsReader(params, self.name)
        out_code = out_type(r)
        count = r.varint()
        if not 1 <= count <= MAX_ENTRIES:
            raise FormatError(f"[R4.3-a] codebook Entry_Count {count} not in 1..{MAX_ENTRIES}")
        entries = r.float32s(count)
        r.end()
        if not np.all(np.isfinite(entries)):
            raise FormatError("[R4.3-b] codebook entry is not finite")
        if not is_integer_code(in_code) or in_code == 1:
            raise InconsistentError(f"[R4.2-e] codebook input must be integer indices, got dtype code {in_code}")
        return out_code, entries

    def elementwise(self, parsed):
        return True

    def decode(self, node, parsed, array, out_code, backend=None):
        return kernels.module("dequant", backend).codebook(array, parsed, numpy_dtype(out_code))
