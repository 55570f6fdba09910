"""Assembling a container's bytes (spec 3.1 to 3.4): header, directory and the aligned streams, in order."""

from .header import HEADER_SIZE, container_header
from .records import Directory, serialize_directory

__all__ = ["PendingStream", "write_container"]


class PendingStream:
    """A stream's stored bytes and descriptor fields, before its offset is known (writer side)."""

    __slots__ = ("coding", "elem_type", "align_log2", "count", "data")

    def __init__(self, coding, elem_type, align_log2, count, data):
        self.coding, self.elem_type, self.align_log2 = coding, elem_type, align_log2
        self.count, self.data = count, data


def write_container(tensors, metadata=()):
    """Bytes of a container holding ``tensors``: a sequence of ``(TensorRecord, [PendingStream...])``.

    The records' stream descriptors must already carry each pending stream's length and CRC (see
    ``nncodec.encoder.tensor.with_stream_facts``), in payload order; this function adds the header and the aligned payload.
    """
    records = [record for record, _ in tensors]
    pending = [p for _, streams in tensors for p in streams]
    directory = serialize_directory(Directory(tuple(metadata), tuple(records)))
    payload = bytearray()
    start = HEADER_SIZE + len(directory)
    for p in pending:
        align = 1 << p.align_log2
        pad = -(start + len(payload)) % align
        payload += bytes(pad)
        payload += p.data
    return container_header(directory, len(payload)) + directory + bytes(payload)
