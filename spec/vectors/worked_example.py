"""Annotated hex dumps for spec/worked-example.md (called by make_vectors.py; tests check the hex, see
``tests/test_vectors.py::test_worked_example_matches_vectors``).

``dump(blob)`` walks a container whose tensors are chain nodes and labels every field with its spec name. Each
dump line is ``0xOFFS  HEX BYTES  label``; reading the hex of all lines in order gives the file back.
"""

import re
import zlib

import numpy as np

DTYPES = {1: "bool", 2: "int8", 3: "uint8", 4: "int16", 5: "uint16", 6: "int32", 7: "uint32", 8: "int64",
          9: "uint64", 10: "float16", 11: "bfloat16", 12: "float32", 13: "float64"}
CODINGS = {0: "raw", 1: "zstd", 2: "huffman", 3: "cabac", 4: "zstd-shuffle"}
STAGES = {1: "dense"}
WIDTH = 16
VECTORS = ("001-empty", "030-worked-example")


class _Dump:
    """A cursor over the container that records (offset, bytes, label) rows."""

    def __init__(self, blob):
        self.blob, self.pos, self.rows = blob, 0, []

    def field(self, size, label):
        data = self.blob[self.pos:self.pos + size]
        assert len(data) == size, "the dump ran past the end of the vector"
        for start in range(0, max(size, 1), WIDTH):
            piece = data[start:start + WIDTH]
            if piece or not size:
                self.rows.append((self.pos + start, piece, label if start == 0 else "  ..."))
        self.pos += size
        return data

    def u(self, size, label, show=lambda v: str(v)):
        value = int.from_bytes(self.blob[self.pos:self.pos + size], "little")
        self.field(size, label.format(value=show(value)))
        return value

    def varint(self, label):
        value, size = 0, 0
        while True:
            byte = self.blob[self.pos + size]
            value |= (byte & 0x7F) << (7 * size)
            size += 1
            if not byte & 0x80:
                break
        self.field(size, f"{label} = {value} (varint)")
        return value

    def str(self, label):
        n = self.varint(f"{label} length")
        text = self.blob[self.pos:self.pos + n].decode("utf-8")
        if n:
            self.field(n, f"{label} = {text!r} (UTF-8)")
        return text

    def render(self):
        lines = []
        for offset, data, label in self.rows:
            lines.append(f"0x{offset:04x}  {data.hex(' ').upper():<{3 * WIDTH - 1}}  {label}")
        return "\n".join(lines)


def dump(blob):
    """The annotated dump of ``blob`` (tensors must be chain nodes)."""
    d = _Dump(blob)
    d.field(8, "Magic (89 'N' 'N' 'C' CR LF SUB LF)")
    d.u(1, "Format_Major = {value}")
    d.u(1, "Format_Minor = {value}")
    d.u(2, "Header_Flags = {value}")
    dir_len = d.u(4, "Directory_Length = {value}")
    d.u(8, "Payload_Length = {value}")
    dir_crc = d.u(4, "Directory_CRC32 = {value}", lambda v: f"0x{v:08X}")
    d.u(4, "Header_CRC32 = {value} = CRC-32 of bytes 0..27", lambda v: f"0x{v:08X}")
    assert dir_crc == zlib.crc32(blob[32:32 + dir_len])
    for i in range(d.varint("Metadata_Count")):
        d.str(f"Metadata_Entry[{i}].Key")
        d.str(f"Metadata_Entry[{i}].Value")
    streams = []
    for t in range(d.varint("Tensor_Count")):
        name = d.str(f"Tensor_Record[{t}].Name")
        d.u(1, "  Dtype = {value}", lambda v: f"{v} ({DTYPES[v]})")
        for k in range(d.u(1, "  Ndim = {value}")):
            d.varint(f"  Shape[{k}]")
        assert d.u(1, "  Node_Type = {value}", lambda v: f"{v} (chain)") == 0, "the dump shows chains only"
        for s in range(d.varint("  Stream_Count")):
            coding = d.u(1, f"    Stream_Descriptor[{s}].Coding = {{value}}", lambda v: f"{v} ({CODINGS[v]})")
            elem = d.u(1, "    Elem_Type = {value}", lambda v: f"{v} ({DTYPES[v]})")
            align = d.u(1, "    Align_Log2 = {value}", lambda v: f"{v} (align {1 << v})")
            count = d.varint("    Element_Count")
            length = d.varint("    Stored_Length")
            crc = d.u(4, "    Stream_CRC32 = {value}", lambda v: f"0x{v:08X}")
            streams.append((name, coding, elem, align, count, length, crc))
        for s in range(d.varint("  Stage_Count")):
            d.u(1, f"    Stage[{s}].Stage_Id = {{value}}", lambda v: f"{v} ({STAGES.get(v, '?')})")
            n = d.varint("    Params length")
            if n:
                d.field(n, "    Params")
    assert d.pos == 32 + dir_len
    for name, coding, elem, align, count, length, crc in streams:
        pad = -d.pos % (1 << align)
        if pad:
            d.field(pad, f"padding: {pad} zero bytes to offset {d.pos + pad} (2^{align})")
        start = d.pos
        if coding in (1, 4):
            _zstd_frame(d, name, start + length)
        else:
            d.field(length, f"stream of {name!r}: {CODINGS[coding]}, {count} x {DTYPES[elem]}")
        assert d.pos == start + length and zlib.crc32(blob[start:d.pos]) == crc
    assert d.pos == len(blob)
    return d.render()


