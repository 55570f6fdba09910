"""Reading a container's directory (spec 3.2 to 3.5): the first step of every reader and all that ``nncodec info``
needs. Imports no NumPy."""

from .. import kernels
from ..errors import ChecksumError, InconsistentError
from ..format.header import HEADER_SIZE, check_header, crc32

__all__ = ["read_directory"]


def read_directory(buf, limits, backend=None):
    """The parsed :class:`nncodec.format.records.Directory` of the container that is exactly ``buf`` (a byte memoryview).

    Checks the header and total length (spec 3.1, 3.2), the directory CRC and, through the backend's parser, every
    structural rule and limit of the directory (3.3 to 3.5, 6), and that the streams end where the container does.
    """
    dir_len, _ = check_header(buf, limits)
    directory_bytes = bytes(buf[HEADER_SIZE:HEADER_SIZE + dir_len])
    stored = int.from_bytes(buf[24:28], "little")
    if crc32(directory_bytes) != stored:
        raise ChecksumError(f"[R3.2-e] directory CRC-32 mismatch: stored {stored:08x}, "
                            f"computed {crc32(directory_bytes):08x}")
    parse = kernels.module("directory", backend).parse_directory
    directory, payload_end = parse(directory_bytes, HEADER_SIZE + dir_len, len(buf), limits)
    if payload_end != len(buf):
        raise InconsistentError(f"[R3.4-b] the streams end at {payload_end}, the header declares the container "
                                f"ends at {len(buf)}")
    return directory
