"""cabac integer stream coding (spec/cabac.md, section 5.3.2): the reference, written to be read beside the spec.

``encode(values, **params) -> bytes`` and ``decode(data, count, limits) -> int64 ndarray``. The Cython twin
``nncodec.kernels.cython.cabac`` produces the same bytes and arrays and raises the same error classes.
"""

import numpy as np

from ...errors import EncodeError, FormatError, LimitExceededError, TrailingDataError, TruncatedError

__all__ = ["encode", "decode"]

# §5.3.2.1 header constants
MODE_SIGNED, MODE_ONE_SIDED, MODE_TWO_SIDED = 0, 1, 2
MAX_GT_FLAGS = 32
MAX_SEGMENTS = 64
INT64_MAX = 2**63 - 1
DEFAULT_RATES = ((8, 12),) * 5
FIXED_HEADER_BYTES = 7

# §5.3.2.3 arithmetic coder
STATE_ONE = 1 << 22             # estimator states are probabilities of a 0 bin in units of 2**-22
STATE_HALF = 1 << 21
RANGE_TOP = 1 << 24             # range is renormalised to >= 2**24 after every bin
MASK32 = 0xFFFFFFFF

# §5.3.2.5 binarization and §5.3.2.6 context layout
PREFIX_ESCAPE = 20
MAG_CLASSES = 12
MAG_CLIP = 1 << 16
OFF_SIG = 0
OFF_SIGN = OFF_SIG + MAG_CLASSES * 3
OFF_GT = OFF_SIGN + 9 * 8
OFF_PREFIX = OFF_GT + MAX_GT_FLAGS * MAG_CLASSES * 3
OFF_SUFFIX = OFF_PREFIX + PREFIX_ESCAPE * MAG_CLASSES
N_CONTEXTS = OFF_SUFFIX + PREFIX_ESCAPE - 1
GROUP_STARTS = (OFF_SIG, OFF_SIGN, OFF_GT, OFF_PREFIX, OFF_SUFFIX, N_CONTEXTS)


# ---- §5.3.2.4 probability estimator -------------------------------------------------------------------------------

class _Context:
    """Two estimates of P(bin = 0), a fast and a slow one, and the number of bins coded so far."""

    __slots__ = ("a", "b", "seen", "fast", "slow")

    def __init__(self, rate_byte):
        self.a = self.b = STATE_HALF
        self.seen = 0
        self.fast, self.slow = rate_byte >> 4, rate_byte & 15

    def probability(self):
        # §5.3.2.4 p = max(1, (a + b) >> 8): a 15-bit probability of a 0 bin, never 0
        return max(1, (self.a + self.b) >> 8)

    def adapt(self, bin):
        # §5.3.2.4 warm-up: the shifts start at floor(log2(seen + 2)) and grow to the signalled rates
        warm = (self.seen + 2).bit_length() - 1
        fast, slow = min(self.fast, warm), min(self.slow, warm)
        self.seen = min(self.seen + 1, 65535)
        if bin == 0:
            self.a += (STATE_ONE - self.a) >> fast
            self.b += (STATE_ONE - self.b) >> slow
        else:
            self.a -= self.a >> fast
            self.b -= self.b >> slow


def _new_contexts(rates):
    contexts = []
    for group, rate_byte in enumerate(rates):
        contexts += [_Context(rate_byte) for _ in range(GROUP_STARTS[group + 1] - GROUP_STARTS[group])]
    return contexts


# ---- §5.3.2.3 binary arithmetic coder -----------------------------------------------------------------------------

class _Encoder:
    """Range encoder: 33-bit low with a cache byte and pending 0xFF bytes for carry propagation."""

    def __init__(self):
        self.low, self.range = 0, MASK32
        self.cache, self.pending, self.started = 0, 0, False
        self.out = bytearray()

    def _put(self, byte):
        if self.started:
            self.out.append(byte)
        self.started = True     # §5.3.2.3 the first byte the shifter produces is always 0 and is not stored

    def _shift_low(self):
        if self.low < 0xFF000000 or self.low >= 1 << 32:
            carry = self.low >> 32
            self._put((self.cache + carry) & 0xFF)
            for _ in range(self.pending):
                self._put((0xFF + carry) & 0xFF)
            self.pending = 0
            self.cache = (self.low >> 24) & 0xFF
        else:
            self.pending += 1
        self.low = (self.low & 0x00FFFFFF) << 8

    def _renormalise(self):
        while self.range < RANGE_TOP:
            self.range <<= 8
            self._shift_low()

    def encode_bin(self, context, bin):
        bound = (self.range >> 15) * context.probability()
        if bin == 0:
            self.range = bound
        else:
            self.low += bound
            self.range -= bound
        context.adapt(bin)
        self._renormalise()

    def encode_bypass(self, bits, width):
        # §5.3.2.3 a bypass field: chunks of at most 16 bits, the most significant chunk first
        chunk = width - 16 * ((width - 1) >> 4)
        while width > 0:
            width -= chunk
            self.range >>= chunk
            self.low += ((bits >> width) & ((1 << chunk) - 1)) * self.range
            self._renormalise()
            chunk = 16

    def finish(self):
        # §5.3.2.3 termination: flush the 32 bits of low; the decoder ends with code == 0
        for _ in range(5):
            self._shift_low()
        return bytes(self.out)


