"""Canonical Huffman integer-stream coding (spec/huffman.md, stream Coding 2): the readable reference.

Public API (the same in ``nncodec.kernels.cython.huffman``):

- ``encode(values, max_length=12, max_span=4096) -> bytes``: ``values`` is a 1-D C-contiguous ``int64`` array.
- ``decode(data, count, limits) -> int64 ndarray``: ``data`` is exactly the stored stream, ``count`` the container's
  Element_Count. Raises only :class:`nncodec.errors.DecodeError` subclasses, in the order spec/huffman.md gives.

Comments ``# §5.3.1.x`` name the section of spec/huffman.md each step implements.
"""

import numpy as np

from ...errors import EncodeError, FormatError, InconsistentError, TrailingDataError, TruncatedError
from ...format.records import write_varint
from ...format.varint import read_varint

__all__ = ["encode", "decode"]

# §5.3.1.2 modes
MODE_EMPTY, MODE_CONSTANT, MODE_CODED = 0, 1, 2
# §5.3.1.3 format bounds (not configurable: they are part of the format)
MAX_CODE_LENGTH = 15
MAX_ALPHABET_SIZE = 1 << 20
MAX_ESCAPE_BITS = 64
MAX_RUN_PREFIX = 32
SUBSTREAMS = 4
# §5.3.1.8 encoder defaults: a 12-bit limit keeps the decoder's lookup table at 4096 entries (16 KiB, inside L1)
DEFAULT_MAX_LENGTH = 12
DEFAULT_MAX_SPAN = 4096
INT64_MAX = (1 << 63) - 1
UINT64_MASK = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------------------------
# §5.3.1.1 value <-> unsigned mappings
# ---------------------------------------------------------------------------------------------------------------

def zigzag(value):
    """The unsigned 64-bit ZigZag code of a signed 64-bit ``value``: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ..."""
    return ((value << 1) ^ (value >> 63)) & UINT64_MASK


def unzigzag(code):
    """Inverse of :func:`zigzag`."""
    return (code >> 1) ^ -(code & 1)


# ---------------------------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------------------------

def encode(values, max_length=DEFAULT_MAX_LENGTH, max_span=DEFAULT_MAX_SPAN):
    """Stored bytes of the huffman stream for ``values`` (1-D int64). Deterministic for given parameters.

    ``max_length`` (1..15) limits code lengths; ``max_span`` (1..65535) limits the direct alphabet (values further
    from the densest window are escaped). Raises EncodeError for bad parameters or input.
    """
    _check_encode_args(values, max_length, max_span)
    if values.size == 0:
        return bytes([MODE_EMPTY])                                          # §5.3.1.2 empty
    unique, counts = np.unique(values, return_counts=True)
    if unique.size == 1:                                                    # §5.3.1.2 constant
        out = bytearray([MODE_CONSTANT])
        write_varint(out, zigzag(int(unique[0])))
        return bytes(out)
    # §5.3.1.8 step 1: the direct alphabet is the densest window of at most max_span consecutive values
    lo, hi = _choose_window(unique, counts, max_span)
    alphabet_size = hi - lo + 1
    inside = (unique >= lo) & (unique <= hi)
    weights = np.zeros(alphabet_size + 1, dtype=np.int64)
    weights[(unique[inside] - lo)] = counts[inside]
    weights[alphabet_size] = counts[~inside].sum()
    # step 2: at most 2**max_length symbols can have codes; the rarest direct symbols join the escape
    _demote_rare_symbols(weights, max_length)
    direct = np.zeros(unique.size, dtype=bool)
    direct[inside] = weights[unique[inside] - lo] > 0
    escape_bits = 0
    if weights[alphabet_size]:
        escape_bits = max(zigzag(int(v)).bit_length() for v in unique[~direct]) or 1
    else:
        weights = weights[:alphabet_size]
    # step 3: optimal length-limited code lengths, then canonical codes (§5.3.1.5)
    lengths = package_merge_lengths(weights, max_length)
    codes = canonical_codes(lengths)
    # §5.3.1.3 header
    out = bytearray([MODE_CODED])
    write_varint(out, zigzag(lo))
    write_varint(out, alphabet_size)
    out.append(escape_bits)
    out += _pack_fields(_code_length_fields(lengths))                      # §5.3.1.4
    substreams = [_substream_bytes(values[k::SUBSTREAMS], lo, lengths, codes, escape_bits)
                  for k in range(SUBSTREAMS)]                               # §5.3.1.6
    for stream in substreams[:SUBSTREAMS - 1]:
        write_varint(out, len(stream))
    for stream in substreams:
        out += stream
    return bytes(out)


