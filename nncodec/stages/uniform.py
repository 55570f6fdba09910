"""uniform transform (spec 4.2): integer levels times a step per tensor or per channel."""

import numpy as np

from .. import kernels
from ..format.dtypes import is_integer_code, numpy_dtype
from ..errors import FormatError, InconsistentError
from ..format.records import Stage
from .transform import ParamsReader, out_type, pack

PER_TENSOR = 255


class UniformDequant:
    stage_id = 16
    name = "uniform"
    kind = "transform"

    def stage(self, out_code, steps, axis=None):
        """The Stage for float32 ``steps`` (one per tensor when ``axis`` is None, else one per index on axis)."""
        steps = np.asarray(steps, dtype="<f4").reshape(-1)
        return Stage(self.stage_id, pack(out_code, bytes((PER_TENSOR if axis is None else axis,)), steps.size,
                                         steps.tobytes()))

    def parse(self, node, params, in_code):
        """(out_code, parsed params) after the checks of spec 4.2."""
        r = ParamsReader(params, self.name)
        out_code, steps, axis = self.read_steps(node, r)
        r.end()
        self.check_steps(steps, in_code)
        return out_code, (steps, axis)

    def read_steps(self, node, r):
        """(out_code, steps, axis or None): the fields of spec 4.2 from the params reader ``r``."""
        out_code = out_type(r)
        axis = r.u8()
        count = r.varint()
        if axis != PER_TENSOR and axis >= len(node.shape):
            raise InconsistentError(f"[R4.2-b] uniform Axis {axis} but the node has {len(node.shape)} dimensions")
        expected = 1 if axis == PER_TENSOR else node.shape[axis]
        if count != expected:
            raise InconsistentError(f"[R4.2-b] uniform has {count} steps, the shape needs {expected}")
        return out_code, r.float32s(count), None if axis == PER_TENSOR else axis

    def check_steps(self, steps, in_code):
        """The checks of spec 4.2 after the fields are read: finite steps, integer input."""
        if not np.all(np.isfinite(steps)):
            raise FormatError("[R4.2-c] uniform step is not finite")
        if not is_integer_code(in_code) or in_code == 1:
            raise InconsistentError(f"[R4.2-e] uniform input must be integer levels, got dtype code {in_code}")

    def elementwise(self, parsed):
        """True when each output element depends on its input element alone (one step for the tensor)."""
        return parsed[1] is None

    def decode(self, node, parsed, array, out_code, backend=None):
        steps, axis = parsed
        return kernels.module("dequant", backend).uniform(array, steps, axis, numpy_dtype(out_code))
