"""Machine-readable declaration of nncodec-format.md sections 2, 3 and 4, written with ``construct`` 2.10.

This module is the spec's second reading: tests parse every golden vector and hypothesis-built container with it
and with ``nncodec.decoder.container`` and require the two to agree (``tests/test_spec_oracle.py``). It is a test oracle,
not a production parser: it trusts memory and time to the input size and checks no decoder limits (section 6).

Field names are the snake_case of the spec's Mixed_Case names. A list of repeated fields carries the name of the
repeated item (``metadata_entry``, ``tensor_record``, ``stream_descriptor``, ``stage``, ``child``, ``stream``).
Every rejection is a :class:`RuleError` naming its section 7 rule id, except two construct errors that
:func:`violated_rule` maps: ``ConstError`` (the magic, R3.2-a) and ``StreamError`` (a directory field running past
the directory's end, R3.3-b). Counts, lengths and CRCs are rebuilt on :func:`build_container`, so a caller may omit
them.

Declared here: every rule of section 7 except R4.3-c and R4.5-a (codebook indices and dq levels are decoded data), R5.2-*, R5.3-* and R5.5-* (the
insides of zstd, zstd-shuffle, Huffman, CABAC and float-planes streams), R3.7-a for streams other than raw, and R6 (limits).
"""

import math
import zlib

from construct import (Array, Bytes, Check, CheckError, Checksum, Const, ConstError, Construct, ConstructError,
                       FixedSized, Float32l, GreedyBytes, If, Int8ul, Int16ul, Int32ul, Int64ul, LazyBound, Prefixed,
                       Rebuild, StreamError, Struct, Switch, len_, stream_read, stream_write, this)

__all__ = ["MAGIC", "HEADER_SIZE", "DTYPE_SIZES", "CODINGS", "STAGES", "DECLARED_RULES", "RuleError", "VarInt",
           "Utf8Str", "EndOfData", "UniformParams", "DqParams", "CodebookParams", "CastParams", "Header", "Directory", "TensorRecord", "Node", "Chain", "Composite", "StreamDescriptor",
           "Stage", "Payload", "NNCContainer", "parse_container", "build_container", "violated_rule",
           "stream_layout"]

MAGIC = b"\x89NNC\r\n\x1a\n"
HEADER_SIZE = 32
FORMAT_MAJOR = 1

# §3.7 dtype code -> element size in bytes
DTYPE_SIZES = {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 8: 8, 9: 8, 10: 2, 11: 2, 12: 4, 13: 8, 14: 1, 15: 1}
BOOL, FLOAT_CODES = 1, frozenset((10, 11, 12, 13))  # §3.5.2: the dtypes sum and product compute in
# §3.8 Coding codes; §4 Stage_Id -> kind
RAW, ZSTD, HUFFMAN, CABAC, ZSTD_SHUFFLE, FLOAT_PLANES = 0, 1, 2, 3, 4, 5
CODINGS = frozenset((RAW, ZSTD, HUFFMAN, CABAC, ZSTD_SHUFFLE, FLOAT_PLANES))
DENSE, UNIFORM, CODEBOOK, CAST, DQ = 1, 16, 17, 18, 19
RELIDX, CSR, CER, CSER = 2, 3, 4, 5
STAGES = {DENSE: "layout", RELIDX: "layout", CSR: "layout", CER: "layout", CSER: "layout",
          UNIFORM: "transform", CODEBOOK: "transform", CAST: "transform", DQ: "transform"}
