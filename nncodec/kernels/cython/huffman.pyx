# cython: language_level=3
"""Cython twin of nncodec.reference.huffman (spec/huffman.md, stream Coding 2): same bytes, arrays and errors.

Decoding is table driven: one lookup of Max_Length bits per symbol, four sub-streams advanced in lock step so
their loads and lookups overlap. setup.py turns bounds checking off; each index below names the check that
keeps it in range.
"""

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from .bits cimport bit_length

import numpy as np

from ...errors import EncodeError, FormatError, InconsistentError, TrailingDataError, TruncatedError
from ...format.records import write_varint

__all__ = ["encode", "decode"]

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    static inline uint64_t nnc_load_be64(const unsigned char *p) {
        uint64_t v;
        memcpy(&v, p, 8);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        return v;
    #elif defined(_MSC_VER)
        return _byteswap_uint64(v);
    #else
        return __builtin_bswap64(v);
    #endif
    }
    static inline void nnc_store_be64(unsigned char *p, uint64_t v) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #elif defined(_MSC_VER)
        v = _byteswap_uint64(v);
    #else
        v = __builtin_bswap64(v);
    #endif
        memcpy(p, &v, 8);
    }
    """
    uint64_t nnc_load_be64(const unsigned char *p) nogil
    void nnc_store_be64(unsigned char *p, uint64_t v) nogil

cdef enum:
    SUBSTREAMS = 4
    MAX_CODE_LENGTH = 15

MODE_EMPTY, MODE_CONSTANT, MODE_CODED = 0, 1, 2
MAX_ALPHABET_SIZE = 1 << 20
MAX_ESCAPE_BITS = 64
MAX_RUN_PREFIX = 32
DEFAULT_MAX_LENGTH = 12
DEFAULT_MAX_SPAN = 4096
INT64_MAX = (1 << 63) - 1
UINT64_MASK = (1 << 64) - 1


cdef inline uint64_t zigzag64(int64_t value) noexcept nogil:
    return (<uint64_t>value << 1) ^ <uint64_t>(value >> 63)


cdef inline int64_t unzigzag64(uint64_t code) noexcept nogil:
    return <int64_t>((code >> 1) ^ (0 - (code & 1)))


def _zigzag(value):
    return ((value << 1) ^ (value >> 63)) & UINT64_MASK


def _unzigzag(code):
    return (code >> 1) ^ -(code & 1)


# ---------------------------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------------------------

cdef struct BitWriter:
    uint8_t *out                 # first byte not yet complete
    uint64_t acc                 # the low nbits bits are pending
    int nbits


cdef inline void put_bits(BitWriter *w, uint64_t value, int width) noexcept nogil:
    """Append ``width`` (1..32) bits. Stores 8 bytes at ``out`` every time (no branch): the writer's buffer has
    8 bytes of slack, and the byte at ``out`` always holds the pending bits followed by zero padding."""
    w.acc = (w.acc << width) | value
    w.nbits += width                                 # 1 <= nbits <= 7 + 32
    nnc_store_be64(w.out, w.acc << (64 - w.nbits))
    w.out += w.nbits >> 3
    w.nbits &= 7


cdef inline void put_value(BitWriter *w, int64_t x, int64_t lo, uint64_t alphabet_size,
                           const uint32_t *codes, const uint8_t *lengths, int escape_bits) noexcept nogil:
    cdef uint64_t s = <uint64_t>x - <uint64_t>lo
    cdef uint64_t z
    # s < alphabet_size keeps codes[s] / lengths[s] in range; the escape entry sits at index alphabet_size
    if s < alphabet_size and lengths[s]:
        put_bits(w, codes[s], lengths[s])
        return
    put_bits(w, codes[alphabet_size], lengths[alphabet_size])
    z = zigzag64(x)
    if escape_bits > 32:
        put_bits(w, z >> 32, escape_bits - 32)
        put_bits(w, <uint32_t>z, 32)
    else:
        put_bits(w, z, escape_bits)


def encode(values, max_length=DEFAULT_MAX_LENGTH, max_span=DEFAULT_MAX_SPAN):
    """Stored bytes of the huffman stream for ``values`` (1-D int64), identical to the reference encoder's."""
    if not isinstance(values, np.ndarray) or values.dtype != np.int64 or values.ndim != 1:
        raise EncodeError("huffman encodes a 1-D int64 array")
    if not isinstance(max_length, int) or not 1 <= max_length <= MAX_CODE_LENGTH:
        raise EncodeError(f"huffman max_length must be an int in 1..{MAX_CODE_LENGTH}, got {max_length!r}")
    if not isinstance(max_span, int) or not 1 <= max_span <= 65535:
        raise EncodeError(f"huffman max_span must be an int in 1..65535, got {max_span!r}")
    values = np.ascontiguousarray(values)
    cdef const int64_t[::1] v = values
    cdef Py_ssize_t n = v.shape[0], i
    if n == 0:
        return bytes([MODE_EMPTY])
    cdef int64_t vmin = values.min(), vmax = values.max()
    if vmin == vmax:
        out = bytearray([MODE_CONSTANT])
        write_varint(out, _zigzag(vmin))
        return bytes(out)
    # §5.3.1.8 step 1: the densest window of at most max_span values; the rest is escaped
    if <uint64_t>vmax - <uint64_t>vmin < <uint64_t>max_span:
        lo, hi = vmin, vmax
    else:
        lo, hi = _choose_window(values, max_span)
    cdef int64_t c_lo = lo
    cdef uint64_t alphabet_size = hi - lo + 1
    hist = np.zeros((SUBSTREAMS, alphabet_size + 1), dtype=np.int64)
    cdef int64_t[:, ::1] h = hist
    cdef uint64_t s
    with nogil:
        for i in range(n):
            s = <uint64_t>v[i] - <uint64_t>c_lo
            if s > alphabet_size:
                s = alphabet_size          # h has alphabet_size + 1 columns: the last one counts escapes
            h[i & 3, s] += 1
    # step 2: the rarest direct symbols join the escape when more than 2**max_length symbols would be used
    weights = hist.sum(axis=0)
    demoted = _rare_symbols(weights, max_length)
    if demoted.size:
        hist[:, alphabet_size] += hist[:, demoted].sum(axis=1)
        hist[:, demoted] = 0
        weights = hist.sum(axis=0)
    cdef int escape_bits = 0
    has_escape = bool(weights[alphabet_size])
    if has_escape:
        escape_bits = _escape_bits(v, c_lo, alphabet_size, (weights[:alphabet_size] > 0).astype(np.uint8))
    else:
        weights = weights[:alphabet_size]
    # step 3: package-merge lengths and canonical codes (§5.3.1.5)
    lengths = _package_merge_lengths(weights, max_length)
    codes = _canonical_codes(lengths)
    header = bytearray([MODE_CODED])
    write_varint(header, _zigzag(lo))
    write_varint(header, alphabet_size)
    header.append(escape_bits)
    header += _code_length_bytes(lengths)
    # exact sub-stream sizes from the per-sub-stream histograms
    cost = np.zeros(alphabet_size + 1, dtype=np.int64)
    cost[:lengths.size] = lengths
    if has_escape:
        cost[alphabet_size] += escape_bits
    bits = [int(x) for x in hist @ cost]
    sizes = [(b + 7) // 8 for b in bits]
    for size in sizes[:SUBSTREAMS - 1]:
        write_varint(header, size)
    code_table = np.zeros(alphabet_size + 1, dtype=np.uint32)
    code_table[:codes.size] = codes
    length_table = np.zeros(alphabet_size + 1, dtype=np.uint8)
    length_table[:lengths.size] = lengths
    # each sub-stream is written to its own region of scratch, followed by the 8 bytes of slack put_bits needs
    scratch = np.empty(sum(sizes) + 8 * SUBSTREAMS, dtype=np.uint8)
    cdef uint8_t[::1] sc = scratch
    cdef const uint32_t[::1] ct = code_table
    cdef const uint8_t[::1] lt = length_table
    cdef BitWriter w[SUBSTREAMS]
    cdef Py_ssize_t offset = 0, k, groups = n // SUBSTREAMS
    starts = []
    for k in range(SUBSTREAMS):
        starts.append(offset)
        w[k].out = &sc[0] + offset
        w[k].acc = 0
        w[k].nbits = 0
        offset += sizes[k] + 8
    with nogil:
        for i in range(groups):                    # groups = n // 4, so 4 * i + 3 < n
            put_value(&w[0], v[4 * i], c_lo, alphabet_size, &ct[0], &lt[0], escape_bits)
            put_value(&w[1], v[4 * i + 1], c_lo, alphabet_size, &ct[0], &lt[0], escape_bits)
            put_value(&w[2], v[4 * i + 2], c_lo, alphabet_size, &ct[0], &lt[0], escape_bits)
            put_value(&w[3], v[4 * i + 3], c_lo, alphabet_size, &ct[0], &lt[0], escape_bits)
        for i in range(4 * groups, n):
            put_value(&w[i - 4 * groups], v[i], c_lo, alphabet_size, &ct[0], &lt[0], escape_bits)
    for k in range(SUBSTREAMS):
        written = (w[k].out - &sc[0]) - starts[k] + (1 if w[k].nbits else 0)
        if written != sizes[k]:
            raise RuntimeError(f"huffman encoder bug: sub-stream {k} is {written} bytes, expected {sizes[k]}")
        header += scratch[starts[k]:starts[k] + sizes[k]].tobytes()
    return bytes(header)


def _choose_window(values, max_span):
    """(lo, hi) of the window of at most max_span values holding the most elements; ties: the smallest lo."""
    unique, counts = np.unique(values, return_counts=True)
    ceiling = np.minimum(unique, np.int64(INT64_MAX - (max_span - 1))) + np.int64(max_span - 1)
    after = np.searchsorted(unique, ceiling, side="right")
    prefix = np.zeros(unique.size + 1, dtype=np.int64)
    np.cumsum(counts, out=prefix[1:])
    best = int(np.argmax(prefix[after] - prefix[:unique.size]))
    return int(unique[best]), int(unique[after[best] - 1])


def _rare_symbols(weights, max_length):
    """Direct symbols to demote into the escape (the last entry of ``weights``), rarest first, ties by symbol."""
    escape = weights.size - 1
    used = np.flatnonzero(weights[:escape])
    limit = 1 << max_length
    capacity = limit - 1 if weights[escape] or used.size > limit else limit
    if used.size <= capacity:
        return used[:0]
    order = np.lexsort((used, weights[used]))
    return used[order[:used.size - capacity]]


cdef int _escape_bits(const int64_t[::1] v, int64_t lo, uint64_t alphabet_size, const uint8_t[::1] direct):
    """Bits of the largest ZigZag code among escaped values (at least 1)."""
    cdef uint64_t seen = 0, s
    cdef Py_ssize_t i
    cdef int width = 0
    with nogil:
        for i in range(v.shape[0]):
            s = <uint64_t>v[i] - <uint64_t>lo
            if s >= alphabet_size or not direct[s]:      # s < alphabet_size = direct's size
                seen |= zigzag64(v[i])
    while seen:
        width += 1
        seen >>= 1
    return width if width else 1


def _package_merge_lengths(weights, int max_length):
    """Package-merge code lengths (§5.3.1.8 step 3) with the reference's exact order and tie rule."""
    used = np.flatnonzero(weights)
    order = used[np.lexsort((used, weights[used]))]
    leaf_weights = np.ascontiguousarray(weights[order], dtype=np.int64)
    cdef Py_ssize_t n = order.size
    merged_arr = np.empty(2 * n, dtype=np.int64)
    packages_arr = np.empty(n, dtype=np.int64)
    flags_arr = np.zeros((max_length, 2 * n), dtype=np.uint8)
    depth_arr = np.zeros(n, dtype=np.int64)
    cdef const int64_t[::1] leaves = leaf_weights
    cdef int64_t[::1] merged = merged_arr, packages = packages_arr, depth = depth_arr
    cdef uint8_t[:, ::1] flags = flags_arr
    cdef Py_ssize_t level, i, j, m, n_packages = 0, take, taken
    with nogil:
        for level in range(max_length):
            i = j = m = 0
            # merged has 2n slots: n leaves plus at most n - 1 packages
            while i < n or j < n_packages:
                if j == n_packages or (i < n and leaves[i] <= packages[j]):
                    merged[m] = leaves[i]
                    flags[level, m] = 1
                    i += 1
                else:
                    merged[m] = packages[j]
                    j += 1
                m += 1
            n_packages = m // 2
            for j in range(n_packages):
                packages[j] = merged[2 * j] + merged[2 * j + 1]
        take = 2 * n - 2
        for level in range(max_length - 1, -1, -1):
            taken = 0
            for i in range(take):          # take <= merged length at this level (package-merge invariant)
                taken += flags[level, i]
            for i in range(taken):
                depth[i] += 1
            take = 2 * (take - taken)
    lengths = np.zeros(weights.size, dtype=np.int64)
    lengths[order] = depth_arr
    return lengths


def _canonical_codes(lengths_arr):
    """§5.3.1.5 canonical codes: by length, then by symbol."""
    lengths_arr = np.ascontiguousarray(lengths_arr, dtype=np.int64)
    codes_arr = np.zeros(lengths_arr.size, dtype=np.uint32)
    cdef const int64_t[::1] lengths = lengths_arr
    cdef uint32_t[::1] codes = codes_arr
    cdef uint32_t count[MAX_CODE_LENGTH + 1]
    cdef uint32_t next_code[MAX_CODE_LENGTH + 1]
    cdef uint32_t code = 0
    cdef Py_ssize_t s
    cdef int length
    for length in range(MAX_CODE_LENGTH + 1):
        count[length] = 0
    for s in range(lengths.shape[0]):
        count[lengths[s]] += 1                 # package-merge lengths are 0..max_length <= 15
    count[0] = 0
    for length in range(1, MAX_CODE_LENGTH + 1):
        code = (code + count[length - 1]) << 1
        next_code[length] = code
    for s in range(lengths.shape[0]):
        if lengths[s]:
            codes[s] = next_code[lengths[s]]
            next_code[lengths[s]] += 1
    return codes_arr


cdef inline void put_field(bytearray out, uint64_t *acc, int *nbits, uint64_t value, int width):
    """Append ``width`` (<= 32) bits to the bit accumulator, moving whole bytes to ``out``."""
    acc[0] = (acc[0] << width) | value
    nbits[0] += width
    while nbits[0] >= 8:
        nbits[0] -= 8
        out.append(<uint8_t>(acc[0] >> nbits[0]))


def _code_length_bytes(lengths_arr):
    """§5.3.1.4 Code_Lengths, zero padded to a byte; the same greedy choices as the reference encoder."""
    lengths_arr = np.ascontiguousarray(lengths_arr, dtype=np.int64)
    cdef const int64_t[::1] table = lengths_arr
    cdef Py_ssize_t size = table.shape[0], i = 0, run
    cdef int64_t length, previous = 0
    cdef int width, one_by_one
    cdef uint64_t acc = 0
    cdef int nbits = 0
    out = bytearray()
    while i < size:
        length = table[i]
        if length == 0:
            run = 1
            while i + run < size and table[i + run] == 0:
                run += 1
            one_by_one = (1 if previous == 0 else 3 if previous == 1 else 7) + <int>min(run - 1, 1 << 30)
            width = 2 * bit_length(run) - 1
            if 3 + width < one_by_one:              # zero run, Exp-Golomb(run - 1): run in width bits
                put_field(out, &acc, &nbits, 0b111, 3)
                if width > 32:
                    put_field(out, &acc, &nbits, 0, width - 32)
                    width = 32
                put_field(out, &acc, &nbits, <uint64_t>run, width)
                previous = 0
                i += run
                continue
        if length == previous:
            put_field(out, &acc, &nbits, 0, 1)
        elif length == previous + 1:
            put_field(out, &acc, &nbits, 0b100, 3)
        elif length == previous - 1:
            put_field(out, &acc, &nbits, 0b101, 3)
        else:
            put_field(out, &acc, &nbits, (0b110 << 4) | <uint64_t>length, 7)
        previous = length
        i += 1
    if nbits:
        put_field(out, &acc, &nbits, 0, 8 - nbits)
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------------
# Decoder
# ---------------------------------------------------------------------------------------------------------------

cdef class _Cursor:
    """Byte and bit reads over the stream; every read compares what it needs with what is left."""
    cdef const uint8_t[::1] buf
    cdef Py_ssize_t n
    cdef Py_ssize_t pos          # next byte
    cdef Py_ssize_t bitpos       # next bit, during bit reads
    cdef str what

    def __cinit__(self, const uint8_t[::1] buf):
        self.buf = buf
        self.n = buf.shape[0]
        self.pos = 0

    cdef int u8(self, str what) except -1:
        if 1 > self.n - self.pos:
            raise TruncatedError(f"[R5.3.1-c] huffman stream ends inside {what} at byte {self.pos}")
        self.pos += 1
        return self.buf[self.pos - 1]

    cdef object varint(self, str what):
        cdef uint64_t value = 0
        cdef int i, byte
        for i in range(10):
            byte = self.u8(what)
            if i == 9 and (byte & 0x7F) > 1:
                raise FormatError(f"[R2-a] varint in huffman {what} is >= 2**64")
            value |= (<uint64_t>(byte & 0x7F)) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise FormatError(f"[R2-a] non-canonical varint in huffman {what}")
                return value
        raise FormatError(f"[R2-a] varint in huffman {what} is longer than 10 bytes")

    cdef int bit(self) except -1:
        # bitpos >> 3 < n is checked before the read
        if self.bitpos >> 3 >= self.n:
            raise TruncatedError(f"[R5.3.1-c] huffman {self.what} reads past its end")
        self.bitpos += 1
        return (self.buf[(self.bitpos - 1) >> 3] >> (-self.bitpos & 7)) & 1

    cdef int64_t bits(self, int width) except -1:
        cdef int64_t value = 0
        for _ in range(width):
            value = value << 1 | self.bit()
        return value


def decode(data, count, limits):
    """The ``count`` int64 values of the huffman stream ``data``, with the reference's checks in its order."""
    cdef const uint8_t[::1] buf = memoryview(data).cast("B")
    cursor = _Cursor(buf)
    mode = cursor.u8("Mode")
    if mode > MODE_CODED:
        raise FormatError(f"[R5.3.1-a] huffman Mode {mode} is not 0, 1 or 2")
    if (mode == MODE_EMPTY) != (count == 0):
        raise InconsistentError(f"[R5.3.1-b] huffman Mode {mode} does not fit Element_Count {count}")
    if mode == MODE_EMPTY:
        _check_no_trailing(cursor)
        return np.zeros(0, dtype=np.int64)
    if mode == MODE_CONSTANT:
        value = _unzigzag(cursor.varint("Value"))
        _check_no_trailing(cursor)
        limits.check("max_elements", count)
        limits.check_expansion(count, cursor.n)
        return np.full(count, value, dtype=np.int64)
    return _decode_coded(cursor, count, limits)


def _check_no_trailing(_Cursor cursor):
    if cursor.pos != cursor.n:
        raise TrailingDataError(f"[R5.3.1-d] {cursor.n - cursor.pos} bytes after the end of the huffman stream")


def _decode_coded(_Cursor cursor, count, limits):
    lo = _unzigzag(cursor.varint("Min_Value"))
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
    lengths_arr = np.zeros(table_size, dtype=np.uint8)
    _read_code_lengths(cursor, lengths_arr)
    _check_kraft(lengths_arr)
    sizes = [cursor.varint(f"Substream_Length_{k}") for k in range(SUBSTREAMS - 1)]
    left = cursor.n - cursor.pos
    if sum(sizes) > left:
        raise TruncatedError(f"[R5.3.1-n] huffman sub-streams declare {sum(sizes)} bytes, {left} are present")
    sizes.append(left - sum(sizes))
    symbol_counts = [(count - k + SUBSTREAMS - 1) // SUBSTREAMS for k in range(SUBSTREAMS)]
    for k in range(SUBSTREAMS):
        if symbol_counts[k] > 8 * sizes[k]:
            raise TruncatedError(f"[R5.3.1-o] huffman sub-stream {k} holds {sizes[k]} bytes, too few for "
                                 f"{symbol_counts[k]} symbols of at least one bit")
    # count <= 8 * (bytes present) from here on: it fits Py_ssize_t and bounds the allocation
    cdef int max_len = int(lengths_arr.max())
    table_arr = _lookup_table(lengths_arr, max_len)
    out_arr = np.empty(count, dtype=np.int64)
    starts = [cursor.pos + sum(sizes[:k]) for k in range(SUBSTREAMS)]
    positions = np.array([8 * x for x in starts], dtype=np.int64)
    cdef uint32_t escape_symbol = alphabet_size if escape_bits else 0xFFFFFFFF
    _decode_symbols(cursor.buf, table_arr, max_len, lo, escape_symbol, escape_bits, positions, out_arr)
    # §5.3.1.6 end of each sub-stream, in order: truncation, unused bytes, non-zero padding
    cdef int64_t used
    cdef Py_ssize_t k_
    for k_ in range(SUBSTREAMS):
        used = positions[k_] - 8 * starts[k_]
        if used > 8 * <int64_t>sizes[k_]:
            raise TruncatedError(f"[R5.3.1-c] huffman sub-stream {k_} reads past its end")
        if (used + 7) // 8 < sizes[k_]:
            raise TrailingDataError(f"[R5.3.1-p] huffman sub-stream {k_} has {sizes[k_] - (used + 7) // 8} "
                                    "unused bytes")
        # used <= 8 * sizes[k_] (checked above), so the last used byte is inside the stream
        if used & 7 and cursor.buf[starts[k_] + used // 8] & (0xFF >> (used & 7)):
            raise FormatError(f"[R5.3.1-q] non-zero padding bits at the end of huffman sub-stream {k_}")
    return out_arr


def _read_code_lengths(_Cursor cursor, uint8_t[::1] lengths):
    """§5.3.1.4 Code_Lengths into ``lengths``, then the zero padding to the next byte."""
    cdef Py_ssize_t size = lengths.shape[0], filled = 0, run
    cdef int previous = 0, length, zeros
    cursor.bitpos = 8 * cursor.pos
    cursor.what = "Code_Lengths"
    while filled < size:
        if cursor.bit() == 0:
            lengths[filled] = previous                     # filled < size by the loop condition
            filled += 1
        elif cursor.bit() == 0:
            length = previous - 1 if cursor.bit() else previous + 1
            if not 0 <= length <= MAX_CODE_LENGTH:
                raise FormatError(f"[R5.3.1-i] huffman code length {length} outside 0..{MAX_CODE_LENGTH}")
            lengths[filled] = length
            filled += 1
        elif cursor.bit() == 0:
            lengths[filled] = cursor.bits(4)
            filled += 1
        else:
            zeros = 0
            while cursor.bit() == 0:
                zeros += 1
                if zeros > MAX_RUN_PREFIX:
                    raise FormatError("[R5.3.1-j] huffman zero run with an Exp-Golomb prefix over "
                                      f"{MAX_RUN_PREFIX} bits")
            run = (<int64_t>1 << zeros) | cursor.bits(zeros)
            if run > size - filled:
                raise FormatError(f"[R5.3.1-j] huffman zero run of {run} passes the end of the table")
            filled += run                                  # lengths was zero-filled
        previous = lengths[filled - 1]
    while cursor.bitpos & 7:
        if cursor.bit():
            raise FormatError("[R5.3.1-k] non-zero padding after the huffman Code_Lengths")
    cursor.pos = cursor.bitpos >> 3


def _check_kraft(lengths):
    present = lengths[lengths > 0].astype(np.int64)
    kraft = int(np.sum(np.left_shift(1, MAX_CODE_LENGTH - present)))
    if kraft > 1 << MAX_CODE_LENGTH:
        raise FormatError("[R5.3.1-l] huffman code lengths are over-subscribed (Kraft sum > 1)")
    if kraft < 1 << MAX_CODE_LENGTH:
        raise FormatError("[R5.3.1-m] huffman code lengths are incomplete (Kraft sum < 1, or fewer than 2 codes)")


def _lookup_table(lengths_arr, int max_len):
    """2**max_len entries, each (symbol << 4 | length) of the code that prefixes that max_len-bit value."""
    table_arr = np.zeros(1 << max_len, dtype=np.uint32)
    cdef uint32_t[::1] table = table_arr
    cdef const uint8_t[::1] lengths = lengths_arr
    cdef uint32_t next_code[MAX_CODE_LENGTH + 2]
    cdef uint32_t count[MAX_CODE_LENGTH + 1]
    cdef uint32_t code = 0, first, last, entry
    cdef Py_ssize_t s, j
    cdef int length
    for length in range(MAX_CODE_LENGTH + 1):
        count[length] = 0
    for s in range(lengths.shape[0]):
        count[lengths[s]] += 1
    count[0] = 0
    for length in range(1, MAX_CODE_LENGTH + 1):
        code = (code + count[length - 1]) << 1
        next_code[length] = code
    with nogil:
        for s in range(lengths.shape[0]):
            length = lengths[s]
            if length:
                # the Kraft check passed, so every code of this length fits in max_len bits: last <= 2**max_len
                first = next_code[length] << (max_len - length)
                last = (next_code[length] + 1) << (max_len - length)
                next_code[length] += 1
                entry = <uint32_t>(s << 4) | <uint32_t>length
                for j in range(first, last):
                    table[j] = entry
    return table_arr


cdef inline uint64_t peek64(const uint8_t *p, Py_ssize_t n, int64_t bitpos) noexcept nogil:
    """The 64 bits from ``bitpos`` on, zero past the end of the buffer (never read)."""
    cdef int64_t byte = bitpos >> 3
    cdef uint64_t word = 0
    cdef int j
    if byte <= n - 8:                  # 8 bytes left from byte: the unaligned load stays inside the buffer
        word = nnc_load_be64(p + byte)
    else:
        for j in range(8):
            word <<= 8
            if byte + j < n:
                word |= p[byte + j]
    return word << (bitpos & 7)


cdef inline uint64_t read_bits(const uint8_t *p, Py_ssize_t n, int64_t bitpos, int width) noexcept nogil:
    """``width`` (1..64) bits from ``bitpos``, MSB first; zeros past the end of the buffer."""
    if width > 32:
        return (read_bits(p, n, bitpos, width - 32) << 32) | read_bits(p, n, bitpos + width - 32, 32)
    return peek64(p, n, bitpos) >> (64 - width)


cdef inline int64_t decode_one(const uint8_t *p, Py_ssize_t n, int64_t *bitpos, const uint32_t *table,
                               int shift, uint64_t lo, uint32_t escape_symbol, int escape_bits) noexcept nogil:
    # table has 2**max_len entries and the index is a max_len-bit value (shift = 64 - max_len)
    cdef uint32_t entry = table[peek64(p, n, bitpos[0]) >> shift]
    cdef uint32_t symbol = entry >> 4
    bitpos[0] += entry & 15
    if symbol == escape_symbol:
        bitpos[0] += escape_bits
        return unzigzag64(read_bits(p, n, bitpos[0] - escape_bits, escape_bits))
    return <int64_t>(lo + symbol)      # lo + Alphabet_Size - 1 <= 2**63 - 1 was checked ([R5.3.1-f])


def _decode_symbols(const uint8_t[::1] buf, table_arr, int max_len, int64_t lo, uint32_t escape_symbol,
                    int escape_bits, int64_t[::1] pos, int64_t[::1] out):
    """Element i from sub-stream i mod 4; ``pos`` holds each sub-stream's bit position, updated in place.

    Reads past a sub-stream's end see the next sub-stream's bytes or zeros; the caller's end check turns any
    such read into [R5.3.1-c] (a position only grows, so an overrun cannot be undone).
    """
    cdef const uint32_t[::1] table = table_arr
    cdef const uint8_t *p = &buf[0]
    cdef const uint32_t *t = &table[0]
    cdef Py_ssize_t n = buf.shape[0], count = out.shape[0], groups = count // SUBSTREAMS, i
    cdef int shift = 64 - max_len
    cdef uint64_t ulo = <uint64_t>lo
    cdef int64_t p0 = pos[0], p1 = pos[1], p2 = pos[2], p3 = pos[3]
    with nogil:
        for i in range(groups):                    # groups = count // 4, so 4 * i + 3 < count
            out[4 * i] = decode_one(p, n, &p0, t, shift, ulo, escape_symbol, escape_bits)
            out[4 * i + 1] = decode_one(p, n, &p1, t, shift, ulo, escape_symbol, escape_bits)
            out[4 * i + 2] = decode_one(p, n, &p2, t, shift, ulo, escape_symbol, escape_bits)
            out[4 * i + 3] = decode_one(p, n, &p3, t, shift, ulo, escape_symbol, escape_bits)
        if 4 * groups < count:
            out[4 * groups] = decode_one(p, n, &p0, t, shift, ulo, escape_symbol, escape_bits)
        if 4 * groups + 1 < count:
            out[4 * groups + 1] = decode_one(p, n, &p1, t, shift, ulo, escape_symbol, escape_bits)
        if 4 * groups + 2 < count:
            out[4 * groups + 2] = decode_one(p, n, &p2, t, shift, ulo, escape_symbol, escape_bits)
    pos[0], pos[1], pos[2], pos[3] = p0, p1, p2, p3
