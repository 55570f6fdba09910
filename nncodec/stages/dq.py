"""dq transform (spec 4.5): dependent scalar dequantization, two quantizers chosen by a four-state machine."""

from .. import _backend
from ..dtypes import numpy_dtype
from .uniform import UniformDequant


class DependentDequant(UniformDequant):
    """Params and checks exactly as ``uniform`` (spec 4.2); reconstruction by the state machine of spec 4.5."""

    stage_id = 19
    name = "dq"

    def elementwise(self, parsed):
        """Never: the state machine carries information from element to element (spec 4.5)."""
        return False

    def decode(self, node, parsed, array, out_code, backend=None):
        steps, axis = parsed
        return _backend.kernels("dequant", backend).dependent(array, steps, axis, numpy_dtype(out_code))
