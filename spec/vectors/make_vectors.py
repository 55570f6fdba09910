"""Generate the golden vectors of spec/vectors/ (run by hand: ``python spec/vectors/make_vectors.py``).

Deterministic: the same nncodec, NumPy and libzstd give the same bytes. Writes ``valid/NNN-name.nnc`` with the
expected arrays in ``valid/NNN-name.npz`` (``np.savez``, no pickle; bfloat16 stored as uint16),
``invalid/NNN-name.nnc``, ``manifest.toml`` and ``../worked-example.md``. Tests only read what this writes.

Valid vectors come from ``nncodec.encode`` (their encode options are recorded, so tests can re-encode them) or,
for what the encoder does not emit, from ``nncodec.format.records`` + ``nncodec.decoder.container.write_container``. Each
invalid vector breaks exactly one rule of spec section 7; after a field is corrupted the CRCs that cover it
are recomputed, so the vector trips that rule and not a checksum (except for the checksum rules themselves).

Numbering: 001-099 valid (040-041 aliases, 3.5.4; 060-069 the huffman and cabac codings; 070-079 factored weights,
3.5.3; 080-089 dq machines of 8 to 32 states, 4.5); 101-159 invalid, by rule of sections 2 to 5.4; 160-163 R5.3-*,
164-189 huffman.md and 300-329 cabac.md, a vector per rule of their tables; 190-199 limits (R6; 191-194 the totals
of a call); 200-229 transform stages (4.2 to 4.5);
050-059 valid and 230-249 invalid: sparse layouts (4.6 to 4.9), 280-289 invalid: the rest of cer and cser (every
sub-case of R4.8-a, R4.8-b, R4.9-a); 250-259 invalid: factored weights (3.5.3); 260-269 invalid: aliases (3.5.4);
270-279 invalid: the dq State_Count (R4.5-b); 090-099 valid and 340-379 invalid: float8 dtypes (3.7) and the
float-planes coding (5.5).
"""

import hashlib
import io
import pathlib
import sys
import zipfile

import numpy as np
import zstandard

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import nncodec  # noqa: E402
from nncodec.format.assemble import PendingStream, write_container  # noqa: E402
from nncodec.format.header import HEADER_SIZE, MAGIC, crc32  # noqa: E402
from nncodec.format.dtypes import DTYPE_NAMES, as_array, numpy_dtype  # noqa: E402
from nncodec.stages import coding_by_id  # noqa: E402
from nncodec.format.records import (  # noqa: E402
    CONCAT, PRODUCT, SEPARABLE, SUM, Alias, Chain, Composite, Node, Stage, Stream, TensorRecord, write_varint)
from spec.vectors import worked_example  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent  # spec/vectors
DENSE = Stage(1)
UNIFORM, CODEBOOK, CAST, DQ = 16, 17, 18, 19  # §4 Stage_Id
RAW, ZSTD, HUFFMAN, CABAC, ZSHUFFLE, FPLANES = 0, 1, 2, 3, 4, 5
E4M3, E5M2 = 14, 15  # §3.7 float8 dtype codes
VALID, INVALID = [], []


# -- building blocks ------------------------------------------------------------------------------------------

def chain(dtype, shape, streams, stages=(DENSE,)):
    """A chain node over ``streams``: ``[(coding, elem_type, align_log2, count, stored bytes)]``.

    Returns ``(node, pending)``; the descriptors carry the true lengths and CRCs of the stored bytes.
    """
    descriptors = tuple(Stream(c, t, a, n, len(data), crc32(data)) for c, t, a, n, data in streams)
    pending = [PendingStream(c, t, a, n, data) for c, t, a, n, data in streams]
    return Node(dtype, tuple(shape), Chain(descriptors, tuple(stages))), pending


def dense_raw(array, align_log2=6):
    """A dense chain holding ``array`` raw (spec 4.1, 5.1)."""
    code, values = as_array(array)
    return chain(code, values.shape, [(RAW, code, align_log2, values.size, values.tobytes())])


def composite(dtype, shape, combine, parts):
    """A composite node over ``parts`` (each ``(node, pending)``)."""
    return (Node(dtype, tuple(shape), Composite(combine, tuple(node for node, _ in parts))),
            [p for _, pending in parts for p in pending])


def container(tensors, metadata=()):
    """Container bytes for ``{name: (node, pending)}`` (the library's writer)."""
    return write_container([(TensorRecord(name, node), pending) for name, (node, pending) in tensors.items()],
                           metadata)


def zstd_frame(data, content_size=None, dict_id=None, single_segment=True):
    """A Zstandard frame holding ``data`` in one raw block (RFC 8878 3.1.1), field by field.

    Hand-made so that invalid vectors do not depend on the libzstd version. ``content_size`` (< 256) is written
    as the 1-byte Frame_Content_Size of a single-segment frame; without single_segment there is none.
    """
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out.append((0x20 if single_segment else 0) | (1 if dict_id is not None else 0))
    if not single_segment:
        out.append(0x00)  # Window_Descriptor: 1 KiB
    if dict_id is not None:
        out.append(dict_id)
    if single_segment:
        out.append(len(data) if content_size is None else content_size)
    out += ((len(data) << 3) | 1).to_bytes(3, "little")  # Last_Block, Raw_Block, Block_Size
    return bytes(out + data)


def header_fields(blob):
    """(Directory_Length, Payload_Length) of well-formed container bytes."""
    return int.from_bytes(blob[12:16], "little"), int.from_bytes(blob[16:24], "little")


def patch(blob, offset, new):
    """``blob`` with ``new`` written at ``offset``, then both header CRCs recomputed."""
    data = bytearray(blob)
    data[offset:offset + len(new)] = new
    return refresh_crcs(bytes(data))


def refresh_crcs(blob):
    """Recompute Directory_CRC32 and Header_CRC32 of ``blob`` (as declared by its own Directory_Length)."""
    data = bytearray(blob)
    dir_len = int.from_bytes(data[12:16], "little")
    data[24:28] = crc32(bytes(data[HEADER_SIZE:HEADER_SIZE + dir_len])).to_bytes(4, "little")
    data[28:32] = crc32(bytes(data[:28])).to_bytes(4, "little")
    return bytes(data)


def raw_container(directory, payload=b"", **header):
    """Container bytes around hand-written ``directory`` bytes, with correct lengths and CRCs unless overridden."""
    fields = {"major": 1, "minor": 0, "flags": 0, "dir_len": len(directory), "payload_len": len(payload)}
    fields.update(header)
    head = bytearray(MAGIC)
    head += bytes((fields["major"], fields["minor"])) + fields["flags"].to_bytes(2, "little")
    head += fields["dir_len"].to_bytes(4, "little") + fields["payload_len"].to_bytes(8, "little")
    head += crc32(directory).to_bytes(4, "little")
    head += crc32(bytes(head)).to_bytes(4, "little")
    return bytes(head) + directory + payload


def directory_offset(blob, needle, start=0):
    """Absolute offset of the only occurrence of ``needle`` in the directory of ``blob``."""
    dir_len, _ = header_fields(blob)
    directory = blob[HEADER_SIZE:HEADER_SIZE + dir_len]
    at = directory.find(needle, start)
    assert at >= 0 and directory.find(needle, at + 1) < 0, f"{needle!r} is not unique in the directory"
    return HEADER_SIZE + at


# -- registries -----------------------------------------------------------------------------------------------

def valid(number, name, section, description, **encode_options):
    """Register a valid vector. The function returns ``(blob, {tensor name: expected array})``.

    With ``encode_options`` the vector is ``nncodec.encode(arrays, **options)`` (``single_array=True`` passes
    the one array itself); tests re-encode it. Without, it is built from records.
    """
    def register(func):
        VALID.append(dict(number=number, name=name, section=section, description=description,
                          encode=encode_options or None, make=func))
        return func
    return register


def invalid(number, name, section, rule, error, description):
    """Register an invalid vector breaking ``rule``; the function returns its bytes."""
    def register(func):
        INVALID.append(dict(number=number, name=name, section=section, rule=rule, error=error.__name__,
                            description=description, make=func))
        return func
    return register


def encoded(arrays, single_array=False, **options):
    blob = nncodec.encode(next(iter(arrays.values())) if single_array else arrays, **options)
    return blob, arrays


def bf16(bits):
    return nncodec.BFloat16(np.asarray(bits, dtype=np.uint16))


# -- valid vectors --------------------------------------------------------------------------------------------

@valid(1, "empty", "3.3", "the smallest container: no metadata, no tensors (34 bytes)", compress="none")
def _():
    return encoded({})


_DTYPE_SAMPLES = {
    "bool": np.array([[True, False, True], [False, False, True]]),
    "int8": np.array([-128, -1, 0, 1, 127], dtype=np.int8),
    "uint8": np.array([0, 1, 128, 255], dtype=np.uint8),
    "int16": np.array([[-32768, -1], [0, 32767]], dtype=np.int16),
    "uint16": np.array([0, 1, 0x8000, 0xFFFF], dtype=np.uint16),
    "int32": np.array([-2**31, -1, 0, 2**31 - 1], dtype=np.int32),
    "uint32": np.array([0, 1, 2**31, 2**32 - 1], dtype=np.uint32),
    "int64": np.array([-2**63, -1, 0, 2**63 - 1], dtype=np.int64),
    "uint64": np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64),
    "float16": np.array([0.0, -0.0, 1.5, 65504.0, -np.inf, 6e-8], dtype=np.float16),
    "bfloat16": None,  # bit patterns below: 1.0, -2.0, +inf, a quiet NaN with payload, smallest subnormal
    "float32": np.array([[0.0, -0.0, 1.0], [3.4028235e38, -np.inf, 1e-45]], dtype=np.float32),
    "float64": np.array([np.pi, -0.0, np.inf, 5e-324], dtype=np.float64),
}
_BF16_BITS = [0x3F80, 0xC000, 0x7F80, 0x7FC1, 0x0001]

for _number, (_name, _sample) in enumerate(_DTYPE_SAMPLES.items(), start=2):
    def _make(name=_name, sample=_sample):
        value = bf16(_BF16_BITS) if name == "bfloat16" else sample
        blob = nncodec.encode({name: value})
        return blob, {name: value}
    valid(_number, f"dtype-{_name}", "3.7", f"one raw dense {_name} tensor with edge values", compress="none")(_make)


@valid(15, "float-bit-patterns", "3.7", "NaN payloads, signed zeros and infinities survive bit for bit",
       compress="none")
def _():
    f32 = np.array([0x7FC00001, 0xFFC00000, 0x7F800001, 0x80000000, 0x7F800000], dtype=np.uint32).view(np.float32)
    f64 = np.array([0x7FF8000000000001, 0xFFF0000000000000], dtype=np.uint64).view(np.float64)
    return encoded({"nan32": f32, "nan64": f64})


@valid(16, "scalar-0d", "3.5", "0-d tensors (Ndim 0, one element)", compress="none")
def _():
    return encoded({"scale": np.array(0.5, dtype=np.float32), "step": np.array(7, dtype=np.int64)})


@valid(17, "empty-shapes", "3.5", "tensors with a zero extent: no elements, empty raw streams", compress="none")
def _():
    return encoded({"e1": np.zeros((0,), dtype=np.float32), "e3": np.zeros((3, 0, 2), dtype=np.int16)})


UNICODE_METADATA = {"description": "Gewichte \u2014 \u91cd\u307f \u2713 \U0001f9e0", "": "empty key",
                    "empty value": "", "line\nbreak": "tab\there"}


@valid(18, "metadata-unicode", "3.3", "unicode metadata and tensor names, an empty key and value",
       compress="none", metadata=UNICODE_METADATA)
def _():
    return encoded({"schicht.gewicht/\u00fc": np.array([1, 2, 3], dtype=np.int8)}, metadata=UNICODE_METADATA)


@valid(19, "zstd", "5.2", "zstd-coded tensors (level 19): float32, bool, int64", compress="zstd", entropy="zstd",
       zstd_level=19)
def _():
    arrays = {"w": (np.arange(64, dtype=np.float32).reshape(8, 8) / 8).astype(np.float32),
              "mask": np.arange(40).reshape(5, 8) % 3 == 0,
              "ids": np.repeat(np.arange(4, dtype=np.int64), 6)}
    return encoded(arrays, compress="zstd", entropy="zstd", zstd_level=19)


@valid(20, "single-array", "3.3", "a single array (nncodec.single_array metadata, empty tensor name)",
       compress="none", single_array=True)
def _():
    return encoded({"": np.arange(6, dtype=np.int32).reshape(2, 3)}, single_array=True)


@valid(21, "concat", "3.5.2", "a concat composite: a (10, 4) float32 split into 5 chunks of 2 rows",
       compress="none", chunk_elements=8)
def _():
    return encoded({"chunked": np.arange(40, dtype=np.float32).reshape(10, 4) - 20}, chunk_elements=8)


@valid(22, "concat-zstd", "3.5.2", "a concat composite of zstd chunks (uneven last chunk)",
       entropy="zstd", chunk_elements=12, zstd_level=19, no_larger_than_raw=False)
def _():
    return encoded({"chunked": np.arange(35, dtype=np.int16).reshape(7, 5)}, entropy="zstd", chunk_elements=12,
                   zstd_level=19, no_larger_than_raw=False)


@valid(23, "sum", "3.5.2", "a sum composite of two raw float32 parts (exact dyadic values)")
def _():
    a = np.array([[1.5, -2.0, 0.25], [4.0, 0.0, -0.5]], dtype=np.float32)
    b = np.array([[0.5, 2.0, 0.25], [-1.0, 8.0, 0.125]], dtype=np.float32)
    node = composite(12, (2, 3), SUM, [dense_raw(a), dense_raw(b)])
    return container({"summed": node}), {"summed": (a + b).astype(np.float32)}


@valid(24, "product", "3.5.2", "a product composite: (4, 2) @ (2, 3) small integers, reshaped to (2, 6)")
def _():
    left = np.array([[1, 2], [0, -1], [3, 1], [2, 2]], dtype=np.float32)
    right = np.array([[1, 0, -2], [4, 1, 0.5]], dtype=np.float32)
    node = composite(12, (2, 6), PRODUCT, [dense_raw(left), dense_raw(right)])
    expected = (left.astype(np.float64) @ right.astype(np.float64)).astype(np.float32).reshape(2, 6)
    return container({"low_rank": node}), {"low_rank": expected}