class _Decoder:
    """Range decoder over ``data[start:end]``: any read at or past ``end`` is a TruncatedError."""

    def __init__(self, data, start, end, segment):
        self.data, self.pos, self.end, self.segment = data, start, end, segment
        self.element = 0
        self.code = 0
        for _ in range(4):
            self.code = (self.code << 8) | self._next_byte()
        if self.code == MASK32:
            raise FormatError(f"[R5.3.2-i] cabac segment {segment} starts with FF FF FF FF")
        self.range = MASK32

    def _next_byte(self):
        if self.pos >= self.end:
            raise TruncatedError(f"[R5.3.2-a] cabac stream ends inside segment {self.segment}, "
                                 f"element {self.element}")
        self.pos += 1
        return self.data[self.pos - 1]

    def _renormalise(self):
        while self.range < RANGE_TOP:
            self.range = (self.range << 8) & MASK32
            self.code = ((self.code << 8) | self._next_byte()) & MASK32

    def decode_bin(self, context):
        bound = (self.range >> 15) * context.probability()
        if self.code < bound:
            self.range, bin = bound, 0
        else:
            self.code -= bound
            self.range -= bound
            bin = 1
        context.adapt(bin)
        self._renormalise()
        return bin

    def decode_bypass(self, width):
        chunk = width - 16 * ((width - 1) >> 4)
        bits = 0
        while width > 0:
            width -= chunk
            self.range >>= chunk
            value = self.code // self.range     # < 2**chunk because code < range (rule R5.3.2-i)
            self.code -= value * self.range
            bits = (bits << chunk) | value
            self._renormalise()
            chunk = 16
        return bits


# ---- §5.3.2.6 context selection -----------------------------------------------------------------------------------

def _mag_class(m):
    """0, 1, then two classes per octave (2, 3 | 4, 5 | ...), capped at MAG_CLASSES - 1."""
    if m < 2:
        return m
    e = m.bit_length() - 1
    return min(2 * e + ((m >> (e - 1)) & 1), MAG_CLASSES - 1)


def _sign_class(x):
    return 0 if x == 0 else (1 if x > 0 else 2)


def _neighbourhood(p1, p2):
    """(magnitude class, significance context, sign context) from the two previous levels of the row."""
    a1, a2 = min(abs(p1), MAG_CLIP), min(abs(p2), MAG_CLIP)
    mag = _mag_class(2 * a1 + a2)
    s1 = _sign_class(p1)
    sig = OFF_SIG + mag * 3 + s1
    sign = OFF_SIGN + (s1 * 3 + _sign_class(p2)) * 8 + min(_mag_class(a1), 7)
    return mag, sig, sign


def _relation(p1, negative):
    # §5.3.2.6 gt contexts see whether the level has the sign of the previous one
    return 0 if p1 == 0 else (1 if (p1 < 0) == negative else 2)


class _Truncation:
    """§5.3.2.5 where the bounded modes shorten the binarization."""

    def __init__(self, mode, gt_flags, max_mag):
        self.bounded = mode != MODE_SIGNED
        # no gt flag for k = max_mag: the level can only be max_mag then
        self.gt_limit = min(gt_flags, max_mag - 1) if self.bounded else gt_flags
        self.prefix_cap = PREFIX_ESCAPE
        if self.bounded and max_mag > gt_flags:
            self.prefix_cap = min(PREFIX_ESCAPE, (max_mag - gt_flags).bit_length() - 1)


# ---- encoder ------------------------------------------------------------------------------------------------------

