"""cast transform (spec 4.4): exact widening of float16 / bfloat16 / float32 storage."""

import numpy as np

from ..format.dtypes import BFLOAT16, numpy_dtype
from ..errors import InconsistentError
from ..format.records import Stage
from .transform import ParamsReader, out_type, pack

WIDENING = {(10, 12), (10, 13), (11, 12), (11, 13), (12, 13)}


class WideningCast:
    stage_id = 18
    name = "cast"
    kind = "transform"

    def stage(self, out_code):
        return Stage(self.stage_id, pack(out_code))

    def parse(self, node, params, in_code):
        r = ParamsReader(params, self.name)
        out_code = out_type(r, allowed=(12, 13))
        r.end()
        if (in_code, out_code) not in WIDENING:
            raise InconsistentError(f"[R4.4-a] cast from dtype code {in_code} to {out_code} is not a widening")
        return out_code, in_code

    def elementwise(self, parsed):
        return True

    def decode(self, node, in_code, array, out_code, backend=None):
        if in_code == BFLOAT16:  # bfloat16 bits are the upper half of a binary32: widen by shifting (exact)
            bits = array.view(np.uint16).astype(np.uint32) << 16
            return bits.view(np.float32).astype(numpy_dtype(out_code), copy=False)
        return array.astype(numpy_dtype(out_code))