@valid(25, "raw-alignment", "3.4", "raw streams of odd sizes: zero padding up to each 64-byte boundary",
       compress="none")
def _():
    return encoded({"u8": np.arange(3, dtype=np.uint8), "f64": np.linspace(-1, 1, 5),
                    "i16": np.arange(-3, 4, dtype=np.int16)})


@valid(26, "align-log2-mixed", "3.4", "raw streams at Align_Log2 0, 3 and 9 (decoders accept any alignment)")
def _():
    a = np.array([1, 2, 3], dtype=np.uint8)
    b = np.array([1.0, -1.0], dtype=np.float64)
    c = np.array([7, 8, 9, 10, 11], dtype=np.int16)
    nodes = {"a0": dense_raw(a, 0), "b3": dense_raw(b, 3), "c9": dense_raw(c, 9)}
    return container(nodes), {"a0": a, "b3": b, "c9": c}


@valid(27, "nested-depth-8", "3.5", "nodes nested exactly 8 deep (single-child concats around a chain)")
def _():
    values = np.array([[1, 2], [3, 4]], dtype=np.int32)
    node = dense_raw(values)
    for _ in range(7):
        node = composite(6, (2, 2), CONCAT, [node])
    return container({"deep": node}), {"deep": values}


@valid(28, "nested-mixed", "3.5.2", "a concat whose first part is a sum and second a product")
def _():
    a = np.array([[1.0, 2.0, 3.0]], dtype=np.float64)
    b = np.array([[0.5, 0.5, 0.5]], dtype=np.float64)
    left = np.array([[2.0], [-1.0]], dtype=np.float64)
    right = np.array([[1.0, 0.0, 4.0]], dtype=np.float64)
    node = composite(13, (3, 3), CONCAT, [composite(13, (1, 3), SUM, [dense_raw(a), dense_raw(b)]),
                                          composite(13, (2, 3), PRODUCT, [dense_raw(left), dense_raw(right)])])
    expected = np.concatenate([a + b, left @ right], axis=0)
    return container({"mixed": node}, (("note", "nested composites"),)), {"mixed": expected}


@valid(29, "ndim-32", "3.5", "Ndim 32, the largest allowed, one element", compress="none")
def _():
    return encoded({"many_axes": np.full((1,) * 32, 42, dtype=np.uint8)})


@valid(30, "worked-example", "10", "one raw float32 tensor (with padding) and one zstd int8 tensor",
       entropy={"q": "zstd"}, zstd_level=19, no_larger_than_raw=False)
def _():
    arrays = {"w": np.array([[1.0, -2.0, 0.5], [0.0, 3.25, -1.0]], dtype=np.float32),
              "q": np.array([0, 0, 0, 0, 1, 1, -1, 0], dtype=np.int8)}
    return encoded(arrays, entropy={"q": "zstd"}, zstd_level=19, no_larger_than_raw=False)


@valid(31, "zstd-shuffle", "5.4", "zstd-shuffle (byte planes) float32 and float16 tensors",
       compress="zstd-shuffle", zstd_level=19, no_larger_than_raw=False)
def _():
    arrays = {"w32": np.linspace(-1, 1, 48, dtype=np.float32).reshape(6, 8),
              "w16": np.linspace(0, 4, 20).astype(np.float16)}
    return encoded(arrays, compress="zstd-shuffle", zstd_level=19, no_larger_than_raw=False)