def _encode_segment(values, rates, gt_flags, mode, max_mag, row_length):
    enc = _Encoder()
    ctx = _new_contexts(rates)
    cut = _Truncation(mode, gt_flags, max_mag)
    p1 = p2 = 0
    for i, x in enumerate(values):
        if row_length and i % row_length == 0:
            p1 = p2 = 0                         # §5.3.2.6 a row starts with an empty neighbourhood
        x = int(x)
        magnitude, negative = abs(x), x < 0
        if mode == MODE_SIGNED or max_mag:      # §5.3.2.5 Max_Magnitude 0: every level is 0, no bins
            mag, sig, sign = _neighbourhood(p1, p2)
            enc.encode_bin(ctx[sig], int(magnitude != 0))
            if magnitude:
                if mode != MODE_ONE_SIDED:
                    enc.encode_bin(ctx[sign], int(negative))
                gt_base = OFF_GT + mag * 3 + _relation(p1, negative)
                for k in range(1, cut.gt_limit + 1):
                    enc.encode_bin(ctx[gt_base + (k - 1) * MAG_CLASSES * 3], int(magnitude > k))
                    if magnitude == k:
                        break
                if magnitude > gt_flags:
                    _encode_remainder(enc, ctx, mag, magnitude - gt_flags - 1, cut.prefix_cap)
        p2, p1 = p1, x
    return enc.finish()


def _encode_remainder(enc, ctx, mag, rem, prefix_cap):
    # §5.3.2.5 Exp-Golomb order 0 of rem: `length` context-coded 1 bins, a 0 bin (unless truncated), then
    # the `length` bits of rem + 1 below its leading 1: the first context-coded, the rest bypass
    length = min((rem + 1).bit_length() - 1, PREFIX_ESCAPE)
    for j in range(length):
        enc.encode_bin(ctx[OFF_PREFIX + j * MAG_CLASSES + mag], 1)
    if length == PREFIX_ESCAPE:
        # §5.3.2.5 escape: x = rem - (2**20 - 1) as a 6-bit bit length n, then the n - 1 bits below its leading 1
        x = rem - ((1 << PREFIX_ESCAPE) - 1)
        enc.encode_bypass(x.bit_length(), 6)
        if x.bit_length() > 1:
            enc.encode_bypass(x, x.bit_length() - 1)
        return
    if length < prefix_cap:
        enc.encode_bin(ctx[OFF_PREFIX + length * MAG_CLASSES + mag], 0)
    t = rem + 1
    if length:
        enc.encode_bin(ctx[OFF_SUFFIX + length - 1], (t >> (length - 1)) & 1)
        if length > 1:
            enc.encode_bypass(t, length - 1)