# §4.6-4.9 sparse layouts: stream count, index of the values stream (its Elem_Type is the layout's output type)
SPARSE_STREAMS = {RELIDX: (2, 1), CSR: (3, 2), CER: (4, 0), CSER: (5, 0)}
MAX_GAP_BITS = 16
INTEGER_CODES = frozenset(range(2, 10))  # §4.2: levels and indices (bool excluded)
TRANSFORM_OUT = frozenset((10, 11, 12, 13))  # §4 Out_Type of uniform, codebook and dq
CAST_OUT = frozenset((12, 13))  # §4.4
CAST_PAIRS = frozenset(((10, 12), (10, 13), (11, 12), (11, 13), (12, 13)))  # §4.4 exact widenings
PER_TENSOR = 255
MAX_ENTRIES = 65536
# §3.5 structural bounds
MAX_NDIM, MAX_DEPTH, MAX_STREAMS, MAX_STAGES, MAX_CHILDREN, MAX_ALIGN_LOG2 = 32, 8, 64, 16, 4096, 12
CHAIN, COMPOSITE, ALIAS = 0, 1, 2
CONCAT, SUM, PRODUCT, SEPARABLE = 0, 1, 2, 3

DECLARED_RULES = frozenset((
    "R2-a", "R2-b", "R3.1-c", "R3.1-d", "R3.2-a", "R3.2-b", "R3.2-c", "R3.2-d", "R3.2-e", "R3.2-f",
    "R3.3-a", "R3.3-b", "R3.3-c", "R3.4-a", "R3.4-b", "R3.5-a", "R3.5-b", "R3.5-c", "R3.5-d", "R3.5-e",
    "R3.5-f", "R3.5-g", "R3.5-h", "R3.5-i", "R3.5-j", "R3.5-k", "R3.5-l", "R3.5-m", "R3.7-a", "R3.7-b", "R3.8-a", "R4-a", "R4-b",
    "R4.1-a", "R4.1-b", "R4.2-a", "R4.2-b", "R4.2-c", "R4.2-d", "R4.2-e", "R4.3-a", "R4.3-b", "R4.4-a",
    "R4.5-b",
    "R4.6-a", "R4.6-b", "R4.7-a", "R4.7-b", "R4.8-a", "R5.1-a",
))


def crc32(data):
    """CRC-32 of spec section 2 (zlib's)."""
    return zlib.crc32(data) & 0xFFFFFFFF


class RuleError(CheckError):
    """A section 7 rule is broken; ``rule`` is its id (``"R3.5-b"``)."""

    def __init__(self, rule, message, path=None):
        super().__init__(f"[{rule}] {message}", path=path)
        self.rule = rule


class Rules(Check):
    """``Check`` over several rules: ``func(ctx)`` returns ``None`` or the ``(rule, message)`` broken first."""

    def _parse(self, stream, context, path):
        fault = self.func(context)
        if fault is not None:
            raise RuleError(*fault, path=path)

    def _build(self, obj, stream, context, path):
        self._parse(stream, context, path)


class Rule(Check):
    """``Check`` that names the section 7 rule it enforces. Checked on parse and on build."""

    def __init__(self, rule, func, what=""):
        super().__init__(func)
        self.rule = rule
        self.what = what or rule

    def _parse(self, stream, context, path):
        if not self.func(context):
            raise RuleError(self.rule, f"{self.what} does not hold", path=path)

    def _build(self, obj, stream, context, path):
        self._parse(stream, context, path)


def _parsing(func):
    """A rule about the input bytes themselves: true by construction when building."""
    return lambda ctx: ctx._building or func(ctx)


def _remaining(ctx):
    """Bytes left in the stream being parsed (the container, or the directory inside it)."""
    io = ctx._io
    pos = io.tell()
    end = io.seek(0, 2)
    io.seek(pos)
    return end - pos


def _peek(ctx, n):
    io = ctx._io
    pos = io.tell()
    data = io.read(n)
    io.seek(pos)
    return data


# -- §2 conventions -------------------------------------------------------------------------------------------

class VarInt(Construct):
    """§2 ``varint``: canonical unsigned LEB128, at most 10 bytes, value below 2^64 [R2-a]."""

    def _parse(self, stream, context, path):
        value = 0
        for i in range(10):
            byte = stream_read(stream, 1, path)[0]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise RuleError("R2-a", "non-canonical varint (last byte 0x00)", path=path)
                if value >= 1 << 64:
                    raise RuleError("R2-a", f"varint {value} >= 2^64", path=path)
                return value
        raise RuleError("R2-a", "varint longer than 10 bytes", path=path)

    def _build(self, obj, stream, context, path):
        if not isinstance(obj, int) or not 0 <= obj < 1 << 64:
            raise RuleError("R2-a", f"varint out of range: {obj!r}", path=path)
        out, value = bytearray(), obj
        while True:
            out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
            value >>= 7
            if not value:
                break
        stream_write(stream, bytes(out), len(out), path)
        return obj

    def _sizeof(self, context, path):
        raise ConstructError("varint has no fixed size", path=path)


