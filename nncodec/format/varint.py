"""The one pure-Python varint reader (spec 2): canonical unsigned LEB128, at most 10 bytes, value < 2**64.

Used by the reference directory parser, the reference huffman decoder and the transform stages' params reader.
The Cython twins keep their own typed readers. It lives outside ``nncodec.kernels.reference`` because that
package holds exactly the twins of the ``nncodec.kernels.cython`` modules.
"""

from ..errors import FormatError

__all__ = ["read_varint"]


def read_varint(data, pos, what, truncated):
    """(value, position after it) of the varint at ``data[pos:]``.

    A non-canonical, overlong or >= 2**64 varint is a FormatError ``[R2-a]`` naming ``what``. Where ``data`` ends
    inside the varint, the error ``truncated(offset)`` returns is raised (``offset`` is that of the missing byte):
    each caller keeps its own truncation rule.
    """
    value = 0
    for i in range(10):
        if pos >= len(data):
            raise truncated(pos)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise FormatError(f"[R2-a] non-canonical varint in {what}")
            if value >= 1 << 64:
                raise FormatError(f"[R2-a] varint in {what} is >= 2**64")
            return value, pos
    raise FormatError(f"[R2-a] varint in {what} is longer than 10 bytes")
