"""The container's header (spec 3.2): built, and checked against the bytes present, without NumPy."""

import zlib

from ..errors import (ChecksumError, FormatError, TrailingDataError, TruncatedError,
                     UnsupportedVersionError)

__all__ = ["MAGIC", "HEADER_SIZE", "FORMAT_MAJOR", "FORMAT_MINOR", "crc32", "container_header", "check_header"]

MAGIC = b"\x89NNC\r\n\x1a\n"
HEADER_SIZE = 32
FORMAT_MAJOR = 1
FORMAT_MINOR = 0


def crc32(data):
    """CRC-32 (ISO-HDLC, spec 2) of a bytes-like object."""
    return zlib.crc32(data) & 0xFFFFFFFF


def container_header(directory, payload_length):
    """The 32 header bytes (spec 3.2) of a container with these directory bytes and Payload_Length."""
    header = bytearray(MAGIC)
    header += bytes((FORMAT_MAJOR, FORMAT_MINOR)) + (0).to_bytes(2, "little")
    header += len(directory).to_bytes(4, "little")
    header += payload_length.to_bytes(8, "little")
    header += crc32(directory).to_bytes(4, "little")
    header += crc32(header).to_bytes(4, "little")
    return bytes(header)


def check_header(buf, limits):
    """Validate the header (spec 3.2) and total length (3.1); returns (Directory_Length, Payload_Length)."""
    if len(buf) < HEADER_SIZE:
        raise TruncatedError(f"[R3.1-c] {len(buf)} bytes is shorter than the {HEADER_SIZE}-byte header")
    header = bytes(buf[:HEADER_SIZE])
    if header[:8] != MAGIC:
        raise FormatError(f"[R3.2-a] bad magic: expected {MAGIC.hex(' ')}, found {header[:8].hex(' ')}")
    stored = int.from_bytes(header[28:32], "little")
    if crc32(header[:28]) != stored:
        raise ChecksumError(f"[R3.2-f] header CRC-32 mismatch: stored {stored:08x}, computed {crc32(header[:28]):08x}")
    if header[8] != FORMAT_MAJOR:
        raise UnsupportedVersionError(f"[R3.2-b] Format_Major {header[8]} is not supported (this decoder reads 1)")
    flags = int.from_bytes(header[10:12], "little")
    if flags:
        raise FormatError(f"[R3.2-c] reserved header flags set: {flags:#06x}")
    dir_len = int.from_bytes(header[12:16], "little")
    payload_len = int.from_bytes(header[16:24], "little")
    if dir_len < 2:
        raise FormatError(f"[R3.2-d] Directory_Length {dir_len} < 2")
    limits.check("max_directory_bytes", dir_len)
    total = HEADER_SIZE + dir_len + payload_len
    limits.check("max_input_bytes", total)
    if len(buf) < total:
        raise TruncatedError(f"[R3.1-c] the header declares {total} bytes, {len(buf)} are present")
    if len(buf) > total:
        raise TrailingDataError(f"[R3.1-d] {len(buf) - total} bytes after the container's end at {total}")
    return dir_len, payload_len