def _check_encode_args(values, max_length, max_span):
    if not isinstance(values, np.ndarray) or values.dtype != np.int64 or values.ndim != 1:
        raise EncodeError("huffman encodes a 1-D int64 array")
    if not isinstance(max_length, int) or not 1 <= max_length <= MAX_CODE_LENGTH:
        raise EncodeError(f"huffman max_length must be an int in 1..{MAX_CODE_LENGTH}, got {max_length!r}")
    if not isinstance(max_span, int) or not 1 <= max_span <= 65535:
        raise EncodeError(f"huffman max_span must be an int in 1..65535, got {max_span!r}")


def _choose_window(unique, counts, max_span):
    """(lo, hi): the window of at most ``max_span`` consecutive values holding the most elements.

    Ties go to the smallest ``lo``; ``lo`` and ``hi`` are values that occur (§5.3.1.8 step 1).
    """
    lo, hi = int(unique[0]), int(unique[-1])
    if hi - lo < max_span:
        return lo, hi
    # the last value each window may hold, computed without int64 overflow near 2**63 - 1
    last_allowed = np.minimum(unique, np.int64(INT64_MAX - (max_span - 1))) + np.int64(max_span - 1)
    ends = np.searchsorted(unique, last_allowed, side="right")             # one past each window's last value
    cumulative = np.concatenate(([0], np.cumsum(counts)))
    covered = cumulative[ends] - cumulative[np.arange(unique.size)]
    start = int(np.argmax(covered))                                        # argmax returns the first maximum
    return int(unique[start]), int(unique[int(ends[start]) - 1])


def _demote_rare_symbols(weights, max_length):
    """Move the rarest direct symbols into the escape (last entry) until at most 2**max_length symbols are used."""
    escape = weights.size - 1
    used = [s for s in range(escape) if weights[s] > 0]
    capacity = (1 << max_length) - (1 if weights[escape] or len(used) > 1 << max_length else 0)
    if len(used) <= capacity:
        return
    used.sort(key=lambda s: (int(weights[s]), s))
    for s in used[:len(used) - capacity]:
        weights[escape] += weights[s]
        weights[s] = 0


def package_merge_lengths(weights, max_length):
    """Optimal code lengths of at most ``max_length`` bits for the symbols of non-zero weight (package-merge).

    Needs at least 2 and at most 2**max_length such symbols. Leaves are ordered by (weight, symbol); where a leaf
    and a package weigh the same, the leaf comes first. Both backends follow exactly this order (§5.3.1.8).
    """
    order = sorted((int(w), s) for s, w in enumerate(weights) if w > 0)
    leaves = [w for w, _ in order]
    levels = []                 # per level, deepest first: is_leaf flag of each item of the merged list
    packages = []
    for _ in range(max_length):
        merged, flags = [], []
        i = j = 0
        while i < len(leaves) or j < len(packages):
            if j == len(packages) or (i < len(leaves) and leaves[i] <= packages[j]):
                merged.append(leaves[i])
                flags.append(True)
                i += 1
            else:
                merged.append(packages[j])
                flags.append(False)
                j += 1
        levels.append(flags)
        packages = [merged[k] + merged[k + 1] for k in range(0, len(merged) - 1, 2)]
    lengths = np.zeros(len(weights), dtype=np.int64)
    take = 2 * len(order) - 2   # items chosen at the top level
    for flags in reversed(levels):
        taken_leaves = sum(flags[:take])
        for _, symbol in order[:taken_leaves]:
            lengths[symbol] += 1
        take = 2 * (take - taken_leaves)
    return lengths


def canonical_codes(lengths):
    """§5.3.1.5: canonical codes, by increasing length, then increasing symbol within a length."""
    lengths = [int(x) for x in lengths]
    count = [0] * (MAX_CODE_LENGTH + 1)
    for length in lengths:
        count[length] += 1
    count[0] = 0
    next_code = [0] * (MAX_CODE_LENGTH + 2)
    code = 0
    for length in range(1, MAX_CODE_LENGTH + 1):
        code = (code + count[length - 1]) << 1
        next_code[length] = code
    codes = np.zeros(len(lengths), dtype=np.uint64)
    for symbol, length in enumerate(lengths):
        if length:
            codes[symbol] = next_code[length]
            next_code[length] += 1
    return codes


