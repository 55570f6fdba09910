"""dq transform (spec 4.5): dependent scalar dequantization, two quantizers chosen by a state machine of 4, 8, 16
or 32 states."""

from .. import kernels
from ..kernels.dq_machine import STATE_COUNTS
from ..format.dtypes import numpy_dtype
from ..errors import EncodeError, FormatError
from ..format.records import Stage
from .transform import ParamsReader
from .uniform import UniformDequant

FOUR_STATES = 4  # §4.5 the machine when the params end after the steps


class DependentDequant(UniformDequant):
    """Params as ``uniform`` (spec 4.2) plus the optional State_Count byte; reconstruction by the state machine of
    spec 4.5."""

    stage_id = 19
    name = "dq"

    def stage(self, out_code, steps, axis=None, states=FOUR_STATES):
        """The Stage for float32 ``steps`` (as ``uniform``) and a machine of ``states`` states (4, 8, 16, 32)."""
        if states not in STATE_COUNTS:
            raise EncodeError(f"dq state count {states} not in {STATE_COUNTS}")
        base = super().stage(out_code, steps, axis)
        return base if states == FOUR_STATES else Stage(base.stage_id, base.params + bytes((states,)))

    def parse(self, node, params, in_code):
        """(out_code, (steps, axis, states)) after the checks of spec 4.2 and 4.5."""
        r = ParamsReader(params, self.name)
        out_code, steps, axis = self.read_steps(node, r)
        states = FOUR_STATES
        if r.pos < len(r.params):  # §4.5 the optional State_Count byte
            states = r.u8()
            if states == FOUR_STATES or states not in STATE_COUNTS:
                raise FormatError(f"[R4.5-b] dq State_Count {states} is not 8, 16 or 32 (four states are written "
                                  "without it)")
        r.end()
        self.check_steps(steps, in_code)
        return out_code, (steps, axis, states)

    def elementwise(self, parsed):
        """Never: the state machine carries information from element to element (spec 4.5)."""
        return False

    def decode(self, node, parsed, array, out_code, backend=None):
        steps, axis, states = parsed
        return kernels.module("dequant", backend).dependent(array, steps, axis, numpy_dtype(out_code), states)