@valid(32, "sum-bfloat16", "3.5.2", "a sum composite in bfloat16 (exact: 1 + 0.5, 2 + 0.25, -0.5 + 4)")
def _():
    def bits(values):
        return (np.array(values, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)

    a, b = bits([1.0, 2.0, -0.5]), bits([0.5, 0.25, 4.0])
    node = composite(11, (3,), SUM, [dense_raw(bf16(a)), dense_raw(bf16(b))])
    return container({"bf": node}), {"bf": bf16(bits([1.5, 2.25, 3.5]))}


# -- transform stages (section 4.2 to 4.4); params packed field by field from the spec's tables ----------------

def uniform_params(out_type, steps, axis=255):
    """§4.2 params: Out_Type, Axis, Step_Count, Steps (float32le)."""
    steps = np.asarray(steps, dtype="<f4")
    out = bytearray((out_type, axis))
    write_varint(out, steps.size)
    return bytes(out) + steps.tobytes()


def codebook_params(out_type, entries):
    """§4.3 params: Out_Type, Entry_Count, Entries (float32le)."""
    entries = np.asarray(entries, dtype="<f4")
    out = bytearray((out_type,))
    write_varint(out, entries.size)
    return bytes(out) + entries.tobytes()


def levels_chain(node_dtype, levels, *transforms):
    """A chain: dense over raw ``levels`` (their own dtype), then the ``transforms`` (Stage objects)."""
    code, values = as_array(levels)
    return chain(node_dtype, values.shape, [(RAW, code, 6, values.size, values.tobytes())],
                 (DENSE,) + tuple(transforms))


LEVELS = np.array([[-3, 0, 1], [2, -1, 4]], dtype=np.int8)


@valid(33, "uniform-per-tensor", "4.2", "int8 levels x one float32 step 0.25, Out_Type float32")
def _():
    node = levels_chain(12, LEVELS, Stage(UNIFORM, uniform_params(12, [0.25])))
    return container({"q": node}), {"q": (LEVELS * np.float32(0.25)).astype(np.float32)}


@valid(34, "uniform-per-channel", "4.2", "int16 levels x a step per row (Axis 0), Out_Type float16")
def _():
    levels = np.array([[1, -2, 3], [100, 0, -100]], dtype=np.int16)
    steps = np.array([0.5, 0.125], dtype=np.float32)
    node = levels_chain(10, levels, Stage(UNIFORM, uniform_params(10, steps, axis=0)))
    expected = (levels.astype(np.float64) * steps.astype(np.float64)[:, None]).astype(np.float16)
    return container({"q": node}), {"q": expected}


@valid(35, "codebook", "4.3", "uint8 indices into 4 float32 entries, Out_Type float64")
def _():
    indices = np.array([0, 3, 3, 1, 2, 0, 1], dtype=np.uint8)
    entries = np.array([-1.5, 0.0, 0.75, 1e-3], dtype=np.float32)
    node = levels_chain(13, indices, Stage(CODEBOOK, codebook_params(13, entries)))
    return container({"shared": node}), {"shared": entries.astype(np.float64)[indices]}


@valid(36, "cast", "4.4", "float16 and bfloat16 streams widened to float32 and float64")
def _():
    half = np.array([1.5, -0.0, 65504.0, 6e-8], dtype=np.float16)
    brain_bits = np.array([0x3F80, 0xC040, 0x0001], dtype=np.uint16)
    brain_f64 = (brain_bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return (container({"half": levels_chain(12, half, Stage(CAST, bytes((12,)))),
                       "brain": levels_chain(13, bf16(brain_bits), Stage(CAST, bytes((13,))))}),
            {"half": half.astype(np.float32), "brain": brain_f64})


@valid(37, "codebook-then-cast", "4", "a three-stage chain: dense, codebook to float16, cast to float32")
def _():
    indices = np.array([[2, 0], [1, 2]], dtype=np.uint16)
    entries = np.array([0.5, -2.0, 1024.0], dtype=np.float32)
    node = levels_chain(12, indices, Stage(CODEBOOK, codebook_params(10, entries)), Stage(CAST, bytes((12,))))
    return container({"w": node}), {"w": entries[indices].astype(np.float16).astype(np.float32)}


def dependent_dequant(levels, step):
    """§4.5 reconstruction, written from the spec's state machine (one step for the whole tensor)."""
    transition = [[0, 2], [2, 0], [1, 3], [3, 1]]
    state, out = 0, []
    for k in np.asarray(levels).reshape(-1).tolist():
        sign = (k > 0) - (k < 0)
        m = 2 * k if state < 2 else 2 * k - sign
        out.append(float(m) * float(step))
        state = transition[state][abs(k) & 1]
    return np.array(out, dtype=np.float64).reshape(np.shape(levels))


@valid(38, "dq", "4.5", "dependent dequantization of int8 levels, one step 0.125, Out_Type float32")
def _():
    levels = np.array([[1, -1, 0, 2], [3, -2, 1, 1]], dtype=np.int8)
    node = levels_chain(12, levels, Stage(DQ, uniform_params(12, [0.125])))
    return container({"dq": node}), {"dq": dependent_dequant(levels, 0.125).astype(np.float32)}


def bfloat16_rounded_once(values):
    """§4 round_Out for bfloat16, written from the spec's definition in exact rational arithmetic: each binary64
    value to the nearest bfloat16 (8 significant bits, subnormal grid 2^-133), ties to even, infinity from
    (2 - 2^-8) * 2^127 up. Returns the bit patterns (finite params give no NaN)."""
    from fractions import Fraction
    out = []
    for x in np.asarray(values, dtype=np.float64).reshape(-1).tolist():
        sign = 0x8000 if np.signbit(x) else 0
        magnitude = Fraction(abs(x))
        if magnitude == 0:
            out.append(sign)
            continue
        quantum = Fraction(2) ** max(int(np.frexp(abs(x))[1]) - 8, -133)
        n, rest = divmod(magnitude, quantum)
        n += 1 if rest * 2 > quantum or (rest * 2 == quantum and n % 2) else 0
        rounded = n * quantum
        bits = 0x7F80 if rounded >= Fraction(2) ** 128 else int(np.float32(rounded).view(np.uint32)) >> 16
        out.append(sign | bits)
    return np.array(out, dtype=np.uint16).reshape(np.shape(values))


ABOVE_TIE = 2 ** 30 + 2 ** 22 + 1  # x 2^-30 = 1 + 2^-8 + 2^-30: bfloat16 1 + 2^-7 (via float32 twice: 1.0)
BELOW_OVERFLOW = 2 ** 41 - 2 ** 32 - 1  # x 2^87 = (2 - 2^-8) * 2^127 - 2^87: the largest finite (twice: inf)


@valid(42, "bfloat16-out", "4", "uniform (Axis 0) and dq with Out_Type bfloat16, rounded once from binary64: "
       "values just above a tie and just below the overflow threshold, that rounding via float32 gets wrong")
def _():
    levels = np.array([[ABOVE_TIE, -ABOVE_TIE, 2 ** 30 + 2 ** 22, 2 ** 30 + 3 * 2 ** 22],
                       [BELOW_OVERFLOW, 2 ** 41 - 2 ** 32, 2 ** 41 - 2 ** 33, 0],
                       [0, 1, 3, 7]], dtype=np.int64)
    steps = np.array([2.0 ** -30, 2.0 ** 87, -0.5], dtype=np.float32)
    uniform = levels_chain(11, levels, Stage(UNIFORM, uniform_params(11, steps, axis=0)))
    dq_levels = np.array([ABOVE_TIE, -3, 5, ABOVE_TIE, 0, 2], dtype=np.int32)
    dq = levels_chain(11, dq_levels, Stage(DQ, uniform_params(11, [2.0 ** -31])))
    exact = levels.astype(np.float64) * steps.astype(np.float64)[:, None]
    return (container({"uniform": uniform, "dq": dq}),
            {"uniform": bf16(bfloat16_rounded_once(exact)),
             "dq": bf16(bfloat16_rounded_once(dependent_dequant(dq_levels, 2.0 ** -31)))})


# -- dq machines of 8, 16 and 32 states (4.5, State_Count): valid 080-084, invalid 270-279 --------------------------

DQ_FEEDBACK = {8: (0o13 >> 1, 0o04 >> 1), 16: (0o23 >> 1, 0o10 >> 1), 32: (0o45 >> 1, 0o10 >> 1)}  # §4.5 (H0, H1)
DQ_STATE_LEVELS = np.array([[1, -1, 0, 2, 3, -3], [1, 1, -2, 5, 0, -1], [2, 7, -1, 1, 1, 0]], dtype=np.int8)


def dependent_dequant_states(levels, step, states):
    """§4.5 reconstruction with the machine of ``states`` = 2^v states, written from the spec's feedback rule."""
    h0, h1 = DQ_FEEDBACK[states]
    state, out = 0, []
    for k in np.asarray(levels).reshape(-1).tolist():
        sign = (k > 0) - (k < 0)
        m = 2 * k - sign if state & 1 else 2 * k
        out.append(float(m) * float(step))
        state = (state >> 1) ^ (h0 if state & 1 else 0) ^ (h1 if abs(k) & 1 else 0)
    return np.array(out, dtype=np.float64).reshape(np.shape(levels))


def _dq_states(states, out_code=12):
    params = uniform_params(out_code, [0.25]) + bytes((states,))
    return levels_chain(out_code, DQ_STATE_LEVELS, Stage(DQ, params))


@valid(80, "dq-8-states", "4.5", "dq with State_Count 8: int8 levels, one step 0.25, Out_Type float32")
def _():
    return container({"dq8": _dq_states(8)}), {
        "dq8": dependent_dequant_states(DQ_STATE_LEVELS, 0.25, 8).astype(np.float32)}


@valid(81, "dq-16-states", "4.5", "dq with State_Count 16: int8 levels, one step 0.25, Out_Type float32")
def _():
    return container({"dq16": _dq_states(16)}), {
        "dq16": dependent_dequant_states(DQ_STATE_LEVELS, 0.25, 16).astype(np.float32)}


@valid(82, "dq-32-states", "4.5", "dq with State_Count 32: int8 levels, one step 0.25, Out_Type float32")
def _():
    return container({"dq32": _dq_states(32)}), {
        "dq32": dependent_dequant_states(DQ_STATE_LEVELS, 0.25, 32).astype(np.float32)}


@invalid(270, "dq-state-count-4", "4.5", "R4.5-b", nncodec.FormatError,
         "dq State_Count 4 written out (the four-state machine is written without it)")
def _():
    return container({"dq": _dq_states(4)})


@invalid(271, "dq-state-count-64", "4.5", "R4.5-b", nncodec.FormatError, "dq State_Count 64")
def _():
    return container({"dq": _dq_states(64)})


# -- factored weights (section 3.5.3) -----------------------------------------------------------------------------

@valid(70, "lowrank-quantized", "3.5.3", "a low-rank conv kernel (2, 2, 1, 2) = U (2, 1) @ V (1, 4), each factor "
       "int8 levels x a float32 step (uniform), in the im2col view")
def _():
    u_levels, v_levels = np.array([[2], [-1]], dtype=np.int8), np.array([[1, 0, -3, 4]], dtype=np.int8)
    u = levels_chain(12, u_levels, Stage(UNIFORM, uniform_params(12, [0.5])))
    v = levels_chain(12, v_levels, Stage(UNIFORM, uniform_params(12, [0.25])))
    node = composite(12, (2, 2, 1, 2), PRODUCT, [u, v])
    expected = ((u_levels * 0.5) @ (v_levels * 0.25)).astype(np.float32).reshape(2, 2, 1, 2)
    return container({"conv": node}), {"conv": expected}


@valid(71, "sparse-plus-lowrank", "3.5.3", "a sum of a sparse part (dense int8 levels, mostly zero, x 0.5) and a "
       "rank-1 product (3, 1) @ (1, 3)")
def _():
    sparse_levels = np.array([[0, 0, 4], [0, 0, 0], [-2, 0, 0]], dtype=np.int8)
    left = np.array([[1.0], [2.0], [-1.0]], dtype=np.float32)
    right = np.array([[0.5, 0.25, -1.0]], dtype=np.float32)
    sparse = levels_chain(12, sparse_levels, Stage(UNIFORM, uniform_params(12, [0.5])))
    node = composite(12, (3, 3), SUM, [sparse, composite(12, (3, 3), PRODUCT, [dense_raw(left), dense_raw(right)])])
    expected = (sparse_levels * np.float32(0.5) + left @ right).astype(np.float32)
    return container({"w": node}), {"w": expected}


def separable_kernel(vertical, horizontal):
    """§3.5.3 W[o, i, y, x] = sum_r H[o, r, 0, x] * G[r, i, y, 0], written from the spec's sum."""
    o_count, r_count, _, kw = horizontal.shape
    _, i_count, kh, _ = vertical.shape
    out = np.zeros((o_count, i_count, kh, kw))
    for o, i, y, x, r in np.ndindex(o_count, i_count, kh, kw, r_count):
        out[o, i, y, x] += float(horizontal[o, r, 0, x]) * float(vertical[r, i, y, 0])
    return out


@valid(72, "separable", "3.5.2", "a separable 3x2 kernel (2, 2, 3, 2): a 3x1 conv G (1, 2, 3, 1) then a 1x2 conv "
       "H (2, 1, 1, 2), stored as C1 (O*KW, R) = (4, 1) and C2 (R, I*KH) = (1, 6)")
def _():
    vertical = np.array([1, -2, 0.5, 3, 1, -1], dtype=np.float32).reshape(1, 2, 3, 1)
    horizontal = np.array([2, -1, 0.25, 4], dtype=np.float32).reshape(2, 1, 1, 2)
    c1 = horizontal[:, :, 0, :].transpose(0, 2, 1).reshape(4, 1)  # C1[o * KW + x, r] = H[o, r, 0, x]
    c2 = vertical.reshape(1, 6)
    node = composite(12, (2, 2, 3, 2), SEPARABLE, [dense_raw(c1), dense_raw(c2)])
    return container({"sep": node}), {"sep": separable_kernel(vertical, horizontal).astype(np.float32)}

def appended(blob, host=b"#!host file: the container follows\n"):
    """§3.9: ``host`` bytes, zero padding to 64, the container ``blob``, its trailer."""
    from nncodec.bundle import trailer
    return host + bytes(-len(host) % 64) + blob + trailer(len(blob))


@valid(39, "appended-trailer", "3.9", "a container appended to a host file, found through the 24-byte trailer")
def _():
    values = np.array([[1.5, -2.0], [0.25, 8.0]], dtype=np.float32)
    return appended(container({"w": dense_raw(values)})), {"w": values}


# -- invalid vectors: section 2 ---------------------------------------------------------------------------------

EMPTY = raw_container(b"\x00\x00")


@invalid(101, "varint-noncanonical", "2", "R2-a", nncodec.FormatError, "Metadata_Count 0 written as 80 00")
def _():
    return raw_container(b"\x80\x00\x00")


@invalid(102, "varint-overlong", "2", "R2-a", nncodec.FormatError, "an 11-byte varint (ten continuation bytes)")
def _():
    return raw_container(b"\x80" * 10 + b"\x01\x00")


@invalid(103, "varint-2pow64", "2", "R2-a", nncodec.FormatError, "a 10-byte varint of value 2^64")
def _():
    return raw_container(b"\x80" * 9 + b"\x02\x00")


@invalid(104, "utf8-invalid", "2", "R2-b", nncodec.FormatError, "a metadata key holding the byte FF")
def _():
    return raw_container(b"\x01\x01\xff\x00\x00")


@invalid(105, "utf8-surrogate", "2", "R2-b", nncodec.FormatError, "a tensor name holding an encoded surrogate")
def _():
    blob = container({"\u00e9\u00e9": dense_raw(np.zeros(1, dtype=np.uint8))})
    return patch(blob, directory_offset(blob, "\u00e9\u00e9".encode()), b"\xed\xa0\x80\x00")


# -- section 3.1 and 3.2 --------------------------------------------------------------------------------------

@invalid(106, "header-truncated", "3.1", "R3.1-c", nncodec.TruncatedError, "31 bytes: shorter than the header")
def _():
    return EMPTY[:31]


@invalid(107, "truncated", "3.1", "R3.1-c", nncodec.TruncatedError, "the smallest container without its last byte")
def _():
    return EMPTY[:-1]


@invalid(108, "trailing-byte", "3.1", "R3.1-d", nncodec.TrailingDataError, "the smallest container plus 00")
def _():
    return EMPTY + b"\x00"


@invalid(109, "bad-magic", "3.2", "R3.2-a", nncodec.FormatError, "magic with CR LF turned into LF LF (text mode)")
def _():
    return patch(EMPTY, 4, b"\n\n")


@invalid(110, "format-major-2", "3.2", "R3.2-b", nncodec.UnsupportedVersionError, "Format_Major 2")
def _():
    return patch(EMPTY, 8, b"\x02")


@invalid(111, "header-flag", "3.2", "R3.2-c", nncodec.FormatError, "reserved Header_Flags bit 0 set")
def _():
    return patch(EMPTY, 10, b"\x01\x00")


@invalid(112, "directory-length-1", "3.2", "R3.2-d", nncodec.FormatError, "Directory_Length 1 (one byte 00)")
def _():
    return raw_container(b"\x00")


@invalid(113, "directory-crc", "3.2", "R3.2-e", nncodec.ChecksumError,
         "Directory_CRC32 with bit 0 flipped (Header_CRC32 recomputed)")
def _():
    data = bytearray(EMPTY)
    data[24] ^= 1
    data[28:32] = crc32(bytes(data[:28])).to_bytes(4, "little")
    return bytes(data)


@invalid(114, "header-crc", "3.2", "R3.2-f", nncodec.ChecksumError, "Header_CRC32 with bit 0 flipped")
def _():
    data = bytearray(EMPTY)
    data[28] ^= 1
    return bytes(data)


# -- section 3.3 ----------------------------------------------------------------------------------------------

@invalid(115, "duplicate-metadata-key", "3.3", "R3.3-a", nncodec.InconsistentError, "metadata key 'k' twice")
def _():
    return container({}, (("k", "1"), ("k", "2")))


@invalid(116, "directory-trailing-byte", "3.3", "R3.3-b", nncodec.FormatError,
         "one byte after the last tensor record")
def _():
    return raw_container(b"\x00\x00\x00")


@invalid(117, "directory-field-truncated", "3.3", "R3.3-b", nncodec.TruncatedError,
         "a tensor name declared 4 bytes long with 2 left in the directory")
def _():
    return raw_container(b"\x00\x01\x04ab")


@invalid(118, "duplicate-tensor-name", "3.3", "R3.3-c", nncodec.InconsistentError, "two tensors named 'w'")
def _():
    one, two = dense_raw(np.array([1], dtype=np.uint8)), dense_raw(np.array([2], dtype=np.uint8))
    return write_container([(TensorRecord("w", one[0]), one[1]), (TensorRecord("w", two[0]), two[1])])


# -- section 3.4 ----------------------------------------------------------------------------------------------

def _padded():
    """A container whose one raw stream follows 20-odd padding bytes; returns (blob, stream offset)."""
    blob = container({"p": dense_raw(np.array([1.0, 2.0], dtype=np.float32))})
    return blob, len(blob) - 8


@invalid(119, "nonzero-padding", "3.4", "R3.4-a", nncodec.FormatError, "the last padding byte before a stream is 01")
def _():
    blob, offset = _padded()
    return blob[:offset - 1] + b"\x01" + blob[offset:]


@invalid(120, "payload-length-long", "3.4", "R3.4-b", nncodec.InconsistentError,
         "Payload_Length one more than the streams need (and one more byte present)")
def _():
    blob, _ = _padded()
    _, payload_len = header_fields(blob)
    return patch(blob + b"\x00", 16, (payload_len + 1).to_bytes(8, "little"))


@invalid(121, "stream-past-end", "3.4", "R3.4-b", nncodec.InconsistentError,
         "Payload_Length one less than the streams need (the stream runs past the container end)")
def _():
    blob, _ = _padded()
    _, payload_len = header_fields(blob)
    return patch(blob[:-1], 16, (payload_len - 1).to_bytes(8, "little"))


# -- section 3.5 ----------------------------------------------------------------------------------------------

def _one_byte_tensor(dtype_code=3, stages=(DENSE,)):
    """A container with one tensor 't' (uint8[1] by default) and its node's offset in the container."""
    blob = container({"t": chain(dtype_code, (1,), [(RAW, dtype_code, 6, 1, b"\x01")], stages)})
    return blob, directory_offset(blob, b"\x01t") + 2


@invalid(122, "node-dtype-0", "3.5", "R3.5-a", nncodec.FormatError, "node Dtype 0")
def _():
    blob, node = _one_byte_tensor()
    return patch(blob, node, b"\x00")


@invalid(123, "node-dtype-16", "3.5", "R3.5-a", nncodec.FormatError, "node Dtype 16 (after float8_e5m2)")
def _():
    blob, node = _one_byte_tensor()
    return patch(blob, node, b"\x10")


@invalid(124, "ndim-33", "3.5", "R3.5-b", nncodec.FormatError, "Ndim 33 (extents all 1)")
def _():
    return container({"t": chain(3, (1,) * 33, [(RAW, 3, 6, 1, b"\x01")])})


@invalid(125, "node-type-3", "3.5", "R3.5-c", nncodec.FormatError, "Node_Type 3")
def _():
    blob, node = _one_byte_tensor()
    return patch(blob, node + 3, b"\x03")  # Dtype, Ndim, Shape[0], then Node_Type


@invalid(126, "depth-9", "3.5", "R3.5-d", nncodec.FormatError, "nodes nested 9 deep")
def _():
    node = dense_raw(np.array([5], dtype=np.uint8))
    for _ in range(8):
        node = composite(3, (1,), CONCAT, [node])
    return container({"deep": node})


@invalid(127, "streams-65", "3.5.1", "R3.5-e", nncodec.FormatError, "a chain with 65 empty raw streams")
def _():
    return container({"t": chain(3, (0,), [(RAW, 3, 0, 0, b"")] * 65)})


@invalid(128, "stages-0", "3.5.1", "R3.5-f", nncodec.FormatError, "Stage_Count 0")
def _():
    return _one_byte_tensor(stages=())[0]


@invalid(129, "stages-17", "3.5.1", "R3.5-f", nncodec.FormatError, "Stage_Count 17")
def _():
    return _one_byte_tensor(stages=(DENSE,) * 17)[0]


@invalid(130, "align-log2-13", "3.5.1", "R3.5-g", nncodec.FormatError, "Align_Log2 13")
def _():
    blob = container({"t": chain(3, (1,), [(RAW, 3, 0, 1, b"\x01")])})
    return patch(blob, directory_offset(blob, bytes((RAW, 3, 0, 1, 1))) + 2, b"\x0d")


@invalid(131, "stream-crc", "3.5.1", "R3.5-h", nncodec.ChecksumError, "a stored byte changed after the CRC was taken")
def _():
    blob, offset = _padded()
    return blob[:offset] + b"\xff" + blob[offset + 1:]


@invalid(132, "children-0", "3.5.2", "R3.5-j", nncodec.FormatError, "a composite with Child_Count 0")
def _():
    return container({"c": composite(3, (0,), CONCAT, [])})


@invalid(133, "children-4097", "3.5.2", "R3.5-j", nncodec.FormatError,
         "a concat of 4097 empty chunks (Child_Count 4097)")
def _():
    return container({"c": composite(3, (0,), CONCAT, [chain(3, (0,), [(RAW, 3, 0, 0, b"")])] * 4097)})


@invalid(134, "concat-extents", "3.5.2", "R3.5-k", nncodec.InconsistentError,
         "concat parts of 2 and 2 rows under a node of 5 rows")
def _():
    part = dense_raw(np.ones((2, 3), dtype=np.float32))
    return container({"c": composite(12, (5, 3), CONCAT, [part, part])})


@invalid(135, "combine-unknown", "3.5.2", "R3.5-k", nncodec.UnsupportedFeatureError, "Combine 255")
def _():
    part = dense_raw(np.ones((2, 3), dtype=np.float32))
    return container({"c": composite(12, (2, 3), 255, [part, part])})


@invalid(136, "sum-integer", "3.5.2", "R3.5-k", nncodec.InconsistentError, "a sum composite of int32 parts")
def _():
    part = dense_raw(np.ones((2, 2), dtype=np.int32))
    return container({"c": composite(6, (2, 2), SUM, [part, part])})


@invalid(137, "product-inner", "3.5.2", "R3.5-k", nncodec.InconsistentError,
         "a product of (2, 3) and (2, 3) factors (inner extents differ)")
def _():
    part = dense_raw(np.ones((2, 3), dtype=np.float32))
    return container({"c": composite(12, (2, 3), PRODUCT, [part, part])})


# -- sections 3.7, 3.8 ----------------------------------------------------------------------------------------

@invalid(138, "bool-byte-raw", "3.7", "R3.7-a", nncodec.InconsistentError, "a raw bool stream holding 02")
def _():
    return container({"b": chain(1, (3,), [(RAW, 1, 6, 3, b"\x00\x01\x02")])})


@invalid(139, "bool-byte-zstd", "3.7", "R3.7-a", nncodec.InconsistentError, "a zstd bool stream decoding to 02")
def _():
    return container({"b": chain(1, (3,), [(ZSTD, 1, 0, 3, zstd_frame(b"\x00\x01\x02"))])})


@invalid(140, "elem-type-0", "3.7", "R3.7-b", nncodec.FormatError, "Elem_Type 0")
def _():
    blob = container({"t": chain(3, (1,), [(RAW, 3, 0, 1, b"\x01")])})
    return patch(blob, directory_offset(blob, bytes((RAW, 3, 0, 1, 1))) + 1, b"\x00")


@invalid(141, "coding-unknown", "3.8", "R3.8-a", nncodec.UnsupportedFeatureError, "Coding 255")
def _():
    return container({"t": chain(3, (1,), [(255, 3, 0, 1, b"\x01")])})


# -- section 4 ------------------------------------------------------------------------------------------------

@invalid(142, "stage-unknown", "4", "R4-a", nncodec.UnsupportedFeatureError, "Stage_Id 255")
def _():
    return _one_byte_tensor(stages=(Stage(255),))[0]


@invalid(143, "layout-twice", "4", "R4-b", nncodec.InconsistentError, "dense, then dense again")
def _():
    return _one_byte_tensor(stages=(DENSE, DENSE))[0]


@invalid(144, "dense-params", "4.1", "R4.1-a", nncodec.FormatError, "dense with one params byte")
def _():
    return _one_byte_tensor(stages=(Stage(1, b"\x00"),))[0]


@invalid(145, "dense-two-streams", "4.1", "R4.1-b", nncodec.InconsistentError, "dense over two streams")
def _():
    return container({"t": chain(3, (1,), [(RAW, 3, 6, 1, b"\x01"), (RAW, 3, 6, 1, b"\x02")])})


@invalid(146, "dense-count", "4.1", "R4.1-b", nncodec.InconsistentError,
         "a stream of 3 elements under a node of 4")
def _():
    return container({"t": chain(3, (4,), [(RAW, 3, 6, 3, b"\x01\x02\x03")])})


@invalid(147, "chain-output-type", "4", "R3.5-i", nncodec.InconsistentError,
         "dense over an int8 stream under a uint8 node (the chain's output type is not the node's)")
def _():
    return container({"t": chain(3, (2,), [(RAW, 2, 6, 2, b"\x01\x02")])})


# -- section 5 ------------------------------------------------------------------------------------------------

@invalid(148, "raw-length", "5.1", "R5.1-a", nncodec.InconsistentError,
         "a raw stream of 4 float32 elements stored in 15 bytes")
def _():
    return container({"t": chain(12, (4,), [(RAW, 12, 6, 4, bytes(15))])})


def _zstd_u8(frame, count=4):
    return container({"z": chain(3, (count,), [(ZSTD, 3, 0, count, frame)])})


@invalid(149, "zstd-not-a-frame", "5.2", "R5.2-a", nncodec.FormatError, "a zstd stream without the frame magic")
def _():
    return _zstd_u8(b"not a zstd frame")


@invalid(320, "raw-length-long", "5.1", "R5.1-a", nncodec.InconsistentError,
         "a raw stream of 4 float32 elements stored in 17 bytes: one byte more than its elements")
def _():
    return container({"t": chain(12, (4,), [(RAW, 12, 6, 4, bytes(17))])})


# an empty frame: single segment, a 1-byte Frame_Content_Size of 0, one empty raw block marked last (RFC 8878)
ZSTD_EMPTY = b"\x28\xb5\x2f\xfd\x20\x00\x01\x00\x00"


@invalid(321, "zstd-size0-trailing", "5.2", "R5.2-c", nncodec.FormatError,
         "a zstd frame declaring content size 0, then other bytes (a decoder must read the frame to its end)")
def _():
    return _zstd_u8(ZSTD_EMPTY + b"other bytes", count=0)


@invalid(322, "zstd-shuffle-size0-trailing", "5.4", "R5.2-c", nncodec.FormatError,
         "a zstd-shuffle frame declaring content size 0, then a second frame")
def _():
    return container({"z": chain(12, (0,), [(ZSHUFFLE, 12, 0, 0, ZSTD_EMPTY + ZSTD_EMPTY)])})


@invalid(150, "zstd-dictionary", "5.2", "R5.2-a", nncodec.FormatError, "a zstd frame naming dictionary 7")
def _():
    return _zstd_u8(zstd_frame(b"abcd", dict_id=7))


@invalid(151, "zstd-no-content-size", "5.2", "R5.2-b", nncodec.InconsistentError,
         "a zstd frame without Frame_Content_Size")
def _():
    return _zstd_u8(zstd_frame(b"abcd", single_segment=False))


@invalid(152, "zstd-content-size", "5.2", "R5.2-b", nncodec.InconsistentError,
         "a zstd frame declaring 5 bytes for 4 uint8 elements")
def _():
    return _zstd_u8(zstd_frame(b"abcde"))


@invalid(153, "zstd-extra-bytes", "5.2", "R5.2-c", nncodec.FormatError, "one byte after the zstd frame")
def _():
    return _zstd_u8(zstd_frame(b"abcd") + b"\x00")


@invalid(154, "zstd-size-mismatch", "5.2", "R5.2-c", nncodec.FormatError,
         "a frame declaring 4 bytes whose block holds 8")
def _():
    return _zstd_u8(zstd_frame(b"abcdefgh", content_size=4))


@invalid(155, "zstd-shuffle-content-size", "5.4", "R5.2-b", nncodec.InconsistentError,
         "a zstd-shuffle frame declaring 6 bytes for 2 float32 elements")
def _():
    return container({"s": chain(12, (2,), [(ZSHUFFLE, 12, 0, 2, zstd_frame(bytes(6)))])})


@invalid(156, "zstd-shuffle-extra-bytes", "5.4", "R5.2-c", nncodec.FormatError,
         "two bytes after a zstd-shuffle frame")
def _():
    return container({"s": chain(12, (2,), [(ZSHUFFLE, 12, 0, 2, zstd_frame(bytes(8)) + b"\x00\x00")])})


# -- 157-159: embedding (section 3.9) ----------------------------------------------------------------------------

def _appended_fields(container_length=None, reserved=bytes(4), crc=None):
    """The empty container appended to a host; its trailer has the given fields (CRC recomputed unless given)."""
    from nncodec.bundle import TRAILER_MAGIC
    blob = appended(EMPTY)
    length = len(EMPTY) if container_length is None else container_length
    head = TRAILER_MAGIC + length.to_bytes(8, "little") + reserved
    return blob[:-24] + head + (crc32(head) if crc is None else crc).to_bytes(4, "little")


@invalid(157, "trailer-crc", "3.9", "R3.9-a", nncodec.ChecksumError, "the trailer's CRC-32 is off by one")
def _():
    return _appended_fields(crc=crc32(_appended_fields()[-24:-4]) ^ 1)


@invalid(158, "trailer-reserved", "3.9", "R3.9-b", nncodec.FormatError, "a trailer Reserved byte is 1")
def _():
    return _appended_fields(reserved=b"\x00\x01\x00\x00")


@invalid(159, "trailer-length", "3.9", "R3.9-c", nncodec.TruncatedError,
         "the trailer declares a container longer than the bytes before it")
def _():
    return _appended_fields(container_length=10**6)


# -- 160-169: integer stream codings (section 5.3; the codings' own rules are tested in test_huffman/test_cabac) --

def _integer_stream(coding, values):
    """Stored bytes of ``values`` (int64) coded by huffman or cabac."""
    return coding_by_id(coding).encode(np.asarray(values, dtype=np.int64))


@invalid(160, "huffman-float-elements", "5.3", "R5.3-a", nncodec.InconsistentError,
         "a huffman stream declared as float32 elements")
def _():
    return container({"h": chain(12, (4,), [(HUFFMAN, 12, 0, 4, _integer_stream(HUFFMAN, [1, 2, 3, 4]))])})


@invalid(161, "cabac-bfloat16-elements", "5.3", "R5.3-a", nncodec.InconsistentError,
         "a cabac stream declared as bfloat16 elements")
def _():
    return container({"c": chain(11, (4,), [(CABAC, 11, 0, 4, _integer_stream(CABAC, [1, 2, 3, 4]))])})


@invalid(162, "huffman-int8-range", "5.3", "R5.3-b", nncodec.InconsistentError,
         "a huffman stream of int8 elements decoding the value 300")
def _():
    return container({"h": chain(2, (3,), [(HUFFMAN, 2, 0, 3, _integer_stream(HUFFMAN, [1, 300, -5]))])})


@invalid(163, "cabac-bool-range", "5.3", "R5.3-b", nncodec.InconsistentError,
         "a cabac stream of bool elements decoding the value 2")
def _():
    return container({"c": chain(1, (3,), [(CABAC, 1, 0, 3, _integer_stream(CABAC, [0, 1, 2]))])})


# -- 200-229: transform stages (section 4.2 to 4.5) -----------------------------------------------------------

def _uniform(params, levels=LEVELS, node_dtype=12):
    return container({"q": levels_chain(node_dtype, levels, Stage(UNIFORM, params))})


@invalid(200, "uniform-out-type", "4.2", "R4.2-a", nncodec.FormatError, "uniform Out_Type 4 (int16)")
def _():
    return _uniform(uniform_params(4, [0.25]))


@invalid(201, "uniform-axis", "4.2", "R4.2-b", nncodec.InconsistentError, "uniform Axis 2 on a 2-d node")
def _():
    return _uniform(uniform_params(12, [0.25, 0.5, 1.0], axis=2))


@invalid(202, "uniform-step-count", "4.2", "R4.2-b", nncodec.InconsistentError,
         "uniform Axis 0 with 3 steps for 2 rows")
def _():
    return _uniform(uniform_params(12, [0.25, 0.5, 1.0], axis=0))


@invalid(203, "uniform-step-nan", "4.2", "R4.2-c", nncodec.FormatError, "a NaN uniform step")
def _():
    return _uniform(uniform_params(12, [np.nan]))


@invalid(204, "uniform-params-short", "4.2", "R4.2-d", nncodec.FormatError, "uniform params missing a step byte")
def _():
    return _uniform(uniform_params(12, [0.25])[:-1])


@invalid(205, "uniform-params-long", "4.2", "R4.2-d", nncodec.FormatError, "one byte after the uniform steps")
def _():
    return _uniform(uniform_params(12, [0.25]) + b"\x00")


@invalid(206, "uniform-float-input", "4.2", "R4.2-e", nncodec.InconsistentError, "uniform over a float32 stream")
def _():
    return _uniform(uniform_params(12, [0.25]), levels=LEVELS.astype(np.float32))


@invalid(207, "codebook-no-entries", "4.3", "R4.3-a", nncodec.FormatError, "codebook Entry_Count 0")
def _():
    return container({"c": levels_chain(12, np.array([0], dtype=np.uint8), Stage(CODEBOOK, codebook_params(12, [])))})


@invalid(208, "codebook-entry-inf", "4.3", "R4.3-b", nncodec.FormatError, "an infinite codebook entry")
def _():
    params = codebook_params(12, [1.0, np.inf])
    return container({"c": levels_chain(12, np.array([0, 1], dtype=np.uint8), Stage(CODEBOOK, params))})


@invalid(209, "codebook-index", "4.3", "R4.3-c", nncodec.InconsistentError, "index 3 into a 3-entry codebook")
def _():
    params = codebook_params(12, [1.0, 2.0, 3.0])
    return container({"c": levels_chain(12, np.array([0, 3], dtype=np.uint8), Stage(CODEBOOK, params))})


@invalid(210, "cast-narrowing", "4.4", "R4.4-a", nncodec.InconsistentError, "cast float64 -> float32")
def _():
    return container({"c": levels_chain(12, np.array([1.0], dtype=np.float64), Stage(CAST, bytes((12,))))})


@invalid(211, "cast-out-type", "4.4", "R4.2-a", nncodec.FormatError, "cast Out_Type 10 (float16)")
def _():
    return container({"c": levels_chain(10, np.array([1.0], dtype=np.float16), Stage(CAST, bytes((10,))))})


@invalid(212, "uniform-output-type", "4", "R3.5-i", nncodec.InconsistentError,
         "uniform Out_Type float16 under a float32 node")
def _():
    return _uniform(uniform_params(10, [0.25]))


@invalid(213, "dq-level-range", "4.5", "R4.5-a", nncodec.InconsistentError, "a dq level of 2^62")
def _():
    params = uniform_params(13, [1.0])
    return container({"dq": levels_chain(13, np.array([0, 2**62], dtype=np.int64), Stage(DQ, params))})


@invalid(214, "dq-params-short", "4.5", "R4.2-d", nncodec.FormatError, "dq params without their steps")
def _():
    return container({"dq": levels_chain(12, LEVELS, Stage(DQ, uniform_params(12, [0.25])[:3]))})


# -- sparse layouts (4.6 to 4.9): valid 050-059, invalid 230-249 --------------------------------------------------

RELIDX, CSR, CER, CSER = 2, 3, 4, 5  # §4 Stage_Id

SPARSE_CONV = np.zeros((3, 2, 2, 2), dtype=np.float32)  # a conv weight; its matrix view is 3 x 8
SPARSE_CONV[0, 0, 0, 1] = 1.5
SPARSE_CONV[0, 1, 1, 1] = -0.0  # not zero: the layouts' zero is +0.0 (all bytes zero)
SPARSE_CONV[2, 1, 1, 0] = -2.25  # 13 zeros before it: fillers at gap width 2


@valid(50, "relidx-conv", "4.6", "a sparse float32 conv weight (with -0.0) in relidx, Gap_Bits 2: three fillers",
       layout="relidx:bits=2")
def _():
    return encoded({"conv": SPARSE_CONV}, layout="relidx:bits=2")


CSR_INT8 = np.array([[0, 3, 0, 0, -1], [0, 0, 0, 0, 0], [7, 0, 0, 0, 2]], dtype=np.int8)


@valid(51, "csr-int8", "4.7", "an int8 matrix with an empty row in csr", layout="csr")
def _():
    return encoded({"m": CSR_INT8}, layout="csr")


FEW_VALUES = np.array([[0.5, 0.5, 1.0, 0.5, -1.0, 1.0], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
                       [-1.0, 0.5, 0.5, 2.0, 0.5, -1.0]], dtype=np.float32)


@valid(52, "cer-float32", "4.8", "a float32 matrix of 4 distinct values in cer: 0.5 implicit, an empty group",
       layout="cer")
def _():
    return encoded({"m": FEW_VALUES}, layout="cer")


@valid(53, "cser-float32", "4.9", "the same matrix in cser", layout="cser")
def _():
    return encoded({"m": FEW_VALUES}, layout="cser")


@valid(54, "csr-codebook-huffman", "4.7", "k-means levels (4 entries, most used first) in csr, Huffman-coded "
       "streams, then the codebook stage (lossy, so not re-encodable from the decoded array)")
def _():
    w = np.round(np.linspace(-1, 1, 48).reshape(4, 12), 1).astype(np.float32)
    w[np.abs(w) < 0.5] = 0
    blob = nncodec.encode({"w": w}, layout="csr", quantize={"w": "kmeans:k=4"}, entropy="huffman")
    return blob, {"w": nncodec.decode(blob)["w"]}


def sparse_chain(stage_id, params, dtype, shape, *streams):
    """A chain of one sparse layout over raw ``streams`` (arrays in their own dtypes)."""
    raw = []
    for array in streams:
        code, values = as_array(np.asarray(array))
        raw.append((RAW, code, 0, values.size, values.tobytes()))
    return chain(dtype, shape, raw, (Stage(stage_id, params),))


def u8(*values):
    return np.array(values, dtype=np.uint8)


@invalid(230, "relidx-gap-bits-0", "4.6", "R4.6-a", nncodec.FormatError, "relidx Gap_Bits 0")
def _():
    return container({"r": sparse_chain(RELIDX, b"\x00", 3, (4,), u8(1), u8(9))})


@invalid(231, "relidx-counts", "4.6", "R4.6-b", nncodec.InconsistentError, "3 gaps but 2 values")
def _():
    return container({"r": sparse_chain(RELIDX, b"\x02", 3, (4,), u8(0, 0, 0), u8(9, 9))})


@invalid(232, "relidx-gap-range", "4.6", "R4.6-c", nncodec.InconsistentError, "a gap of 4 with Gap_Bits 2")
def _():
    return container({"r": sparse_chain(RELIDX, b"\x02", 3, (8,), u8(4), u8(9))})


@invalid(233, "relidx-past-end", "4.6", "R4.6-c", nncodec.InconsistentError,
         "entries at positions 3 and 7 of a 6-element tensor")
def _():
    return container({"r": sparse_chain(RELIDX, b"\x02", 3, (2, 3), u8(3, 3), u8(9, 9))})


@invalid(234, "csr-params", "4.7", "R4.7-a", nncodec.FormatError, "csr params of one byte")
def _():
    return container({"c": sparse_chain(CSR, b"\x00", 3, (1, 2), u8(1), u8(0), u8(9))})


@invalid(235, "csr-row-count", "4.7", "R4.7-b", nncodec.InconsistentError, "3 row counts for a 2-row matrix")
def _():
    return container({"c": sparse_chain(CSR, b"", 3, (2, 2), u8(1, 0, 0), u8(0), u8(9))})


@invalid(236, "csr-column", "4.7", "R4.7-c", nncodec.InconsistentError,
         "columns 1 and 3 in a row of 3 columns (gaps 1, 1)")
def _():
    return container({"c": sparse_chain(CSR, b"", 3, (1, 3), u8(2), u8(1, 1), u8(9, 9))})


@invalid(237, "cer-omega-count", "4.8", "R4.8-a", nncodec.InconsistentError, "cer with an empty Omega")
def _():
    return container({"c": sparse_chain(CER, b"", 12, (1, 2), np.zeros(0, np.float32), u8(0), u8(), u8())})


@invalid(238, "cer-column-twice", "4.8", "R4.8-b", nncodec.InconsistentError,
         "column 1 in the groups of Omega[1] and Omega[2] of one row")
def _():
    omega = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    return container({"c": sparse_chain(CER, b"", 12, (1, 3), omega, u8(2), u8(1, 1), u8(1, 1))})


@invalid(240, "cer-unused-omega", "4.8", "R4.8-b", nncodec.InconsistentError,
         "Omega[2] = 2.0 listed but used by no group (the row's second group is empty)")
def _():
    omega = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    return container({"c": sparse_chain(CER, b"", 12, (1, 3), omega, u8(2), u8(1, 0), u8(1))})


@invalid(239, "cser-value-index", "4.9", "R4.9-a", nncodec.InconsistentError,
         "a cser group naming Omega[0], the implicit value")
def _():
    omega = np.array([0.0, 1.0], dtype=np.float32)
    return container({"c": sparse_chain(CSER, b"", 12, (1, 3), omega, u8(1), u8(0), u8(1), u8(2))})

# every declaration and structure rule of 4.8 and 4.9, one sub-case each (241-249, 280-289); Omega is float32
# with Omega[0] = 0, the index streams raw uint8 unless the case is about their type

def _cer(shape, omega, *streams, stage=CER):
    return container({"c": sparse_chain(stage, b"", 12, shape, np.array(omega, dtype=np.float32), *streams)})


_CER_CASES = [
    (241, "cer-stream-count", "R4.8-a", "cer over 3 streams (Col_Gaps missing)",
     lambda: _cer((1, 2), [0, 1], u8(1), u8(1))),
    (242, "cer-index-float", "R4.8-a", "a float32 Row_Groups stream",
     lambda: _cer((1, 2), [0, 1], np.float32([1]), u8(1), u8(0))),
    (243, "cser-index-bool", "R4.8-a", "a bool Group_Values stream",
     lambda: _cer((1, 2), [0, 1], u8(1), np.array([True]), u8(1), u8(0), stage=CSER)),
    (244, "cer-omega-past-n", "R4.8-a", "Omega of 3 values for a 1 x 2 matrix (K > N)",
     lambda: _cer((1, 2), [0, 1, 2], u8(1), u8(1), u8(0))),
    (245, "cer-row-groups-count", "R4.8-a", "Row_Groups of 1 entry for 2 rows",
     lambda: _cer((2, 2), [0, 1], u8(1), u8(1), u8(0))),
    (246, "cer-columns-past-n", "R4.8-a", "3 column entries for a 1 x 2 matrix (E > N)",
     lambda: _cer((1, 2), [0, 1], u8(1), u8(3), u8(0, 0, 0))),
    (247, "cer-groups-past-bound", "R4.8-a", "2 groups in a 1-row matrix with K = 2 (G > m*(K-1))",
     lambda: _cer((1, 3), [0, 1], u8(2), u8(1, 1), u8(0, 1))),
    (248, "cser-group-counts", "R4.8-a", "cser with 2 Group_Values and 1 Group_Sizes",
     lambda: _cer((1, 3), [0, 1, 2], u8(1), u8(1, 2), u8(1), u8(0), stage=CSER)),
    (249, "cser-groups-past-columns", "R4.8-a", "cser with 2 groups and 1 column entry (G > E)",
     lambda: _cer((1, 4), [0, 1, 2], u8(2), u8(1, 2), u8(1, 0), u8(0), stage=CSER)),
    (280, "cer-row-groups-sum-high", "R4.8-b", "row group counts 1 + 1 for 1 group",
     lambda: _cer((2, 2), [0, 1], u8(1, 1), u8(1), u8(0))),
    (281, "cer-row-groups-sum-low", "R4.8-b", "row group counts 0 + 1 for 2 groups",
     lambda: _cer((2, 2), [0, 1], u8(0, 1), u8(1, 1), u8(0, 1))),
    (282, "cer-row-too-many-groups", "R4.8-b", "a row of 2 groups with K = 2 (G = m*(K-1) = 2 overall)",
     lambda: _cer((2, 2), [0, 1], u8(2, 0), u8(1, 1), u8(0, 1))),
    (283, "cer-column-n", "R4.8-b", "column 2 in a row of 2 columns",
     lambda: _cer((1, 2), [0, 1], u8(1), u8(1), u8(2))),
    (284, "cer-column-uint64-top", "R4.8-b", "a uint64 column gap of 2^63 (negative as int64)",
     lambda: _cer((1, 2), [0, 1], u8(1), u8(1), np.array([2**63], dtype=np.uint64))),
    (285, "cer-omega0-unused", "R4.8-b", "every element listed in a group: Omega[0] used by none (E = N)",
     lambda: _cer((1, 2), [0, 1], u8(1), u8(2), u8(0, 0))),
    (286, "cer-group-sizes-sum", "R4.8-b", "group sizes adding up to 1 for 2 column entries",
     lambda: _cer((1, 3), [0, 1], u8(1), u8(1), u8(0, 0))),
    (287, "cser-value-index-k", "R4.9-a", "a cser group naming Omega[2] of a 2-value Omega",
     lambda: _cer((1, 3), [0, 1], u8(1), u8(2), u8(1), u8(0), stage=CSER)),
    (288, "cser-empty-group", "R4.9-a", "an empty cser group (values 1 and 2 used by other groups)",
     lambda: _cer((2, 3), [0, 1, 2], u8(2, 1), u8(1, 2, 1), u8(0, 2, 1), u8(0, 0, 0), stage=CSER)),
]

for _number, _name, _rule, _text, _make in _CER_CASES:
    invalid(_number, _name, "4.9" if _name.startswith("cser") else "4.8", _rule, nncodec.InconsistentError,
            _text)(_make)


# -- factored weights (3.5.3): invalid 250-259 ---------------------------------------------------------------

@invalid(250, "separable-shape", "3.5.2", "R3.5-k", nncodec.InconsistentError,
         "a separable node (2, 2, 3, 2) over (6, 1) and (1, 4): the children are (I*KH, R) and (R, O*KW), swapped")
def _():
    left = dense_raw(np.ones((6, 1), dtype=np.float32))
    right = dense_raw(np.ones((1, 4), dtype=np.float32))
    return container({"sep": composite(12, (2, 2, 3, 2), SEPARABLE, [left, right])})


@invalid(251, "separable-ndim", "3.5.2", "R3.5-k", nncodec.InconsistentError,
         "a separable node of 2-D shape (4, 6) over (4, 1) and (1, 6)")
def _():
    left = dense_raw(np.ones((4, 1), dtype=np.float32))
    right = dense_raw(np.ones((1, 6), dtype=np.float32))
    return container({"sep": composite(12, (4, 6), SEPARABLE, [left, right])})


# -- the integer codings (huffman.md, cabac.md): valid 060-069, invalid 164-189 (huffman) and 300-329 (cabac) ---

def entropy_stream(coding, values, **params):
    """Stored bytes of the integer array ``values`` in a huffman or cabac stream coded with ``params``."""
    return type(coding_by_id(coding))(**params).encode(np.asarray(values).reshape(-1))


def entropy_chain(coding, dtype_code, shape, data, count=None):
    """A dense chain over one ``coding`` stream of ``data`` (Elem_Type the node's dtype, ``count`` elements)."""
    count = int(np.prod(shape, dtype=np.int64)) if count is None else count
    return chain(dtype_code, shape, [(coding, dtype_code, 0, count, data)])


def entropy_tensors(coding, tensors):
    """Container bytes and arrays for ``{name: (integer array, coding params)}``, one dense chain each."""
    nodes = {}
    for name, (array, params) in tensors.items():
        code, values = as_array(array)
        nodes[name] = entropy_chain(coding, code, values.shape, entropy_stream(coding, values, **params))
    return container(nodes), {name: array for name, (array, _) in tensors.items()}


def pack_bits(bits):
    """Bytes of a bit string ("0101 ...", spaces ignored), first bit in bit 7, zero padded (huffman.md 5.3.1.1)."""
    bits = bits.replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def exp_golomb(x):
    """Order-0 Exp-Golomb bits of ``x >= 0`` (huffman.md 5.3.1.1)."""
    digits = format(x + 1, "b")
    return "0" * (len(digits) - 1) + digits


def zigzag(v):
    return ((2 * v) ^ (v >> 63)) % 2**64


def canonical_codes(lengths):
    """{symbol: codeword bits} for code ``lengths``, from the pseudo-code of huffman.md 5.3.1.5."""
    count = [0] * 16
    for n in lengths:
        count[n] += 1
    count[0] = 0
    code, next_code = 0, [0] * 16
    for n in range(1, 16):
        code = (code + count[n - 1]) << 1
        next_code[n] = code
    codes = {}
    for s, n in enumerate(lengths):
        if n:
            codes[s] = format(next_code[n], f"0{n}b")
            next_code[n] += 1
    return codes


def huffman_substreams(lo, lengths, escape_bits, values):
    """The four sub-streams (5.3.1.6) of ``values``: symbol ``v - lo`` if it has a codeword, else the escape (the
    last symbol) and ``escape_bits`` of zigzag(v)."""
    codes = canonical_codes(lengths)
    alphabet = len(lengths) - (1 if escape_bits else 0)

    def bits(v):
        if 0 <= v - lo < alphabet and v - lo in codes:
            return codes[v - lo]
        return codes[alphabet] + format(zigzag(v), f"0{escape_bits}b")
    return [pack_bits("".join(bits(v) for v in values[k::4])) for k in range(4)]


def huffman_stream(lo, alphabet, escape_bits, length_items, substreams):
    """A Mode 2 huffman stream field by field (5.3.1.3): Code_Lengths given as item bits, sub-streams as bytes."""
    out = bytearray((2,))
    write_varint(out, zigzag(lo))
    write_varint(out, alphabet)
    out.append(escape_bits)
    out += pack_bits(length_items)
    for sub in substreams[:3]:
        write_varint(out, len(sub))
    return bytes(out) + b"".join(substreams)


def hand_huffman(lo, lengths, escape_bits, length_items, values):
    """A Mode 2 stream of ``values`` with the given code lengths, their items, and the sub-streams they imply."""
    alphabet = len(lengths) - (1 if escape_bits else 0)
    return huffman_stream(lo, alphabet, escape_bits, length_items,
                          huffman_substreams(lo, lengths, escape_bits, values))


@valid(60, "huffman-modes", "5.3.1", "huffman Modes 0 (no elements), 1 (constant: int64 -2^63, a 10-byte varint; "
       "uint64 2^64-1) and 2 (3 elements: sub-stream 3 empty)")
def _():
    return entropy_tensors(HUFFMAN, {
        "empty": (np.zeros(0, dtype=np.int16), {}),
        "constant": (np.full(5, -2**63, dtype=np.int64), {}),
        "constant_u64": (np.full((3, 1), 2**64 - 1, dtype=np.uint64), {}),
        "three": (np.array([5, -5, 5], dtype=np.int8), {})})


@valid(61, "huffman-escapes", "5.3.1", "huffman escapes: values outside the window (Escape_Bits 64 for the int64 "
       "and uint64 extremes), rare window values demoted to the escape (max_length 3), a window of 1 value")
def _():
    window = np.arange(-6, 7, dtype=np.int64).repeat(3)
    return entropy_tensors(HUFFMAN, {
        "outliers": (np.concatenate([window, [-2**63, 2**63 - 1, 40000, -40000]]), {"max_span": 16}),
        "demoted": (np.array([0] * 9 + [1] * 7 + [2] * 5 + list(range(3, 15)), dtype=np.int16), {"max_length": 3}),
        "u64": (np.array([7, 7, 7, 2**64 - 1, 2**63, 7, 0], dtype=np.uint64), {"max_span": 1}),
    })


@valid(62, "huffman-hand-made", "5.3.1", "hand-written huffman streams: every Code_Lengths item (zero run, "
       "literal, same, +1, -1) with 12 unused symbols first; Alphabet_Size 65536 ending at 2^63-1 (Table size = "
       "max_alphabet); one direct symbol plus a 1-bit escape")
def _():
    items = "111 0001100  1100011  0  101  0  100  0"  # 12 zeros; 3 (literal); 3; 2; 2; 3; 3
    lengths = [0] * 12 + [3, 3, 2, 2, 3, 3]
    kraft = np.array([12, 14, 15, 13, 16, 17, 14, 14, 12, 15], dtype=np.uint8)
    top = 2**63 - 65536
    edge = np.array([top, 2**63 - 1, 2**63 - 1, top, top], dtype=np.int64)
    edge_lengths = [1] + [0] * 65534 + [1]
    edge_items = "100 111" + exp_golomb(65534 - 1) + " 100"
    one = np.array([0, -1, 0, 0, -1], dtype=np.int16)
    nodes = {"kraft": entropy_chain(HUFFMAN, 3, kraft.shape, hand_huffman(0, lengths, 0, items, kraft.tolist())),
             "edge": entropy_chain(HUFFMAN, 8, edge.shape, hand_huffman(top, edge_lengths, 0, edge_items,
                                                                       edge.tolist())),
             "one": entropy_chain(HUFFMAN, 4, one.shape, hand_huffman(0, [1, 1], 1, "100 0", one.tolist()))}
    return container(nodes), {"kraft": kraft, "edge": edge, "one": one}


CABAC_LEVELS = np.array([0, 3, -1, 0, 0, 2, -7, 1, 0, 40, -2, 0, 1, 1, 0, -300, 5, 0, 0, -1], dtype=np.int16)


@valid(63, "cabac-signed", "5.3.2", "cabac Mode 0: the worked example, remainders and escapes up to the int64 "
       "extremes (6-bit length, 63-bit field)")
def _():
    far = np.array([3, -(2**20 + 4), 2**20 + 5, 2**20 + 4, 2**40, -2**63, 2**63 - 1, 0, -1], dtype=np.int64)
    return entropy_tensors(CABAC, {
        "worked": (np.array([0, 0, -2, 1, 9, -1], dtype=np.int8), {}),
        "levels": (CABAC_LEVELS, {}),
        "escapes": (far, {})})


@valid(64, "cabac-gt-flags", "5.3.2", "cabac Gt_Flags 0, 1 and 32 (a remainder after 32 flags, an escape after "
       "them)")
def _():
    big = np.array([0, 32, 33, 34, 100, -2**20 - 40, 1, -33], dtype=np.int32)
    return entropy_tensors(CABAC, {
        "k0": (CABAC_LEVELS, {"gt_flags": 0}),
        "k1": (CABAC_LEVELS, {"gt_flags": 1}),
        "k32": (big, {"gt_flags": 32})})


@valid(65, "cabac-bounded", "5.3.2", "cabac bounded modes: one-sided (automatic), one-sided with Max_Magnitude 2^40 "
       "(escapes), two-sided with Max_Magnitude 300 (prefixes that reach the cap of 8), fewer gt flags than "
       "Gt_Flags, Max_Magnitude 0")
def _():
    indices = np.array([0, 3, 3, 1, 15, 2, 0, 0, 7, 3, 3, 3, 12], dtype=np.uint8)
    wide = np.array([0, 2**40, 5, 2**20 + 4, 2**20 + 5, 1], dtype=np.uint64)
    return entropy_tensors(CABAC, {
        "one_sided": (indices, {}),
        "wide": (wide, {"bounded": "one-sided", "max_magnitude": 2**40}),
        "two_sided": (np.array([-300, 0, 299, 37, -1, 2, 260], dtype=np.int16),
                      {"bounded": "two-sided", "max_magnitude": 300}),
        "few_flags": (np.array([0, 1, 2, 3, 3, 2], dtype=np.uint8), {"max_magnitude": 3}),
        "zeros": (np.zeros((2, 3), dtype=np.uint8), {})})


@valid(66, "cabac-segments-rows", "5.3.2", "cabac segments (3, and 64 of one level each) and Row_Length (alone, and "
       "with 2 segments that split a row)")
def _():
    rows = np.tile(np.array([4, 0, -1, 0, 0, 2, 0], dtype=np.int8), 5)
    return entropy_tensors(CABAC, {
        "segments3": (np.tile(CABAC_LEVELS, 10), {"segments": 3}),
        "segments64": (np.arange(-32, 32, dtype=np.int8), {"segments": 64}),
        "rows": (rows.reshape(5, 7), {"row_length": 7}),
        "rows_segments": (rows, {"row_length": 7, "segments": 2})})


def drifting_signs(count=2400, period=200):
    """Levels whose sign bias flips every ``period`` levels: a stream the rate search codes smaller."""
    rng = np.random.default_rng(15)
    magnitude = rng.geometric(0.5, count) - 1
    flip = np.where((np.arange(count) // period) % 2 == 0, 1, -1)
    sign = np.where(rng.random(count) < 0.9, flip, -flip)
    return (magnitude * sign).astype(np.int16)


@valid(67, "cabac-rate-search", "5.3.2", "cabac rates chosen by the rate search (rates=\"search\"): a stream whose "
       "sign bias flips every 200 levels")
def _():
    levels = drifting_signs()
    stream = entropy_stream(CABAC, levels, rates="search")
    assert stream[2:7] != bytes([0x8C] * 5), "the search kept the default rates: pick another stream"
    return container({"drift": entropy_chain(CABAC, 4, levels.shape, stream)}), {"drift": levels}


@valid(68, "cabac-wide-levels", "5.3.2", "cabac Mode 0 over 4000 levels of a wide Laplacian (scale 12): every "
       "magnitude class of the neighbourhood, each context adapted far from its start, so a change to any context "
       "rule changes the decoded levels")
def _():
    rng = np.random.default_rng(68)
    levels = np.round(rng.laplace(0.0, 12.0, 4000)).astype(np.int16)
    return entropy_tensors(CABAC, {"wide": (levels, {})})


HUFFMAN_WORKED = bytes.fromhex("02 00 02 00 80 01 01 01 00 80 80 00")  # huffman.md 5.3.1.10: [0, 1, 1, 0]


def huffman_u8(data, count=4):
    """A container of one uint8 tensor of ``count`` elements stored in the huffman stream ``data``."""
    return container({"h": entropy_chain(HUFFMAN, 3, (count,), data)})


def _huffman_cases():
    """(number, name, rule, error, description, stream, element count) of the huffman invalid vectors."""
    worked, ff = HUFFMAN_WORKED, bytes.fromhex("ff")
    two = [1, 2, 2]  # codewords 0, 10, 11
    return [
        (164, "mode-3", "R5.3.1-a", nncodec.FormatError, "Mode 3", b"\x03", 1),
        (165, "empty-with-elements", "R5.3.1-b", nncodec.InconsistentError, "Mode 0 for 2 elements", b"\x00", 2),
        (166, "constant-no-elements", "R5.3.1-b", nncodec.InconsistentError, "Mode 1 for 0 elements",
         b"\x01\x00", 0),
        (167, "field-truncated", "R5.3.1-c", nncodec.TruncatedError,
         "the worked example cut before its Code_Lengths", worked[:4], 4),
        (168, "substream-overrun", "R5.3.1-c", nncodec.TruncatedError,
         "sub-stream 0 holds 5 two-bit codewords in 1 byte (read past its end)",
         huffman_stream(0, 3, 0, "100 100 0", [ff] + huffman_substreams(0, two, 0, [2] * 17)[1:]), 17),
        (169, "constant-trailing-byte", "R5.3.1-d", nncodec.TrailingDataError, "a byte after a constant's Value",
         b"\x01\x02\x00", 2),
        (170, "alphabet-2pow20-plus-1", "R5.3.1-e", nncodec.FormatError, "Alphabet_Size 2^20 + 1",
         huffman_stream(0, 2**20 + 1, 0, "", []), 4),
        (171, "window-past-int64", "R5.3.1-f", nncodec.FormatError, "Min_Value 2^63 - 1 with Alphabet_Size 2",
         huffman_stream(2**63 - 1, 2, 0, "100 0", [b"\x00"] * 4), 4),
        (172, "escape-bits-65", "R5.3.1-g", nncodec.FormatError, "Escape_Bits 65",
         huffman_stream(0, 1, 65, "100 0", [b"\x00"] * 4), 4),
        (173, "table-over-max-alphabet", "R5.3.1-h", nncodec.LimitExceededError,
         "Alphabet_Size 65536 and an escape: 65537 symbols, over the default max_alphabet",
         huffman_stream(0, 65536, 1, "100", []), 4),
        (174, "length-above-15", "R5.3.1-i", nncodec.FormatError, "a literal length 15, then a +1 item",
         huffman_stream(0, 2, 0, "110 1111 100", [b"\x00"] * 4), 4),
        (175, "length-below-0", "R5.3.1-i", nncodec.FormatError, "a -1 item first (prev is 0)",
         huffman_stream(0, 2, 0, "101", [b"\x00"] * 4), 4),
        (176, "zero-run-too-long", "R5.3.1-j", nncodec.FormatError, "a run of 3 zero lengths for 2 symbols",
         huffman_stream(0, 2, 0, "111" + exp_golomb(2), [b"\x00"] * 4), 4),
        (177, "zero-run-prefix-33", "R5.3.1-j", nncodec.FormatError, "a zero run whose Exp-Golomb prefix has 33 zeros",
         huffman_stream(0, 2, 0, "111" + "0" * 33 + "1" + "0" * 33, [b"\x00"] * 4), 4),
        (178, "length-padding", "R5.3.1-k", nncodec.FormatError,
         "the worked example with a padding bit set after Code_Lengths", patch_byte(worked, 4, 0x81), 4),
        (179, "over-subscribed", "R5.3.1-l", nncodec.FormatError, "code lengths 1, 1, 1",
         huffman_stream(0, 3, 0, "100 0 0", [b"\x00"] * 4), 4),
        (180, "incomplete", "R5.3.1-m", nncodec.FormatError, "code lengths 1, 2",
         huffman_stream(0, 2, 0, "100 100", [b"\x00"] * 4), 4),
        (181, "one-codeword", "R5.3.1-m", nncodec.FormatError, "one symbol, code length 1 (fewer than two codewords)",
         huffman_stream(0, 1, 0, "100", [b"\x00"] * 4), 4),
        (182, "substream-lengths", "R5.3.1-n", nncodec.TruncatedError,
         "the worked example with Substream_Length_2 = 3 (5 bytes declared, 4 left)", patch_byte(worked, 7, 3), 4),
        (183, "symbols-per-byte", "R5.3.1-o", nncodec.TruncatedError,
         "the worked example declared as 33 elements: 9 symbols from sub-stream 0's one byte", worked, 33),
        (184, "substream-unused-byte", "R5.3.1-p", nncodec.TrailingDataError,
         "the worked example plus a byte: sub-stream 3 has a whole unused byte", worked + b"\x00", 4),
        (185, "substream-padding", "R5.3.1-q", nncodec.FormatError,
         "the worked example with a padding bit set in sub-stream 3", patch_byte(worked, 11, 0x01), 4),
        (186, "varint", "R2-a", nncodec.FormatError, "the worked example's Min_Value written as 80 00",
         worked[:1] + b"\x80\x00" + worked[2:], 4),
        (187, "constant-expansion", "R6", nncodec.LimitExceededError,
         "a 2-byte constant stream declaring 2^24 + 2049 uint8 elements (max_expansion)", b"\x01\x00",
         2**24 + 2049),
    ]


def patch_byte(data, offset, value):
    return data[:offset] + bytes((value,)) + data[offset + 1:]


for _number, _name, _rule, _error, _text, _stream, _count in _huffman_cases():
    invalid(_number, f"huffman-{_name}", "5.3.1", _rule, _error, _text)(
        lambda stream=_stream, count=_count: huffman_u8(stream, count))


CABAC_WORKED = bytes.fromhex("00 04 8C 8C 8C 8C 8C 00 01 5D E3 6A 80 00 00 00")  # cabac.md 5.3.2.10
CABAC_WORKED_LEVELS = np.array([0, 0, -2, 1, 9, -1], dtype=np.int8)


def cabac_i8(data, count=6):
    """A container of one int8 tensor of ``count`` elements stored in the cabac stream ``data``."""
    return container({"c": entropy_chain(CABAC, 2, (count,), data)})


def cabac_past_int64():
    """A Mode 0 stream (K = 4, default rates) whose one level decodes to 2^63: sig 1, sign 0, 4 gt flags 1, 20 prefix
    bins 1, then the escape x = 2^63 - 5 - (2^20 - 1) (spec/cabac.md 5.3.2.5), coded with the reference coder."""
    from nncodec.kernels.reference.cabac import _Context, _Encoder, N_CONTEXTS, OFF_GT, OFF_PREFIX, OFF_SIG, OFF_SIGN
    enc = _Encoder()
    ctx = [_Context(0x8C) for _ in range(N_CONTEXTS)]
    enc.encode_bin(ctx[OFF_SIG], 1)
    enc.encode_bin(ctx[OFF_SIGN], 0)
    for k in range(4):
        enc.encode_bin(ctx[OFF_GT + k * 36], 1)
    for j in range(20):
        enc.encode_bin(ctx[OFF_PREFIX + j * 12], 1)
    x = 2**63 - 5 - (2**20 - 1)
    enc.encode_bypass(x.bit_length(), 6)
    enc.encode_bypass(x, x.bit_length() - 1)
    return CABAC_WORKED[:8] + b"\x01" + enc.finish()


def _cabac_cases():
    """(number, name, rule, error, description, stream, element count) of the cabac invalid vectors."""
    worked, header = CABAC_WORKED, CABAC_WORKED[:9]
    two = entropy_stream(CABAC, CABAC_WORKED_LEVELS, segments=2)  # ... 02 L0 body0 body1
    # Gt_Flags 0, Max_Magnitude 3: level 3 is sig, prefix 1, suffix 1, as it is under Max_Magnitude 2 (same cap)
    three = entropy_stream(CABAC, np.array([3], dtype=np.int8), gt_flags=0, bounded="one-sided")
    assert three[7:9] == b"\x00\x03"
    wide = entropy_stream(CABAC, np.arange(65, dtype=np.int8) - 32, segments=64)
    assert wide[8] == 64
    return [
        (300, "header-short", "R5.3.2-a", nncodec.TruncatedError, "6 bytes: shorter than the fixed header",
         worked[:6], 6),
        (301, "varint-cut", "R5.3.2-a", nncodec.TruncatedError, "a stream ending inside Row_Length (80)",
         worked[:7] + b"\x80", 6),
        (302, "segment-lengths", "R5.3.2-a", nncodec.TruncatedError,
         "two segments, Segment_Length_0 longer than the bytes after the header", patch_byte(two, 9, 0x7F), 6),
        (303, "body-short", "R5.3.2-a", nncodec.TruncatedError,
         "the worked example without its last byte (the segment needs a byte past its body)", worked[:-1], 6),
        (304, "reserved-flag", "R5.3.2-b", nncodec.FormatError, "Flags bit 2 set", patch_byte(worked, 0, 0x04), 6),
        (305, "mode-3", "R5.3.2-b", nncodec.FormatError, "Mode 3", patch_byte(worked, 0, 0x03), 6),
        (306, "gt-flags-33", "R5.3.2-c", nncodec.FormatError, "Gt_Flags 33", patch_byte(worked, 1, 33), 6),
        (307, "rate-nibble-0", "R5.3.2-d", nncodec.FormatError, "the gt group's slow rate 0",
         patch_byte(worked, 4, 0x80), 6),
        (308, "max-magnitude-2pow63", "R5.3.2-e", nncodec.FormatError, "a one-sided stream with Max_Magnitude 2^63",
         b"\x01\x04" + worked[2:8] + b"\x80" * 9 + b"\x01\x01" + worked[9:], 6),
        (309, "level-above-max", "R5.3.2-f", nncodec.FormatError,
         "level 3 coded under Max_Magnitude 3, declared Max_Magnitude 2 (same binarization)",
         patch_byte(three, 8, 2), 1),
        (310, "trailing-byte", "R5.3.2-g", nncodec.TrailingDataError, "the worked example plus a byte",
         worked + b"\x00", 6),
        (311, "no-elements", "R5.3.2-g", nncodec.TrailingDataError, "the worked example declared as 0 elements",
         worked, 0),
        (312, "code-not-zero", "R5.3.2-h", nncodec.FormatError, "the worked example with its last byte 01",
         patch_byte(worked, 15, 0x01), 6),
        (313, "body-ff", "R5.3.2-i", nncodec.FormatError, "a segment body starting FF FF FF FF",
         header + b"\xff" * 4 + worked[13:], 6),
        (314, "segments-0", "R5.3.2-j", nncodec.FormatError, "Segment_Count 0", patch_byte(worked, 8, 0), 6),
        (315, "segments-65", "R5.3.2-j", nncodec.FormatError, "Segment_Count 65 for 65 levels",
         patch_byte(wide, 8, 65), 65),
        (316, "segments-over-count", "R5.3.2-j", nncodec.FormatError, "Segment_Count 7 for 6 levels",
         patch_byte(worked, 8, 7), 6),
        (317, "varint", "R2-a", nncodec.FormatError, "Row_Length 0 written as 80 00",
         worked[:7] + b"\x80\x00" + worked[8:], 6),
        (318, "expansion", "R6", nncodec.LimitExceededError,
         "the worked example declaring 2^24 + 16385 int8 elements (max_expansion)", worked, 2**24 + 16385),
        (319, "level-past-int64", "R5.3.2-f", nncodec.FormatError,
         "a Mode 0 level of 2^63 (escape past int64), in an int8 tensor of 1 element", cabac_past_int64(), 1),
    ]


for _number, _name, _rule, _error, _text, _stream, _count in _cabac_cases():
    invalid(_number, f"cabac-{_name}", "5.3.2", _rule, _error, _text)(
        lambda stream=_stream, count=_count: cabac_i8(stream, count))


# -- section 6 ------------------------------------------------------------------------------------------------

@invalid(190, "limit-expansion", "6", "R6", nncodec.LimitExceededError,
         "a valid zstd stream of 2^25 zero bytes in ~1 KB: over max_expansion * Stored_Length + expansion_slack")
def _():
    frame = zstandard.ZstdCompressor(level=3, write_content_size=True, write_checksum=False).compress(bytes(1 << 25))
    return _zstd_u8(frame, count=1 << 25)


# 191-194: every limit bounds a call, summed over the tensors it touches (section 6, "Limits bound a call")

def zeros(shape, dtype=12):
    """A node of ``shape`` stored as an empty relidx chain: all zeros from two empty streams (spec 4.6)."""
    return sparse_chain(RELIDX, b"\x04", dtype, shape, u8(), np.zeros(0, numpy_dtype(dtype)))


def product(m, k, n, dtype=12):
    """An m x n product of all-zero m x k and k x n factors: m * k * n multiply-adds (spec 3.5.2)."""
    return composite(dtype, (m, n), PRODUCT, [zeros((m, k), dtype), zeros((k, n), dtype)])


def zstd_zeros_frame(blocks):
    """A Zstandard frame of ``blocks`` RLE blocks of 128 KiB zero bytes (RFC 8878 3.1.1.2): 4 bytes a block."""
    out = bytearray(b"\x28\xb5\x2f\xfd\xa0")  # Single_Segment, a 4-byte Frame_Content_Size
    out += (blocks << 17).to_bytes(4, "little")
    for i in range(blocks):
        out += ((1 << 20) | 2 | (i == blocks - 1)).to_bytes(3, "little") + b"\x00"  # Block_Size 2^17, RLE, Last
    return bytes(out)


@invalid(191, "limit-call-macs", "6", "R6", nncodec.LimitExceededError,
         "three products of 2^35 multiply-adds each (all-zero factors in empty relidx chains): each is within "
         "max_product_macs 2^36, the call's total of 3 x 2^35 is not")
def _():
    return container({f"p{i}": product(1 << 12, 1 << 11, 1 << 12) for i in range(3)})


@invalid(192, "limit-call-expansion", "6", "R6", nncodec.LimitExceededError,
         "three zstd streams of 46 RLE blocks of 128 KiB zeros (193 bytes each): each alone is within max_expansion "
         "* Stored_Length + expansion_slack, the call's three are not (one slack per call)")
def _():
    frame = zstd_zeros_frame(46)
    size = 46 << 17
    blob = container({f"z{i}": chain(3, (size,), [(ZSTD, 3, 0, size, frame)]) for i in range(3)})
    with nncodec.open(blob) as reader:  # each tensor alone is a call within the limits
        assert all(reader[name].shape == (size,) and not reader[name].any() for name in reader)
    return blob


@invalid(193, "limit-call-sum-built", "6", "R6", nncodec.LimitExceededError,
         "a sum of 8 all-zero float32 children of 2^35 bytes each: its output fits max_output_bytes, the 9 x 2^35 "
         "bytes of node outputs the call builds exceed 4 x max_output_bytes")
def _():
    shape = (1 << 16, 1 << 17)
    return container({"s": composite(12, shape, SUM, [zeros(shape) for _ in range(8)])})


@invalid(194, "limit-call-product-built", "6", "R6", nncodec.LimitExceededError,
         "a 1 x 1 float64 product of all-zero 1 x 2^34 and 2^34 x 1 factors: 8 bytes returned, 2^38 + 8 bytes "
         "built, over 4 x max_output_bytes")
def _():
    return container({"p": product(1, 1 << 34, 1, dtype=13)})


# -- output ---------------------------------------------------------------------------------------------------

def sha256(data):
    return hashlib.sha256(data).hexdigest()


def array_bytes(array):
    """The bytes a decoded array's sha256 is taken over: its elements, C order, little-endian."""
    code, values = as_array(array)
    return np.ascontiguousarray(values).tobytes()


def toml_str(text):
    """A TOML basic string."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_key(key):
    """A bare TOML key when it is one, else a quoted one."""
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else toml_str(key)


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def npz_bytes(arrays):
    """The expected ``arrays`` (a list) as ``t0, t1, ...`` (bfloat16 and float8 as their unsigned bits); no pickle."""
    stored = {}
    for i, value in enumerate(arrays):
        code, values = as_array(value)  # BFloat16 comes back as its uint16 bits
        if code in (11, E4M3, E5M2):  # ml_dtypes types: .npy files cannot name them
            values = values.view(f"<u{values.dtype.itemsize}")
        stored[f"t{i}"] = values
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **stored)
    return _deterministic_zip(buffer.getvalue())


def _deterministic_zip(data):
    """Rewrite a zip with fixed timestamps so the .npz bytes do not depend on the clock."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


# -- 090-099 valid, 340-379 invalid: float8 dtypes (section 3.7) and the float-planes coding (section 5.5) -----

def every_float8(dtype):
    """The 256 bit patterns of a float8 type, in order (NaNs, infinities and both zeros included)."""
    return np.arange(256, dtype=np.uint8).view(dtype)


@valid(90, "float8", "3.7", "float8_e4m3fn and float8_e5m2 tensors holding every bit pattern, raw", compress="none")
def _():
    import ml_dtypes
    return encoded({"e4m3": every_float8(ml_dtypes.float8_e4m3fn).reshape(16, 16),
                    "e5m2": every_float8(ml_dtypes.float8_e5m2)})


def float_set(seed=91):
    """One small tensor of every float dtype (Gaussian weights, a zero tensor, every float8 pattern)."""
    import ml_dtypes
    rng = np.random.default_rng(seed)
    weights = (rng.standard_normal((48, 40)) * 0.05).astype(np.float32)
    return {"bf16": weights.astype(ml_dtypes.bfloat16), "fp16": weights.astype(np.float16), "fp32": weights,
            "fp64": weights.astype(np.float64)[:8], "zeros": np.zeros((3, 5), np.float16),
            "e4m3": every_float8(ml_dtypes.float8_e4m3fn), "e5m2": every_float8(ml_dtypes.float8_e5m2),
            "e4m3w": weights.astype(ml_dtypes.float8_e4m3fn)}


@valid(91, "float-planes", "5.5", "float-planes streams of every float dtype as the encoder writes them: Huffman "
       "top planes, raw lower planes, constant planes (a zero tensor), Rotate 1 (bfloat16, float32, float64)",
       compress="float-planes", no_larger_than_raw=False)
def _():
    return encoded(float_set(), compress="float-planes", no_larger_than_raw=False)


def fp_stream(raw, width, rotate, chunk_log2):
    """A float-planes stream of the element bytes ``raw`` (spec 5.5), chunks coded by the reference kernel."""
    from nncodec.kernels.reference.float_planes import encode_chunks
    count = len(raw) // width
    out = np.zeros(2 * len(raw) + 64, np.uint8)
    sizes = encode_chunks(np.frombuffer(raw, np.uint8), width, rotate, chunk_log2, 0, -(-count >> chunk_log2), out)
    return bytes((rotate, chunk_log2)) + b"".join(s.to_bytes(4, "little") for s in sizes) + out[:sum(sizes)].tobytes()


def fp_chain(array, rotate, chunk_log2, stream=None):
    """A dense chain over one float-planes stream of ``array`` (or the given stream bytes)."""
    code, values = as_array(array)
    data = fp_stream(values.tobytes(), values.itemsize, rotate, chunk_log2) if stream is None else stream
    return chain(code, values.shape, [(FPLANES, code, 0, values.size, data)])


@valid(92, "float-planes-chunks", "5.5", "float-planes chunking: Chunk_Log2 12 (float32 in 2 chunks; bfloat16 "
       "in 2 chunks, the last of 1 element) and 20 (3 float16 elements: empty quarters); Rotate 1 on float16 and "
       "0 on bfloat16 (not the encoder's choice, valid all the same); float8_e4m3fn rotated")
def _():
    import ml_dtypes
    rng = np.random.default_rng(92)
    fp32 = (rng.standard_normal(5000) * 0.02).astype(np.float32)
    bf16 = (rng.standard_normal(4097) * 0.1).astype(ml_dtypes.bfloat16)
    fp16 = np.array([0.5, -1.5, 65504.0], np.float16)
    e4m3 = (rng.standard_normal(300)).astype(ml_dtypes.float8_e4m3fn)
    arrays = {"fp32": fp32, "bf16": bf16, "fp16": fp16, "fp16r": fp16, "e4m3": e4m3}
    nodes = {"fp32": fp_chain(fp32, 1, 12), "bf16": fp_chain(bf16, 0, 12), "fp16": fp_chain(fp16, 0, 20),
             "fp16r": fp_chain(fp16, 1, 20), "e4m3": fp_chain(e4m3, 1, 12)}
    return container(nodes), arrays


# The hand-made stream the invalid vectors change: 8 float8_e4m3fn elements (1.0, 1.125, 1.25 are bytes 38, 39,
# 3A), one chunk, one Huffman plane with code lengths 1, 2, 2 (codewords 0, 10, 11).
FP_VALUES = bytes.fromhex("38 39 38 3A 3A 38 38 38")
FP_LENGTHS = bytes.fromhex("12 20")  # lengths 1, 2 | 2, padding nibble 0


def fp_huffman(first=0x38, last=0x3A, lengths=FP_LENGTHS, sizes=(1, 1, 1, 1), subs=bytes.fromhex("40 60 C0 00")):
    """Plane_Mode 2 and a Huffman plane body, field by field (spec 5.5)."""
    return (bytes((2, first, last)) + lengths + b"".join(s.to_bytes(4, "little") for s in sizes) + subs)


def fp_hand(chunk=None, flags=0, chunk_log2=12, size_delta=0, table=None):
    """The stream: Flags, Chunk_Log2, one Chunk_Size (the chunk's true size + ``size_delta``), the chunk."""
    chunk = fp_huffman() if chunk is None else chunk
    sizes = (len(chunk) + size_delta).to_bytes(4, "little") if table is None else table
    return bytes((flags, chunk_log2)) + sizes + chunk


def fp_e4m3(stream, count=8, dtype=E4M3):
    return container({"f": chain(dtype, (count,), [(FPLANES, dtype, 0, count, stream)])})


@valid(93, "float-planes-hand-made", "5.5", "hand-written float-planes streams: the 8-element Huffman plane the "
       "invalid vectors change; a complete code of lengths 1 to 12 (two of 12, Kraft sum exactly 4096); raw "
       "(Mode 0) and constant (Mode 1) planes of a float16 chunk")
def _():
    import ml_dtypes
    lengths = list(range(1, 13)) + [12]  # symbols 0..12
    codes = canonical_codes(lengths)
    symbols = list(range(13)) + [0, 0, 1]  # 16 elements, 4 per quarter
    subs = [pack_bits("".join(codes[s] for s in symbols[4 * k:4 * k + 4])) for k in range(4)]
    nibbles = lengths + [0]
    table = bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, 14, 2))
    long_code = fp_hand(fp_huffman(0, 12, table, [len(s) for s in subs], b"".join(subs)))
    fp16 = np.array([1.0, 2.0, -1.0, 0.0], np.float16)  # top plane raw, low plane constant 00
    planes = b"\x00" + bytes(fp16.view(np.uint8)[1::2]) + b"\x01\x00"
    nodes = {"worked": chain(E4M3, (8,), [(FPLANES, E4M3, 0, 8, fp_hand())]),
             "long": chain(E5M2, (16,), [(FPLANES, E5M2, 0, 16, long_code)]),
             "modes": chain(10, (4,), [(FPLANES, 10, 0, 4, fp_hand(planes))])}
    arrays = {"worked": np.frombuffer(FP_VALUES, ml_dtypes.float8_e4m3fn),
              "long": np.array(symbols, np.uint8).view(ml_dtypes.float8_e5m2), "modes": fp16}
    return container(nodes), arrays


def _float_planes_cases():
    """(number, name, rule, error, description, stream, dtype) of the float-planes invalid vectors."""
    good = fp_huffman()
    return [
        (340, "int8", "R5.5-a", nncodec.InconsistentError, "a valid stream declared int8", fp_hand(), 2),
        (341, "flags-2", "R5.5-b", nncodec.FormatError, "Flags 2 (a reserved bit; 1 is Rotate)", fp_hand(flags=2),
         E4M3),
        (342, "chunk-log2-11", "R5.5-c", nncodec.FormatError, "Chunk_Log2 11", fp_hand(chunk_log2=11), E4M3),
        (343, "chunk-log2-21", "R5.5-c", nncodec.FormatError, "Chunk_Log2 21", fp_hand(chunk_log2=21), E4M3),
        (344, "table-cut", "R5.5-d", nncodec.TruncatedError, "3 of the chunk table's 4 bytes",
         bytes((0, 12, 25, 0, 0)), E4M3),
        (345, "chunk-sizes-over", "R5.5-e", nncodec.TruncatedError, "Chunk_Size one more than the bytes present",
         fp_hand(size_delta=1), E4M3),
        (346, "chunk-sizes-under", "R5.5-f", nncodec.TrailingDataError,
         "Chunk_Size one fewer than the bytes present", fp_hand(size_delta=-1), E4M3),
        (347, "plane-mode-3", "R5.5-g", nncodec.FormatError, "Plane_Mode 3", fp_hand(b"\x03" + good[1:]), E4M3),
        (348, "raw-plane-cut", "R5.5-h", nncodec.TruncatedError, "a raw plane of 7 bytes for 8 elements",
         fp_hand(b"\x00" + FP_VALUES[:7]), E4M3),
        (349, "chunk-trailing", "R5.5-i", nncodec.TrailingDataError, "a byte after the chunk's last plane",
         fp_hand(good + b"\x00"), E4M3),
        (350, "symbols-reversed", "R5.5-j", nncodec.FormatError, "First_Symbol 3A > Last_Symbol 38 (one more than "
         "equal)", fp_hand(fp_huffman(0x3A, 0x38, b"\x20")), E4M3),
        (351, "length-13", "R5.5-k", nncodec.FormatError, "code lengths 1, 13, 2",
         fp_hand(fp_huffman(lengths=bytes.fromhex("1D 20"))), E4M3),
        (352, "padding-nibble", "R5.5-l", nncodec.FormatError, "padding nibble 1 after 3 lengths",
         fp_hand(fp_huffman(lengths=bytes.fromhex("12 21"))), E4M3),
        (353, "over-subscribed", "R5.5-m", nncodec.FormatError, "code lengths 1, 1, 2 (Kraft sum 5120)",
         fp_hand(fp_huffman(lengths=bytes.fromhex("11 20"))), E4M3),
        (354, "incomplete", "R5.5-n", nncodec.FormatError, "code lengths 1, 2, 0 (Kraft sum 3072)",
         fp_hand(fp_huffman(lengths=bytes.fromhex("12 00"))), E4M3),
        (355, "one-codeword", "R5.5-n", nncodec.FormatError, "one symbol of length 1 (fewer than two codewords)",
         fp_hand(fp_huffman(0x38, 0x38, b"\x10")), E4M3),
        (356, "substream-sizes", "R5.5-o", nncodec.TruncatedError, "sub-stream sizes 2, 1, 1, 1: 5 bytes, 4 left",
         fp_hand(fp_huffman(sizes=(2, 1, 1, 1))), E4M3),
        (357, "substream-overrun", "R5.5-p", nncodec.TruncatedError,
         "sub-stream sizes 0, 2, 1, 1: sub-stream 0 is read past its end", fp_hand(fp_huffman(sizes=(0, 2, 1, 1))),
         E4M3),
        (358, "substream-unused-byte", "R5.5-q", nncodec.TrailingDataError,
         "sub-stream 3 of 2 bytes for its 2 bits", fp_hand(fp_huffman(sizes=(1, 1, 1, 2),
                                                                      subs=bytes.fromhex("40 60 C0 00 00"))), E4M3),
        (359, "substream-padding", "R5.5-r", nncodec.FormatError, "a padding bit set in sub-stream 3",
         fp_hand(fp_huffman(subs=bytes.fromhex("40 60 C0 01"))), E4M3),
    ]


for _number, _name, _rule, _error, _text, _stream, _dtype in _float_planes_cases():
    invalid(_number, f"float-planes-{_name}", "5.5", _rule, _error, _text)(
        lambda stream=_stream, dtype=_dtype: fp_e4m3(stream, dtype=dtype))


@invalid(360, "float-planes-expansion", "6", "R6", nncodec.LimitExceededError,
         "a 194-byte float-planes stream of 32 constant chunks declaring 2^25 float8 elements (max_expansion)")
def _():
    count, log2 = 1 << 25, 20
    chunk = b"\x01\x00"
    stream = bytes((0, log2)) + len(chunk).to_bytes(4, "little") * 32 + chunk * 32
    return fp_e4m3(stream, count)


# -- 260-269: aliases (section 3.5.4) --------------------------------------------------------------------------

TIED = np.array([[0.5, -1.0, 2.0], [4.0, 0.0, -0.25]], dtype=np.float32)


def alias_node(target, dtype=12, shape=(2, 3)):
    return Node(dtype, shape, Alias(target)), []


@valid(40, "alias", "3.5.4", "tied weights: record 2 is an alias of record 0, stored once")
def _():
    bias = np.array([1, 2], dtype=np.int8)
    blob = container({"embed.weight": dense_raw(TIED), "bias": dense_raw(bias), "head.weight": alias_node(0)})
    return blob, {"embed.weight": TIED, "bias": bias, "head.weight": TIED}


@valid(41, "alias-product-macs", "6", "4096 aliases of a 16 x 16 product of 2^25 multiply-adds (all-zero factors): "
       "the target is computed once per call, so the call costs 2^25 multiply-adds, not 4097 x 2^25 > "
       "max_product_macs")
def _():
    tensors = {"w": product(16, 1 << 17, 16)}
    tensors.update((f"a{i}", alias_node(0, shape=(16, 16))) for i in range(4096))
    w = np.zeros((16, 16), np.float32)
    return container(tensors), dict.fromkeys(tensors, w)


@invalid(260, "alias-in-composite", "3.5.4", "R3.5-l", nncodec.FormatError, "an Alias as a concat child")
def _():
    inner, _ = alias_node(0, shape=(1, 3))
    first = dense_raw(TIED[:1])
    node = Node(12, (2, 3), Composite(CONCAT, (first[0], inner)))
    return container({"w": dense_raw(TIED), "v": (node, first[1])})


@invalid(261, "alias-forward", "3.5.4", "R3.5-m", nncodec.InconsistentError, "an alias of its own record")
def _():
    return container({"w": dense_raw(TIED), "v": alias_node(1)})


@invalid(262, "alias-shape", "3.5.4", "R3.5-m", nncodec.InconsistentError,
         "an alias declaring shape (3, 2) for a (2, 3) target")
def _():
    return container({"w": dense_raw(TIED), "v": alias_node(0, shape=(3, 2))})


@invalid(263, "alias-of-alias", "3.5.4", "R3.5-m", nncodec.InconsistentError, "an alias of an alias")
def _():
    return container({"w": dense_raw(TIED), "v": alias_node(0), "u": alias_node(1)})


def main():
    """Build and check every vector in memory, then replace the files (nothing is written if a check fails)."""
    entries, files, blobs = [], {}, {}
    for spec in VALID:
        blob, arrays = spec["make"]()
        stem = f"{spec['number']:03d}-{spec['name']}"
        decoded = nncodec.decode(blob)
        if not isinstance(decoded, dict):
            decoded = {"": decoded}
        assert list(decoded) == list(arrays), stem
        with nncodec.open(blob) as reader:
            records = reader.directory.tensors
        rows, stored, last = [], [], None
        for i, (name, expected) in enumerate(arrays.items()):
            code, values = as_array(expected)
            got = decoded[name]
            assert array_bytes(got) == values.tobytes() and got.shape == values.shape, f"{stem}: {name}"
            body = records[i].node.body
            if isinstance(body, Alias) and body.target == last:  # an alias right after its target's row
                rows[-1].setdefault("aliases", []).append(name)
                continue
            rows.append({"name": name, "key": f"t{len(stored)}", "dtype": DTYPE_NAMES[code],
                         "shape": list(values.shape), "sha256": sha256(values.tobytes())})
            stored.append(expected)
            last = i
        files[f"valid/{stem}.nnc"] = blob
        files[f"valid/{stem}.npz"] = npz_bytes(stored)
        blobs[stem] = blob
        entry = {"file": f"valid/{stem}.nnc", "section": spec["section"], "rule": "", "expect": "ok",
                 "sha256": sha256(blob), "description": spec["description"],
                 "encoder": "nncodec.encode" if spec["encode"] else "records"}
        if spec["encode"]:
            entry["encode"] = spec["encode"]
        entry["arrays"] = rows
        entries.append(entry)
    for spec in INVALID:
        blob = spec["make"]()
        stem = f"{spec['number']:03d}-{spec['name']}"
        try:
            nncodec.decode(blob)
        except nncodec.DecodeError as exc:
            assert type(exc).__name__ == spec["error"] and f"[{spec['rule']}]" in str(exc), (stem, exc)
        else:
            raise AssertionError(f"{stem} decodes")
        files[f"invalid/{stem}.nnc"] = blob
        entries.append({"file": f"invalid/{stem}.nnc", "section": spec["section"], "rule": spec["rule"],
                        "expect": spec["error"], "sha256": sha256(blob), "description": spec["description"]})
    example = worked_example.render(blobs)
    for folder in ("valid", "invalid"):
        (HERE / folder).mkdir(exist_ok=True)
        for old in (HERE / folder).iterdir():
            if old.suffix in (".nnc", ".npz"):
                old.unlink()
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    write_manifest(entries)
    (ROOT / "spec" / "worked-example.md").write_text(example, encoding="utf-8")
    print(f"wrote {len(VALID)} valid and {len(INVALID)} invalid vectors, manifest.toml and worked-example.md")


def write_manifest(entries):
    lines = [
        "# Golden vectors of spec/nncodec-format.md. Generated by make_vectors.py; do not edit by hand.",
        "#",
        "# One [[vector]] per file. expect = \"ok\" or the nncodec.errors class a decoder must raise (with the rule",
        "# id at the start of its message). Valid vectors list their arrays (npz key, dtype, shape, sha256 of the",
        "# little-endian C-order element bytes; aliases: the names of the alias records, spec 3.5.4, right after",
        "# it, which decode to the same array). encoder = \"nncodec.encode\" vectors are reproduced byte for byte",
        "# by nncodec.encode(arrays, **encode) (single_array = true: the one array itself); zstd-coded ones only",
        "# with the libzstd version below.",
        "",
        f"zstd_version = {toml_str('.'.join(map(str, zstandard.ZSTD_VERSION)))}",
        "",
    ]
    for entry in entries:
        lines.append("[[vector]]")
        for key, value in entry.items():
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    (HERE / "manifest.toml").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