def _code_length_fields(lengths):
    """§5.3.1.4: the (value, width) bit fields coding ``lengths``; the encoder picks the cheapest per step."""
    fields = []
    previous = 0
    i = 0
    while i < len(lengths):
        length = int(lengths[i])
        if length == 0:
            run = 1
            while i + run < len(lengths) and lengths[i + run] == 0:
                run += 1
            one_by_one = _single_cost(0, previous) + (run - 1)
            as_run = 3 + 2 * run.bit_length() - 1
            if as_run < one_by_one:
                fields.append((0b111, 3))                                  # zero run, Exp-Golomb(run - 1)
                fields.append((run, 2 * run.bit_length() - 1))
                previous = 0
                i += run
                continue
        if length == previous:
            fields.append((0b0, 1))
        elif length == previous + 1:
            fields.append((0b100, 3))
        elif length == previous - 1:
            fields.append((0b101, 3))
        else:
            fields.append((0b110 << 4 | length, 7))
        previous = length
        i += 1
    return fields


def _single_cost(length, previous):
    if length == previous:
        return 1
    return 3 if abs(length - previous) == 1 else 7


def _pack_fields(fields):
    """Bytes holding the (value, width) fields MSB-first, then zero bits up to a byte boundary (§5.3.1.1)."""
    if not fields:
        return b""
    values = np.array([v for v, _ in fields], dtype=np.uint64)
    widths = np.array([w for _, w in fields], dtype=np.int64)
    return _pack_arrays(values, widths)