def _zstd_frame(d, name, end):
    """Label one Zstandard frame (RFC 8878 section 3.1.1) ending at ``end``."""
    d.field(4, f"stream of {name!r}: zstd Magic_Number")
    fhd = d.u(1, "  Frame_Header_Descriptor = {value}", lambda v: f"0x{v:02X}")
    single, fcs_flag, dict_flag, checksum = fhd >> 5 & 1, fhd >> 6, fhd & 3, fhd >> 2 & 1
    if not single:
        d.u(1, "  Window_Descriptor = {value}", lambda v: f"0x{v:02X}")
    if dict_flag:
        d.u((0, 1, 2, 4)[dict_flag], "  Dictionary_ID = {value}")
    fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if fcs_size:
        d.u(fcs_size, "  Frame_Content_Size = {value}", lambda v: str(v + 256 if fcs_size == 2 else v))
    last = 0
    while not last and d.pos < end:
        header = d.u(3, "  Block_Header = {value}",
                     lambda v: f"0x{v:06X}: Last_Block {v & 1}, Block_Type {v >> 1 & 3}, Block_Size {v >> 3}")
        last, block_type, size = header & 1, header >> 1 & 3, header >> 3
        d.field(1 if block_type == 1 else size, "  Block_Content")
    if checksum:
        d.field(4, "  Content_Checksum")


_MARKER = re.compile(r"<!-- vector: (\S+) -->\n```text\n(.*?)\n```", re.S)
_ROW = re.compile(r"0x([0-9a-f]{4})  ((?:[0-9A-F]{2} )*[0-9A-F]{2})(?:  |$)")


def dumped_vectors(markdown):
    """``{vector file: bytes}`` read back from the dumps in ``markdown``; raises ValueError on a bad row."""
    found = {}
    for file, block in _MARKER.findall(markdown):
        data = bytearray()
        for line in block.splitlines():
            row = _ROW.match(line)
            if not row or int(row.group(1), 16) != len(data):
                raise ValueError(f"{file}: bad dump row (or wrong offset): {line!r}")
            data += bytes.fromhex(row.group(2))
        found[file] = bytes(data)
    return found


def _values(blob, name):
    import nncodec
    return np.asarray(nncodec.decode(blob)[name])


def render(blobs):
    """The whole worked-example.md, with the dumps of ``blobs["001-empty"]`` and ``blobs["030-worked-example"]``."""
    empty, example = (blobs[v] for v in VECTORS)
    w, q = _values(example, "w"), _values(example, "q")
    return TEMPLATE.format(empty_len=len(empty), empty_dump=dump(empty), example_len=len(example),
                           example_dump=dump(example), w=w.tolist(), q=q.tolist())


TEMPLATE = """# nncodec worked example

Section 10 of [nncodec-format.md](nncodec-format.md). Generated by `spec/vectors/make_vectors.py` from the golden
vectors it names; `tests/test_vectors.py` checks that the hex below is byte for byte the vector files, so this
page cannot drift from them. Each line is `offset  bytes  field`: offsets are hexadecimal from the first byte of
the container, bytes are as stored (multi-byte integers little-endian), fields carry their spec names (sections 3
to 5) and decoded values. `...` continues the field above.

## 10.1 The smallest valid container

`spec/vectors/valid/001-empty.nnc`, {empty_len} bytes: `nncodec.encode({{}})`. No metadata, no tensors, so the
directory is two zero varints (Directory_Length = 2, the smallest allowed `[R3.2-d]`) and the payload is empty.

<!-- vector: valid/001-empty.nnc -->
```text
{empty_dump}
```

Directory_CRC32 is the CRC-32 of the two directory bytes `00 00`; Header_CRC32 is the CRC-32 of bytes 0x00..0x1b
(the 28 bytes before it). Changing any byte breaks one of the two checks; removing or appending one breaks
the length rule of 3.1 (vectors `invalid/106`..`108`, `113`, `114`).

## 10.2 A raw float32 tensor and a zstd int8 tensor

`spec/vectors/valid/030-worked-example.nnc`, {example_len} bytes:

```python
nncodec.encode({{"w": np.array([[1.0, -2.0, 0.5], [0.0, 3.25, -1.0]], dtype=np.float32),
                "q": np.array([0, 0, 0, 0, 1, 1, -1, 0], dtype=np.int8)}},
               entropy={{"q": "zstd"}}, zstd_level=19)
```

decodes to `w` = {w} and `q` = {q}.

<!-- vector: valid/030-worked-example.nnc -->
```text
{example_dump}
```

Reading it as a decoder does (section 3.4): the directory ends at 32 + Directory_Length. `w`'s stream has
Align_Log2 = 6, so it starts at the next multiple of 64 after the directory; the zero bytes in between are
padding and must be zero `[R3.4-a]`. Its 24 stored bytes are the six float32 elements in C order, little-endian
(`00 00 80 3F` is 1.0). `q`'s stream has Align_Log2 = 0 and starts right after: one Zstandard frame
(magic `28 B5 2F FD`) whose Frame_Content_Size is 8 = Element_Count x 1 byte `[R5.2-b]`. Payload_Length runs
from the end of the directory to the end of the last stream `[R3.4-b]`. Each Stream_CRC32 is the CRC-32 of the
stream's stored bytes only (not of its padding), e.g. `zlib.crc32(bytes.fromhex("0000803f..."))`.

The zstd bytes depend on the libzstd version that wrote them (manifest.toml records it); any decoder must read
them, and nncodec's encoder reproduces them with that version.
"""
