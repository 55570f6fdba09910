"""Containers inside larger files (spec 3.9): at a known offset, or appended to a host file and found through
the 24-byte trailer at its end. Also finds an uncompressed member of a zip archive (wheels, APKs, .npz-like
bundles), so it can be memory-mapped in place.
"""

import os

from .format.header import HEADER_SIZE, MAGIC, crc32
from .errors import ChecksumError, FormatError, NNCodecError, TruncatedError

__all__ = ["TRAILER_MAGIC", "TRAILER_SIZE", "trailer", "locate", "append_container", "zip_member_span"]

TRAILER_MAGIC = b"\x89NNCEND\n"
TRAILER_SIZE = 24
HOST_ALIGNMENT = 64  # an appended container starts on this boundary of its host, so raw streams stay aligned


def trailer(container_length):
    """The trailer (spec 3.9) that follows a container of ``container_length`` bytes appended to a host file."""
    head = TRAILER_MAGIC + container_length.to_bytes(8, "little") + bytes(4)
    return head + crc32(head).to_bytes(4, "little")


def _declared_length(view):
    """32 + Directory_Length + Payload_Length from a header, or None when fewer than 32 bytes are present."""
    if len(view) < HEADER_SIZE:
        return None
    return HEADER_SIZE + int.from_bytes(view[12:16], "little") + int.from_bytes(view[16:24], "little")


def _from_trailer(view):
    # §3.9: Trailer_Magic identified the trailer; then Trailer_CRC32, Reserved, Container_Length, in this order
    tail = bytes(view[-TRAILER_SIZE:])
    stored = int.from_bytes(tail[20:24], "little")
    if crc32(tail[:20]) != stored:
        raise ChecksumError(f"[R3.9-a] trailer CRC-32 mismatch: stored {stored:08x}, computed {crc32(tail[:20]):08x}")
    if any(tail[16:20]):
        raise FormatError(f"[R3.9-b] trailer Reserved bytes are not zero: {tail[16:20].hex(' ')}")
    length = int.from_bytes(tail[8:16], "little")
    room = len(view) - TRAILER_SIZE
    if length > room:
        raise TruncatedError(f"[R3.9-c] the trailer declares a {length}-byte container, only {room} bytes precede it")
    return view[room - length:room]


def locate(buffer, offset=None):
    """The container's bytes (a memoryview) inside ``buffer`` (spec 3.9).

    With ``offset``: the container starting there, as long as its header declares (the bytes after it belong to
    the host). Without: the whole buffer if it is exactly one container; else, if it ends with a trailer, the
    container the trailer points to; else the whole buffer (whose checks then report what is wrong).
    On error no view of ``buffer`` is left (not even in the traceback), so a memory map under it can close.
    """
    view = memoryview(buffer).cast("B")
    try:
        return _locate(view, offset)
    except BaseException:
        view.release()
        raise


def _locate(view, offset):
    if offset is not None:
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= len(view):
            raise TruncatedError(f"[R3.1-c] offset {offset!r} is outside the {len(view)}-byte input")
        view = view[offset:]
        declared = _declared_length(view)
        return view if declared is None or declared > len(view) else view[:declared]
    if bytes(view[:8]) == MAGIC and _declared_length(view) == len(view):
        return view
    if len(view) >= TRAILER_SIZE and bytes(view[-TRAILER_SIZE:-TRAILER_SIZE + 8]) == TRAILER_MAGIC:
        return _from_trailer(view)
    return view


def append_container(path, blob):
    """Append container bytes ``blob`` to the host file ``path`` (zero padding to a 64-byte boundary, the
    container, its trailer); returns the container's offset in the host."""
    with open(path, "ab") as f:
        size = f.seek(0, os.SEEK_END)
        pad = -size % HOST_ALIGNMENT
        f.write(bytes(pad))
        f.write(blob)
        f.write(trailer(len(blob)))
    return size + pad


def zip_member_span(path, member):
    """(offset, length) of ``member``'s bytes inside the zip archive ``path``; the member must be stored
    uncompressed (ZIP_STORED), else NNCodecError."""
    import zipfile  # here, not at the top: reading a container's directory (nncodec info) does not need it
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
    except zipfile.BadZipFile as exc:
        raise NNCodecError(f"{path}: not a zip archive: {exc}") from None
    except KeyError:
        raise NNCodecError(f"{path}: no member {member!r}") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise NNCodecError(f"{path}: member {member!r} is compressed; store it (ZIP_STORED) to map it in place")
    with open(path, "rb") as f:  # the local file header: 30 fixed bytes, then the name and the extra field
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise NNCodecError(f"{path}: bad local header for member {member!r}")
        start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    return start, info.file_size