def _pack_arrays(values, widths):
    """Like :func:`_pack_fields` for arrays of values (uint64) and widths (0..64), in chunks to bound memory."""
    pieces = []
    chunk = 1 << 16
    for start in range(0, values.size, chunk):
        v, w = values[start:start + chunk], widths[start:start + chunk]
        top = int(w.max()) if w.size else 0
        if top == 0:
            continue
        shifts = np.arange(top - 1, -1, -1, dtype=np.uint64)
        bits = ((v[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8)
        pieces.append(bits[shifts[None, :] < w[:, None].astype(np.uint64)])
    if not pieces:
        return b""
    return np.packbits(np.concatenate(pieces)).tobytes()


def _substream_bytes(values, lo, lengths, codes, escape_bits):
    """§5.3.1.6: one sub-stream: each value's codeword, escapes followed by their Escape_Bits-bit suffix."""
    alphabet_size = len(lengths) - (1 if escape_bits else 0)
    offsets = values.view(np.uint64) - np.uint64(lo & UINT64_MASK)        # wraps mod 2**64 outside the window
    symbols = np.minimum(offsets, np.uint64(alphabet_size)).astype(np.int64)
    direct_lengths = np.append(np.asarray(lengths[:alphabet_size], dtype=np.int64), 0)
    escaped = direct_lengths[symbols] == 0
    symbols[escaped] = alphabet_size
    code_values = np.asarray(codes, dtype=np.uint64)[symbols]
    code_widths = np.asarray(lengths, dtype=np.int64)[symbols]
    if not escaped.any():
        return _pack_arrays(code_values, code_widths)
    zz = (values.view(np.uint64) << np.uint64(1)) ^ (values >> np.int64(63)).view(np.uint64)
    suffix_widths = np.where(escaped, escape_bits, 0)
    both_values = np.stack([code_values, np.where(escaped, zz, np.uint64(0))], axis=1).reshape(-1)
    both_widths = np.stack([code_widths, suffix_widths], axis=1).reshape(-1)
    return _pack_arrays(both_values, both_widths)


# ---------------------------------------------------------------------------------------------------------------
# Decoder
# ---------------------------------------------------------------------------------------------------------------

class _ByteCursor:
    """Byte-aligned header fields; never reads past the end of the stream (§5.3.1.3)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    @staticmethod
    def _ends(what, pos):
        return TruncatedError(f"[R5.3.1-c] huffman stream ends inside {what} at byte {pos}")

    def u8(self, what):
        if self.pos >= len(self.data):
            raise self._ends(what, self.pos)
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self, what):
        value, self.pos = read_varint(self.data, self.pos, f"huffman {what}", lambda pos: self._ends(what, pos))
        return value


class _BitReader:
    """MSB-first bits of ``data[start:end]`` (§5.3.1.1); reading past ``end`` is a TruncatedError."""

    def __init__(self, data, start, end, what):
        self.data = data
        self.pos = 8 * start
        self.start = 8 * start
        self.end = 8 * end
        self.what = what

    def bit(self):
        if self.pos >= self.end:
            raise TruncatedError(f"[R5.3.1-c] huffman {self.what} reads past its end")
        byte = self.data[self.pos >> 3]
        self.pos += 1
        return (byte >> (-self.pos & 7)) & 1

    def read(self, width):
        value = 0
        for _ in range(width):
            value = value << 1 | self.bit()
        return value

    def used_bytes(self):
        """Bytes started so far (the bit position rounded up to a byte)."""
        return -(-(self.pos - self.start) // 8)

    def padding_is_zero(self):
        """True if the bits left before the next byte boundary are zero; moves to that boundary."""
        boundary = -(-self.pos // 8) * 8
        padding = 0
        while self.pos < boundary:
            padding |= self.bit()
        return padding == 0


def decode(data, count, limits):
    """The ``count`` int64 values of the huffman stream ``data``; checks every rule of spec/huffman.md §5.3.1.9."""
    data = bytes(data)
    cursor = _ByteCursor(data)
    mode = cursor.u8("Mode")
    if mode > MODE_CODED:
        raise FormatError(f"[R5.3.1-a] huffman Mode {mode} is not 0, 1 or 2")
    if (mode == MODE_EMPTY) != (count == 0):
        raise InconsistentError(f"[R5.3.1-b] huffman Mode {mode} does not fit Element_Count {count}")
    if mode == MODE_EMPTY:
        _check_no_trailing(data, cursor.pos)
        return np.zeros(0, dtype=np.int64)
    if mode == MODE_CONSTANT:
        value = unzigzag(cursor.varint("Value"))
        _check_no_trailing(data, cursor.pos)
        limits.check("max_elements", count)
        limits.check_expansion(count, len(data))
        return np.full(count, value, dtype=np.int64)
    return _decode_coded(data, cursor, count, limits)


def _check_no_trailing(data, pos):
    if pos != len(data):
        raise TrailingDataError(f"[R5.3.1-d] {len(data) - pos} bytes after the end of the huffman stream")


def _decode_coded(data, cursor, count, limits):
    # §5.3.1.3 header fields
    lo = unzigzag(cursor.varint("Min_Value"))
    alphabet_size = cursor.varint("Alphabet_Size")
    if alphabet_size > MAX_ALPHABET_SIZE:
        raise FormatError(f"[R5.3.1-e] huffman Alphabet_Size {alphabet_size} exceeds {MAX_ALPHABET_SIZE}")
    if alphabet_size and lo + alphabet_size - 1 > INT64_MAX:
        raise FormatError(f"[R5.3.1-f] huffman symbols run past 2**63 - 1 (Min_Value {lo}, "
                          f"Alphabet_Size {alphabet_size})")
    escape_bits = cursor.u8("Escape_Bits")
    if escape_bits > MAX_ESCAPE_BITS:
        raise FormatError(f"[R5.3.1-g] huffman Escape_Bits {escape_bits} exceeds {MAX_ESCAPE_BITS}")
    table_size = alphabet_size + (1 if escape_bits else 0)
    limits.check("max_alphabet", table_size, "R5.3.1-h")
    # §5.3.1.4 code lengths, then §5.3.1.5 the Kraft check
    bits = _BitReader(data, cursor.pos, len(data), "Code_Lengths")
    lengths = _read_code_lengths(bits, table_size)
    if not bits.padding_is_zero():
        raise FormatError("[R5.3.1-k] non-zero padding after the huffman Code_Lengths")
    cursor.pos += bits.used_bytes()
    _check_kraft(lengths)
    # §5.3.1.6 sub-stream lengths, each bounded by the bytes present and by its symbol count
    sizes = [cursor.varint(f"Substream_Length_{k}") for k in range(SUBSTREAMS - 1)]
    left = len(data) - cursor.pos
    if sum(sizes) > left:
        raise TruncatedError(f"[R5.3.1-n] huffman sub-streams declare {sum(sizes)} bytes, {left} are present")
    sizes.append(left - sum(sizes))
    symbol_counts = [(count - k + SUBSTREAMS - 1) // SUBSTREAMS for k in range(SUBSTREAMS)]
    for k in range(SUBSTREAMS):
        if symbol_counts[k] > 8 * sizes[k]:
            raise TruncatedError(f"[R5.3.1-o] huffman sub-stream {k} holds {sizes[k]} bytes, too few for "
                                 f"{symbol_counts[k]} symbols of at least one bit")
    # §5.3.1.6 symbols: element i is the next symbol of sub-stream i mod 4
    decoder = _CanonicalDecoder(lengths)
    out = np.empty(count, dtype=np.int64)
    start = cursor.pos
    for k in range(SUBSTREAMS):
        bits = _BitReader(data, start, start + sizes[k], f"sub-stream {k}")
        values = []
        for _ in range(symbol_counts[k]):
            symbol = decoder.symbol(bits)
            if symbol == alphabet_size:                                    # §5.3.1.7 escape
                values.append(unzigzag(bits.read(escape_bits)))
            else:
                values.append(lo + symbol)
        _check_substream_end(bits, sizes[k], k)
        out[k::SUBSTREAMS] = values
        start += sizes[k]
    return out


def _read_code_lengths(bits, table_size):
    """§5.3.1.4: Code_Lengths for ``table_size`` symbols."""
    lengths = []
    previous = 0
    while len(lengths) < table_size:
        if bits.bit() == 0:                                                # 0: same as the previous length
            lengths.append(previous)
        elif bits.bit() == 0:                                              # 10s: previous +1 / -1
            length = previous - 1 if bits.bit() else previous + 1
            if not 0 <= length <= MAX_CODE_LENGTH:
                raise FormatError(f"[R5.3.1-i] huffman code length {length} outside 0..{MAX_CODE_LENGTH}")
            lengths.append(length)
        elif bits.bit() == 0:                                              # 110 llll: literal length
            lengths.append(bits.read(4))
        else:                                                              # 111 Exp-Golomb: run of zeros
            zeros = 0
            while bits.bit() == 0:
                zeros += 1
                if zeros > MAX_RUN_PREFIX:
                    raise FormatError("[R5.3.1-j] huffman zero run with an Exp-Golomb prefix over "
                                      f"{MAX_RUN_PREFIX} bits")
            run = (1 << zeros | bits.read(zeros))
            if run > table_size - len(lengths):
                raise FormatError(f"[R5.3.1-j] huffman zero run of {run} passes the end of the table")
            lengths.extend([0] * run)
        previous = lengths[-1]
    return lengths


def _check_kraft(lengths):
    """§5.3.1.5: the code lengths must describe a complete prefix code (Kraft sum exactly 1)."""
    kraft = sum(1 << (MAX_CODE_LENGTH - n) for n in lengths if n)
    if kraft > 1 << MAX_CODE_LENGTH:
        raise FormatError("[R5.3.1-l] huffman code lengths are over-subscribed (Kraft sum > 1)")
    if kraft < 1 << MAX_CODE_LENGTH:
        raise FormatError("[R5.3.1-m] huffman code lengths are incomplete (Kraft sum < 1, or fewer than 2 codes)")


class _CanonicalDecoder:
    """§5.3.1.5 canonical decoding, one bit at a time: count of codes per length and symbols in code order."""

    def __init__(self, lengths):
        self.count = [0] * (MAX_CODE_LENGTH + 1)
        for n in lengths:
            self.count[n] += 1
        self.symbols = sorted((n, s) for s, n in enumerate(lengths) if n)
        self.symbols = [s for _, s in self.symbols]

    def symbol(self, bits):
        code = first = index = 0
        for length in range(1, MAX_CODE_LENGTH + 1):
            code |= bits.bit()
            count = self.count[length]
            if code - first < count:
                return self.symbols[index + code - first]
            index += count
            first = (first + count) << 1
            code <<= 1
        raise AssertionError("unreachable: a complete code always ends within MAX_CODE_LENGTH bits")


def _check_substream_end(bits, size, k):
    """§5.3.1.6: a sub-stream ends in at most 7 zero padding bits, with no unused byte."""
    used_bytes = bits.used_bytes()
    if used_bytes < size:
        raise TrailingDataError(f"[R5.3.1-p] huffman sub-stream {k} has {size - used_bytes} unused bytes")
    if not bits.padding_is_zero():
        raise FormatError(f"[R5.3.1-q] non-zero padding bits at the end of huffman sub-stream {k}")