def _varint(value):
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _segment_bounds(count, segments):
    # §5.3.2.2 segment i holds the elements [i * count // S, (i + 1) * count // S)
    return [(i * count // segments, (i + 1) * count // segments) for i in range(segments)]


def encode(values, gt_flags=4, rates=None, row_length=0, bounded=None, max_magnitude=None, segments=None):
    """The cabac stream (spec/cabac.md) of ``values``, a 1-D C-contiguous int64 array.

    ``gt_flags``: greater-than-k flags, 0..32. ``rates``: five (fast, slow) estimator shifts in 1..15 for the
    context groups sig, sign, gt, prefix, suffix. ``row_length``: elements per row, 0 for none. ``bounded``: None
    (one-sided when no value is negative, else signed), False, "one-sided" or "two-sided"; ``max_magnitude``:
    the bound of a bounded mode (default: the largest magnitude present). ``segments``: independently coded parts,
    1..64 (default: 2 from 2**17 elements on, else 1). Raises EncodeError on parameters it cannot honour.
    """
    count = len(values)
    if count == 0:
        return b""                              # §5.3.2.2 an empty stream codes 0 elements
    rates = DEFAULT_RATES if rates is None else tuple(tuple(pair) for pair in rates)
    if len(rates) != 5 or any(len(pair) != 2 or not all(1 <= r <= 15 for r in pair) for pair in rates):
        raise EncodeError(f"cabac rates must be 5 (fast, slow) shift pairs in 1..15, got {rates!r}")
    if not 0 <= gt_flags <= MAX_GT_FLAGS:
        raise EncodeError(f"cabac gt_flags must be in 0..{MAX_GT_FLAGS}, got {gt_flags}")
    if not 0 <= row_length < 2**64:
        raise EncodeError(f"cabac row_length must be in 0..2**64-1, got {row_length}")
    if segments is None:
        segments = 2 if count >= 1 << 17 else 1
    if not 1 <= segments <= min(MAX_SEGMENTS, count):
        raise EncodeError(f"cabac segments must be in 1..min(64, count), got {segments}")
    lo, hi = int(np.min(values)), int(np.max(values))
    if bounded is None:
        bounded = "one-sided" if lo >= 0 else False
    if bounded is False:
        mode, max_mag = MODE_SIGNED, 0
    elif bounded in ("one-sided", "two-sided"):
        mode = MODE_ONE_SIDED if bounded == "one-sided" else MODE_TWO_SIDED
        if mode == MODE_ONE_SIDED and lo < 0:
            raise EncodeError(f"cabac one-sided mode needs values >= 0, found {lo}")
        largest = hi if mode == MODE_ONE_SIDED else max(hi, -lo)
        max_mag = largest if max_magnitude is None else max_magnitude
        if not largest <= max_mag <= INT64_MAX:
            raise EncodeError(f"cabac max_magnitude {max_mag} must be in {largest}..2**63-1")
    else:
        raise EncodeError(f"cabac bounded must be None, False, 'one-sided' or 'two-sided', got {bounded!r}")
    rate_bytes = bytes((fast << 4) | slow for fast, slow in rates)
    bodies = [_encode_segment(values[lo_i:hi_i].tolist(), rate_bytes, gt_flags, mode, max_mag, row_length)
              for lo_i, hi_i in _segment_bounds(count, segments)]
    # §5.3.2.1 header: Flags, Gt_Flags, Rates[5], Row_Length, [Max_Magnitude], Segment_Count, Segment_Length[S-1]
    header = bytes([mode, gt_flags]) + rate_bytes + _varint(row_length)
    if mode != MODE_SIGNED:
        header += _varint(max_mag)
    header += _varint(segments) + b"".join(_varint(len(body)) for body in bodies[:segments - 1])
    return header + b"".join(bodies)


# ---- decoder ------------------------------------------------------------------------------------------------------

class _Header:
    """The parsed §5.3.2.1 header."""

    def __init__(self, data, count):
        self.data = data
        self.pos = 0
        if len(data) < FIXED_HEADER_BYTES:
            raise TruncatedError(f"[R5.3.2-a] cabac stream of {len(data)} bytes is shorter than its "
                                 f"{FIXED_HEADER_BYTES} fixed header bytes")
        self.mode = data[0]
        if self.mode > MODE_TWO_SIDED:
            raise FormatError(f"[R5.3.2-b] cabac Flags byte is {self.mode:#04x}: reserved bits set or Mode 3")
        self.gt_flags = data[1]
        if self.gt_flags > MAX_GT_FLAGS:
            raise FormatError(f"[R5.3.2-c] cabac Gt_Flags is {self.gt_flags}, more than {MAX_GT_FLAGS}")
        self.rates = bytes(data[2:7])
        for i, rate in enumerate(self.rates):
            if rate >> 4 == 0 or rate & 15 == 0:
                raise FormatError(f"[R5.3.2-d] cabac Rates[{i}] is {rate:#04x}: a shift of 0")
        self.pos = FIXED_HEADER_BYTES
        self.row_length = self._varint("Row_Length")
        self.max_mag = 0
        if self.mode != MODE_SIGNED:
            self.max_mag = self._varint("Max_Magnitude")
            if self.max_mag > INT64_MAX:
                raise FormatError(f"[R5.3.2-e] cabac Max_Magnitude {self.max_mag} is above 2**63-1")
        self.segments = self._varint("Segment_Count")
        if not 1 <= self.segments <= min(MAX_SEGMENTS, count):
            raise FormatError(f"[R5.3.2-j] cabac Segment_Count {self.segments} is not in 1..min(64, {count})")
        self.lengths = [self._varint("Segment_Length") for _ in range(self.segments - 1)]
        self.body_start = self.pos
        remaining = len(data) - self.pos
        if sum(self.lengths) > remaining:
            raise TruncatedError(f"[R5.3.2-a] cabac segments declare {sum(self.lengths)} bytes, "
                                 f"{remaining} are present")
        self.lengths.append(remaining - sum(self.lengths))

    def _varint(self, what):
        # §2 canonical unsigned LEB128, at most 10 bytes, value < 2**64
        value = 0
        for i in range(10):
            if self.pos >= len(self.data):
                raise TruncatedError(f"[R5.3.2-a] cabac stream ends inside {what}")
            byte = self.data[self.pos]
            self.pos += 1
            if i == 9 and (byte & 0x7F) > 1:
                raise FormatError(f"[R2-a] cabac {what} varint is >= 2**64")
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise FormatError(f"[R2-a] cabac {what} varint is not canonical")
                return value
        raise FormatError(f"[R2-a] cabac {what} varint is longer than 10 bytes")


def _decode_segment(dec, out, lo, hi, h, budget):
    ctx = _new_contexts(h.rates)
    cut = _Truncation(h.mode, h.gt_flags, h.max_mag)
    limit = INT64_MAX if h.mode == MODE_SIGNED else h.max_mag
    bins = 0
    p1 = p2 = 0
    for i in range(lo, hi):
        dec.element = i
        if h.row_length and (i - lo) % h.row_length == 0:
            p1 = p2 = 0
        magnitude, negative = 0, 0
        if h.mode == MODE_SIGNED or h.max_mag:
            mag, sig, sign = _neighbourhood(p1, p2)
            bins += 1
            if dec.decode_bin(ctx[sig]):
                if h.mode != MODE_ONE_SIDED:
                    bins += 1
                    negative = dec.decode_bin(ctx[sign])
                gt_base = OFF_GT + mag * 3 + _relation(p1, negative)
                k = 1
                while k <= cut.gt_limit:
                    bins += 1
                    if not dec.decode_bin(ctx[gt_base + (k - 1) * MAG_CLASSES * 3]):
                        break
                    k += 1
                magnitude = k
                if k > h.gt_flags:
                    rem, used = _decode_remainder(dec, ctx, mag, cut.prefix_cap)
                    bins += used
                    magnitude = h.gt_flags + 1 + rem
        # §5.3.2.7 a level must fit int64 (signed mode) or Max_Magnitude (bounded modes)
        if magnitude > limit + (negative and h.mode == MODE_SIGNED):
            raise FormatError(f"[R5.3.2-f] cabac element {i}: magnitude outside the range the header allows")
        if bins > budget:
            raise LimitExceededError(f"[R6] max_bins_per_element: cabac element {i} exceeds the segment's budget "
                                     f"of {budget} bins", limit="max_bins_per_element", declared=None,
                                     maximum=budget)
        value = -magnitude if negative else magnitude
        out[i] = value
        p2, p1 = p1, value


def _decode_remainder(dec, ctx, mag, prefix_cap):
    """(rem, bins spent) of §5.3.2.5."""
    length = 0
    while length < prefix_cap:
        if not dec.decode_bin(ctx[OFF_PREFIX + length * MAG_CLASSES + mag]):
            length += 1
            return _suffix(dec, ctx, length - 1, bins=length)
        length += 1
    if length == PREFIX_ESCAPE:
        n = dec.decode_bypass(6)
        x = 0
        if n:
            x = 1 if n == 1 else (1 << (n - 1)) | dec.decode_bypass(n - 1)
        return x + (1 << PREFIX_ESCAPE) - 1, length + 6 + max(n - 1, 0)
    return _suffix(dec, ctx, length, bins=length)


def _suffix(dec, ctx, length, bins):
    t = 1
    if length:
        t = 2 | dec.decode_bin(ctx[OFF_SUFFIX + length - 1])
        if length > 1:
            t = (t << (length - 1)) | dec.decode_bypass(length - 1)
    return t - 1, bins + length


def decode(data, count, limits):
    """``count`` int64 levels from ``data``, exactly the bytes of one cabac stream (spec/cabac.md).

    Checks ``count`` against ``limits.max_elements`` and ``limits.max_expansion`` before allocating and spends at
    most ``limits.max_bins_per_element`` bins per element of each segment. Raises only DecodeError subclasses.
    """
    data = bytes(data)
    limits.check("max_elements", count)
    limits.check_expansion(count, len(data))   # at least one byte per element of the container's check
    if count == 0:
        if data:
            raise TrailingDataError(f"[R5.3.2-g] a cabac stream of 0 elements must be empty, found {len(data)} bytes")
        return np.zeros(0, dtype=np.int64)
    h = _Header(data, count)
    out = [0] * count
    start = h.body_start
    for segment, ((lo, hi), length) in enumerate(zip(_segment_bounds(count, h.segments), h.lengths)):
        dec = _Decoder(data, start, start + length, segment)
        _decode_segment(dec, out, lo, hi, h, limits.max_bins_per_element * (hi - lo))
        if dec.pos != dec.end:
            raise TrailingDataError(f"[R5.3.2-g] cabac segment {segment} has {dec.end - dec.pos} bytes after "
                                    f"its last code byte")
        if dec.code:
            raise FormatError(f"[R5.3.2-h] cabac segment {segment} does not end on its final interval")
        start += length
    return np.array(out, dtype=np.int64)
