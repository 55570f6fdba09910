"""What the transform stages (spec 4.2 to 4.4) share: the Out_Type byte and a bounded params reader."""

import numpy as np

from ..errors import FormatError
from ..format.records import write_varint
from ..format.varint import read_varint

FLOAT_OUT = (10, 11, 12, 13)  # §4: float16, bfloat16, float32, float64 (cast: 12, 13 only)


class ParamsReader:
    """Reads a stage's params; running past their end or leaving bytes unread is a FormatError [R4.2-d]."""

    def __init__(self, params, stage):
        self.params, self.pos, self.stage = params, 0, stage

    def _ends(self, n, pos):
        return FormatError(f"[R4.2-d] {self.stage} params end early: need {n} bytes at {pos}, "
                           f"{len(self.params) - pos} left")

    def take(self, n):
        if n > len(self.params) - self.pos:
            raise self._ends(n, self.pos)
        self.pos += n
        return self.params[self.pos - n:self.pos]

    def u8(self):
        return self.take(1)[0]

    def varint(self):
        value, self.pos = read_varint(self.params, self.pos, f"{self.stage} params", lambda pos: self._ends(1, pos))
        return value

    def float32s(self, count):
        return np.frombuffer(self.take(4 * count), dtype="<f4").copy()

    def end(self):
        if self.pos != len(self.params):
            raise FormatError(f"[R4.2-d] {self.stage} params have {len(self.params) - self.pos} extra bytes")


def out_type(reader, allowed=FLOAT_OUT):
    code = reader.u8()
    if code not in allowed:
        raise FormatError(f"[R4.2-a] {reader.stage} Out_Type {code} not in {allowed}")
    return code


def pack(out_code, *fields):
    """Params bytes: Out_Type then ``fields`` (ints as varints, bytes as they are)."""
    out = bytearray((out_code,))
    for f in fields:
        if isinstance(f, int):
            write_varint(out, f)
        else:
            out += f
    return bytes(out)