class Utf8Str(Construct):
    """§2 ``str``: a varint byte length and that many bytes of UTF-8 [R2-b]."""

    def __init__(self):
        super().__init__()
        self.raw = Prefixed(VarInt(), GreedyBytes)

    def _parse(self, stream, context, path):
        data = self.raw._parsereport(stream, context, path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RuleError("R2-b", f"invalid UTF-8: {exc.reason} at byte {exc.start}", path=path) from None

    def _build(self, obj, stream, context, path):
        if not isinstance(obj, str):
            raise RuleError("R2-b", f"str expected, got {type(obj).__name__}", path=path)
        self.raw._build(obj.encode("utf-8"), stream, context, path)
        return obj


VARINT = VarInt()
STR = Utf8Str()


class HeaderCRC32(Checksum):
    """§3.2 Header_CRC32: CRC-32 of header bytes 0..27 [R3.2-f]; computed when building."""

    def __init__(self, covered):
        super().__init__(Int32ul, crc32, lambda ctx: covered.build(ctx))

    def _parse(self, stream, context, path):
        stored = self.checksumfield._parsereport(stream, context, path)
        computed = self.hashfunc(self.bytesfunc(context))
        if stored != computed:
            raise RuleError("R3.2-f", f"Header_CRC32 {stored:08x} != computed {computed:08x}", path=path)
        return stored


# -- §3.5 node ------------------------------------------------------------------------------------------------

class EndOfData(Construct):
    """Parse-only check that nothing is left in the stream being parsed; otherwise ``rule`` is broken."""

    def __init__(self, rule, what):
        super().__init__()
        self.rule, self.what = rule, what
        self.flagbuildnone = True

    def _parse(self, stream, context, path):
        left = _remaining(context)
        if left:
            raise RuleError(self.rule, f"{left} bytes after {self.what}", path=path)

    def _build(self, obj, stream, context, path):
        return None

    def _sizeof(self, context, path):
        return 0


def _depth(ctx):
    """Nesting depth of the node whose context is ``ctx`` (a tensor's top node is depth 1)."""
    depth, outer = 1, ctx.get("_")
    while outer is not None:
        if "node_type" in outer:
            depth += 1
        outer = outer.get("_")
    return depth


def _elements(shape):
    n = 1
    for extent in shape:
        n *= extent
    return n


def _combine_ok(ctx):
    """§3.5.2 combine rules, given the composite's context (its node is ``ctx._``)."""
    node, children = ctx._, ctx.child
    if any(c.dtype != node.dtype for c in children):
        return False
    if ctx.combine == CONCAT:
        return (len(node.shape) >= 1 and all(list(c.shape[1:]) == list(node.shape[1:]) and len(c.shape) == len(node.shape)
                                             for c in children)
                and sum(c.shape[0] for c in children) == node.shape[0])
    if node.dtype not in FLOAT_CODES:
        return False
    if ctx.combine == SUM:
        return all(list(c.shape) == list(node.shape) for c in children)
    left, right = (children + [None, None])[:2]
    if not (len(children) == 2 and len(left.shape) == 2 and len(right.shape) == 2 and left.shape[1] == right.shape[0]):
        return False
    if ctx.combine == PRODUCT:
        return left.shape[0] * right.shape[1] == _elements(node.shape)
    if len(node.shape) != 4:  # SEPARABLE: (O*KW, R) and (R, I*KH) for a node (O, I, KH, KW)
        return False
    o, i, kh, kw = node.shape
    return left.shape[0] == o * kw and right.shape[1] == i * kh


def _matrix(shape):
    """§4.6 matrix view (m, n) of a node's shape."""
    if len(shape) < 2:
        return 1, (shape[0] if shape else 1)
    return shape[0], _elements(shape[1:])


def _sparse_fault(ctx):
    """§4.6-4.9 declaration rules of a sparse layout (what the descriptors alone decide), or None."""
    stage, node, streams = ctx.stage[0], ctx._, ctx.stream_descriptor
    if stage.stage_id not in SPARSE_STREAMS:
        return None
    params_rule, streams_rule = {RELIDX: ("R4.6-a", "R4.6-b"), CSR: ("R4.7-a", "R4.7-b"),
                                 CER: ("R4.7-a", "R4.8-a"), CSER: ("R4.7-a", "R4.8-a")}[stage.stage_id]
    params = bytes(stage.params)
    if stage.stage_id == RELIDX:
        if len(params) != 1 or not 1 <= params[0] <= MAX_GAP_BITS:
            return params_rule, "relidx params are one byte Gap_Bits in 1..16"
    elif params:
        return params_rule, "csr, cer and cser params are empty"
    count, values = SPARSE_STREAMS[stage.stage_id]
    if len(streams) != count:
        return streams_rule, f"{count} streams"
    if any(i != values and s.elem_type not in INTEGER_CODES for i, s in enumerate(streams)):
        return streams_rule, "index streams have integer Elem_Types"
    m, n = _matrix(node.shape)
    c = [s.element_count for s in streams]
    if stage.stage_id == RELIDX:
        ok = c[0] == c[1] <= m * n
    elif stage.stage_id == CSR:
        ok = c[0] == m and c[1] == c[2] <= m * n
    else:
        k, groups = c[0], c[2]
        ok = ((1 <= k <= m * n or k == m * n == 0) and c[1] == m and c[-1] <= m * n
              and groups <= m * max(k - 1, 0))
        if stage.stage_id == CSER:
            ok = ok and c[2] == c[3] <= c[4]
    return None if ok else (streams_rule, "stream counts fit the matrix view")


def _dense_streams_ok(ctx):
    """§4.1: one stream whose Element_Count is the node's."""
    node, streams = ctx._, ctx.stream_descriptor
    return len(streams) == 1 and streams[0].element_count == _elements(node.shape)


STEP_FIELDS = (  # §4.2 Out_Type, Axis, Step_Count, Steps: the params of uniform, and the start of dq's (4.5)
    "out_type" / Int8ul,
    "axis" / Int8ul,
    "step_count" / VARINT,
    Rule("R4.2-d", lambda ctx: ctx.step_count <= _remaining(ctx) // 4, "the steps fit the params"),
    "steps" / Array(this.step_count, Float32l),
)

UniformParams = """§4.2 uniform params: Out_Type, Axis, Step_Count, Steps.""" * Struct(
    *STEP_FIELDS,
    EndOfData("R4.2-d", "the uniform params"),
)

CodebookParams = """§4.3 codebook params: Out_Type, Entry_Count, Entries.""" * Struct(
    "out_type" / Int8ul,
    "entry_count" / VARINT,
    Rule("R4.3-a", lambda ctx: 1 <= ctx.entry_count <= MAX_ENTRIES, "1 <= Entry_Count <= 65536"),
    Rule("R4.2-d", lambda ctx: ctx.entry_count <= _remaining(ctx) // 4, "the entries fit the params"),
    "entries" / Array(this.entry_count, Float32l),
    EndOfData("R4.2-d", "the codebook params"),
)

CastParams = """§4.4 cast params: Out_Type.""" * Struct("out_type" / Int8ul, EndOfData("R4.2-d", "the cast params"))

DqParams = """§4.5 dq params: uniform's, then the optional State_Count (absent: four states).""" * Struct(
    *STEP_FIELDS,
    "state_count" / If(lambda ctx: _remaining(ctx) > 0, Int8ul),
    Rule("R4.5-b", lambda ctx: ctx.state_count in (None, 8, 16, 32), "State_Count absent or 8, 16, 32"),
    EndOfData("R4.2-d", "the dq params"),
)

TRANSFORM_PARAMS = {UNIFORM: UniformParams, CODEBOOK: CodebookParams, CAST: CastParams, DQ: DqParams}
STAGE_NAMES = {DENSE: "dense", UNIFORM: "uniform", CODEBOOK: "codebook", CAST: "cast", DQ: "dq"}


def _transform_fault(stage_id, params, node, in_code):
    """``(out_code, None)`` for a transform stage over input type ``in_code``, or ``(None, (rule, message))``."""
    try:
        fields = TRANSFORM_PARAMS[stage_id].parse(params)
    except RuleError as exc:
        return None, (exc.rule, f"{STAGE_NAMES[stage_id]} params")
    except StreamError:
        return None, ("R4.2-d", "params end before their last field")
    out = fields.out_type
    if out not in (CAST_OUT if stage_id == CAST else TRANSFORM_OUT):
        return None, ("R4.2-a", f"Out_Type {out}")
    if stage_id in (UNIFORM, DQ):
        if fields.axis != PER_TENSOR and fields.axis >= len(node.shape):
            return None, ("R4.2-b", f"Axis {fields.axis} for {len(node.shape)} dimensions")
        if fields.step_count != (1 if fields.axis == PER_TENSOR else node.shape[fields.axis]):
            return None, ("R4.2-b", f"Step_Count {fields.step_count}")
        if not all(math.isfinite(v) for v in fields.steps):
            return None, ("R4.2-c", "a step is not finite")
    if stage_id == CODEBOOK and not all(math.isfinite(v) for v in fields.entries):
        return None, ("R4.3-b", "an entry is not finite")
    if stage_id in (UNIFORM, CODEBOOK, DQ) and in_code not in INTEGER_CODES:
        return None, ("R4.2-e", f"input type {in_code} is not an integer type")
    if stage_id == CAST and (in_code, out) not in CAST_PAIRS:
        return None, ("R4.4-a", f"cast {in_code} -> {out}")
    return out, None


def _chain_type_fault(ctx):
    """§4: the layout's output type is its stream's Elem_Type; each transform maps it to its Out_Type; the last
    type must be the node's Dtype [R3.5-i]. Returns the first broken rule or None."""
    node, stages, streams = ctx._, ctx.stage, ctx.stream_descriptor
    layout = stages[0].stage_id
    values = SPARSE_STREAMS[layout][1] if layout in SPARSE_STREAMS else 0
    code = streams[values].elem_type if STAGES.get(layout) == "layout" and values < len(streams) else None
    for stage in stages[1:]:
        code, fault = _transform_fault(stage.stage_id, stage.params, node, code)
        if fault:
            return fault
    if code != node.dtype:
        return "R3.5-i", f"the chain produces type {code}, the node declares {node.dtype}"
    return None


StreamDescriptor = """§3.5.1 Stream_Descriptor: one stream of the payload, its coding and its CRC.""" * Struct(
    "coding" / Int8ul,
    "elem_type" / Int8ul,
    Rule("R3.7-b", lambda ctx: ctx.elem_type in DTYPE_SIZES, "Elem_Type is a dtype code (§3.7)"),
    "align_log2" / Int8ul,
    Rule("R3.5-g", lambda ctx: ctx.align_log2 <= MAX_ALIGN_LOG2, "Align_Log2 <= 12"),
    "element_count" / VARINT,
    "stored_length" / VARINT,
    "stream_crc32" / Int32ul,
)

Stage = """§3.5.1 Stage: Stage_Id (section 4) and its parameter bytes.""" * Struct(
    "stage_id" / Int8ul,
    "params" / Prefixed(VARINT, GreedyBytes),
)

Chain = """§3.5.1 Chain: stream descriptors in payload order, then stages in decode order; section 4 rules.

The stages' params stay bytes here; transforms' params are declared by UniformParams, CodebookParams, CastParams.
""" * Struct(
    "stream_count" / Rebuild(VARINT, len_(this.stream_descriptor)),
    Rule("R3.5-e", lambda ctx: ctx.stream_count <= MAX_STREAMS, "Stream_Count <= 64"),
    "stream_descriptor" / Array(this.stream_count, StreamDescriptor),
    "stage_count" / Rebuild(VARINT, len_(this.stage)),
    Rule("R3.5-f", lambda ctx: 1 <= ctx.stage_count <= MAX_STAGES, "1 <= Stage_Count <= 16"),
    "stage" / Array(this.stage_count, Stage),
    # section 4, in the order a decoder meets them
    Rule("R4-a", lambda ctx: all(s.stage_id in STAGES for s in ctx.stage), "every Stage_Id is known (§4)"),
    Rule("R4-b", lambda ctx: [STAGES[s.stage_id] == "layout" for s in ctx.stage] == [True] + [False] * (len(ctx.stage) - 1),
         "the first stage and only the first is a layout (§4)"),
    Rule("R3.8-a", lambda ctx: all(s.coding in CODINGS for s in ctx.stream_descriptor), "every Coding is known (§3.8)"),
    Rule("R4.1-a", lambda ctx: ctx.stage[0].stage_id != DENSE or ctx.stage[0].params == b"", "dense params are empty"),
    Rule("R4.1-b", lambda ctx: ctx.stage[0].stage_id != DENSE or _dense_streams_ok(ctx), "one dense stream, the node's count"),
    Rules(_sparse_fault),
    Rules(_chain_type_fault),
    Rule("R5.1-a", lambda ctx: all(s.stored_length == s.element_count * DTYPE_SIZES[s.elem_type]
                                   for s in ctx.stream_descriptor if s.coding == RAW), "raw Stored_Length (§5.1)"),
)

Composite = """§3.5.2 Composite: a combine operation over 1..4096 child nodes.""" * Struct(
    "combine" / Int8ul,
    "child_count" / Rebuild(VARINT, len_(this.child)),
    Rule("R3.5-j", lambda ctx: 1 <= ctx.child_count <= MAX_CHILDREN, "1 <= Child_Count <= 4096"),
    "child" / Array(this.child_count, LazyBound(lambda: Node)),
    Rule("R3.5-k", lambda ctx: ctx.combine in (CONCAT, SUM, PRODUCT, SEPARABLE) and _combine_ok(ctx), "the combine rule"),
)

Alias = """§3.5.4 Alias: a tensor's top node naming an earlier tensor record.""" * Struct(
    "target" / VARINT,
    Rule("R3.5-l", lambda ctx: _depth(ctx._) == 1, "an Alias is a tensor's top node"),
)

Node = """§3.5 Node: dtype and shape of a tensor or a part of one, and its body (recursive, at most 8 deep).""" * Struct(
    Rule("R3.5-d", lambda ctx: _depth(ctx) <= MAX_DEPTH, "nodes nest at most 8 deep"),
    "dtype" / Int8ul,
    Rule("R3.5-a", lambda ctx: ctx.dtype in DTYPE_SIZES, "Dtype is a dtype code (§3.7)"),
    "ndim" / Rebuild(Int8ul, len_(this.shape)),
    Rule("R3.5-b", lambda ctx: ctx.ndim <= MAX_NDIM, "Ndim <= 32"),
    "shape" / Array(this.ndim, VARINT),
    "node_type" / Int8ul,
    Rule("R3.5-c", lambda ctx: ctx.node_type in (CHAIN, COMPOSITE, ALIAS), "Node_Type is 0, 1 or 2"),
    "body" / Switch(this.node_type, {CHAIN: Chain, COMPOSITE: Composite, ALIAS: Alias}),
)

MetadataEntry = """§3.3 Metadata_Entry.""" * Struct("key" / STR, "value" / STR)

TensorRecord = """§3.3 Tensor_Record: a name and its node.""" * Struct("name" / STR, "node" / Node)


def _unique(items):
    items = list(items)
    return len(set(items)) == len(items)


def _aliases_ok(records):
    for index, record in enumerate(records):
        node = record.node
        if node.node_type == ALIAS:
            target = node.body.target
            if target >= index:
                return False
            aimed = records[target].node
            if aimed.node_type == ALIAS or (aimed.dtype, list(aimed.shape)) != (node.dtype, list(node.shape)):
                return False
    return True


Directory = """§3.3 Directory: metadata entries, then tensor records; no padding, nothing after.""" * Struct(
    "metadata_count" / Rebuild(VARINT, len_(this.metadata_entry)),
    # count bound (Array checks only the sign): an entry takes at least 2 bytes
    Rule("R3.3-b", _parsing(lambda ctx: ctx.metadata_count <= _remaining(ctx) // 2), "Metadata_Count fits the directory"),
    "metadata_entry" / Array(this.metadata_count, MetadataEntry),
    Rule("R3.3-a", lambda ctx: _unique(e.key for e in ctx.metadata_entry), "metadata keys are unique"),
    "tensor_count" / Rebuild(VARINT, len_(this.tensor_record)),
    # a tensor record takes at least 5 bytes (empty name, 0-d alias: Dtype, Ndim, Node_Type, Target)
    Rule("R3.3-b", _parsing(lambda ctx: ctx.tensor_count <= _remaining(ctx) // 5), "Tensor_Count fits the directory"),
    "tensor_record" / Array(this.tensor_count, TensorRecord),
    Rule("R3.3-c", lambda ctx: _unique(t.name for t in ctx.tensor_record), "tensor names are unique"),
    Rule("R3.5-m", lambda ctx: _aliases_ok(ctx.tensor_record), "aliases name earlier non-alias records alike"),
    EndOfData("R3.3-b", "the last tensor record"),
)


# -- §3.4 payload ---------------------------------------------------------------------------------------------

def _node_streams(node):
    if node.node_type == CHAIN:
        yield from node.body.stream_descriptor
    elif node.node_type == COMPOSITE:
        for child in node.body.child:
            yield from _node_streams(child)


def stream_layout(directory, directory_length):
    """§3.4: ``[(offset, padding, descriptor)]`` for every stream in directory order, and the payload's end."""
    pos = HEADER_SIZE + directory_length
    layout = []
    for record in directory.tensor_record:
        for desc in _node_streams(record.node):
            align = 1 << desc.align_log2
            offset = -(-pos // align) * align
            layout.append((offset, offset - pos, desc))
            pos = offset + desc.stored_length
    return layout, pos


def _layout(ctx):
    root = ctx._root
    return stream_layout(root.directory, root.header.directory_length)


def _slot(ctx):
    return _layout(ctx)[0][ctx._index]


StreamSlot = """§3.4 one stream: zero padding to its alignment, then its stored bytes.""" * Struct(
    "padding" / Rebuild(Bytes(lambda ctx: _slot(ctx)[1]), lambda ctx: bytes(_slot(ctx)[1])),
    Rule("R3.4-a", lambda ctx: not any(ctx.padding), "padding bytes are zero"),
    "stored_bytes" / Bytes(lambda ctx: _slot(ctx)[2].stored_length),
    Rule("R3.5-h", lambda ctx: crc32(ctx.stored_bytes) == _slot(ctx)[2].stream_crc32, "Stream_CRC32 matches"),
    Rule("R3.7-a", lambda ctx: _slot(ctx)[2].coding != RAW or _slot(ctx)[2].elem_type != BOOL
         or set(ctx.stored_bytes) <= {0, 1}, "raw bool bytes are 0 or 1"),
)

Payload = """§3.4 Payload: the streams in directory order, each after its alignment padding.""" * Struct(
    "stream" / Array(lambda ctx: len(_layout(ctx)[0]), StreamSlot),
)


# -- §3.2 header and §3.1 container ---------------------------------------------------------------------------

def _directory_bytes(ctx):
    """The directory's bytes, built from the object (for the rebuilt Directory_Length and Directory_CRC32)."""
    return Directory.build(ctx._.directory)


def _payload_length(ctx):
    """§3.4 Payload_Length computed from the directory, when building."""
    directory_length = len(_directory_bytes(ctx))
    layout, end = stream_layout(_as_container(ctx._.directory), directory_length)
    return end - HEADER_SIZE - directory_length if layout else 0


def _as_container(obj):
    """Parse the built directory so that layout helpers see parsed fields (counts filled in)."""
    return Directory.parse(Directory.build(obj))


_HEADER_FIELDS = (
    ("magic", Const(MAGIC)),
    ("format_major", Int8ul),
    ("format_minor", Int8ul),
    ("header_flags", Int16ul),
    ("directory_length", Int32ul),
    ("payload_length", Int64ul),
    ("directory_crc32", Int32ul),
)
# bytes 0..27 as they stand in a context (what Header_CRC32 covers)
_HeaderCovered = Struct(*(name / field for name, field in _HEADER_FIELDS))
# lengths and the directory CRC are computed from the directory and payload when building
_REBUILT = {
    "directory_length": lambda ctx: len(_directory_bytes(ctx)),
    "payload_length": lambda ctx: _payload_length(ctx),
    "directory_crc32": lambda ctx: crc32(_directory_bytes(ctx)),
}

Header = """§3.2 Header: 32 bytes, checked in the order of §3.2.""" * Struct(
    *(name / (Rebuild(field, _REBUILT[name]) if name in _REBUILT else field) for name, field in _HEADER_FIELDS),
    "header_crc32" / HeaderCRC32(_HeaderCovered),
    Rule("R3.2-b", lambda ctx: ctx.format_major == FORMAT_MAJOR, "Format_Major is 1"),
    Rule("R3.2-c", lambda ctx: ctx.header_flags == 0, "reserved Header_Flags are 0"),
    Rule("R3.2-d", lambda ctx: ctx.directory_length >= 2, "Directory_Length >= 2"),
)


def _declared_rest(ctx):
    return ctx.header.directory_length + ctx.header.payload_length


NNCContainer = """nncodec container, format 1 (spec/nncodec-format.md section 3): Header, Directory, Payload.

Declared from the spec by the nncodec maintainers as the oracle for nncodec.decoder.container; see this module's docstring.
""" * Struct(
    Rule("R3.1-c", _parsing(lambda ctx: _remaining(ctx) >= HEADER_SIZE), "at least 32 bytes are present"),
    "header" / Header,
    Rule("R3.1-c", _parsing(lambda ctx: _remaining(ctx) >= _declared_rest(ctx)), "the declared bytes are present"),
    Rule("R3.1-d", _parsing(lambda ctx: _remaining(ctx) <= _declared_rest(ctx)), "nothing follows the container"),
    Rule("R3.2-e", _parsing(lambda ctx: crc32(_peek(ctx, ctx.header.directory_length)) == ctx.header.directory_crc32),
         "Directory_CRC32 matches"),
    "directory" / FixedSized(this.header.directory_length, Directory),
    Rule("R3.4-b", lambda ctx: ctx.header.payload_length == (
        lambda layout, end: end - HEADER_SIZE - ctx.header.directory_length if layout else 0)(
        *stream_layout(ctx.directory, ctx.header.directory_length)), "Payload_Length matches the streams"),
    "payload" / FixedSized(this.header.payload_length, Payload),
)


def parse_container(data):
    """Parse and check container bytes; returns a construct Container or raises a ConstructError."""
    return NNCContainer.parse(bytes(data))


def build_container(obj):
    """Bytes of the container described by ``obj`` (a parsed Container or an equivalent dict).

    Counts, Ndim, Directory_Length, Payload_Length, padding and both header CRCs are computed; the rules are
    checked on the way, so an object breaking one raises a :class:`RuleError`.
    """
    return NNCContainer.build(obj)


def violated_rule(error):
    """The section 7 rule id a ConstructError from :func:`parse_container` stands for, or None if unknown."""
    if isinstance(error, RuleError):
        return error.rule
    if isinstance(error, ConstError):
        return "R3.2-a"
    if isinstance(error, StreamError):
        return "R3.3-b"
    return None
