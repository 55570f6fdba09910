# cython: language_level=3
"""Cython twin of nncodec.reference.cabac (spec/cabac.md, section 5.3.2): same bytes, arrays and error classes.

The encoder and the decoder share the context selection (``_context_offsets``) and the estimator update
(``_adapt``); every byte read compares the read position with the stream end first.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

from .bits cimport bit_length

from ...errors import EncodeError, FormatError, LimitExceededError, TrailingDataError, TruncatedError
from ..parallel import inner_threads_allowed

__all__ = ["encode", "decode"]

cdef extern from *:
    int __builtin_clzll(unsigned long long x) nogil
    int __builtin_clz(unsigned int x) nogil

cdef enum:
    STATE_ONE = 1 << 22
    STATE_HALF = 1 << 21
    RANGE_TOP = 1 << 24
    MAX_GT_FLAGS = 32
    PREFIX_ESCAPE = 20
    MAG_CLASSES = 12
    OFF_SIG = 0
    OFF_SIGN = OFF_SIG + MAG_CLASSES * 3
    OFF_GT = OFF_SIGN + 9 * 8
    OFF_PREFIX = OFF_GT + MAX_GT_FLAGS * MAG_CLASSES * 3
    OFF_SUFFIX = OFF_PREFIX + PREFIX_ESCAPE * MAG_CLASSES
    N_CONTEXTS = OFF_SUFFIX + PREFIX_ESCAPE - 1
    MODE_SIGNED = 0
    MODE_ONE_SIDED = 1
    MODE_TWO_SIDED = 2
    MAX_SEGMENTS = 64

DEFAULT_RATES = ((8, 12),) * 5
INT64_MAX = 2**63 - 1
cdef uint64_t INT64_MAX_MAG = 0x7FFFFFFFFFFFFFFF


cdef struct Context:
    uint32_t a          # fast estimate of P(bin = 0), units of 2**-22
    uint32_t b          # slow estimate
    uint16_t p          # max(1, (a + b) >> 8), refreshed by every update: coding a bin reads it directly
    uint16_t countdown  # bins until warm grows: warm = bitlen(seen + 2) - 1 without counting seen
    uint8_t warm
    uint8_t shift_a     # min(fast, warm)
    uint8_t shift_b     # min(slow, warm)
    uint8_t rates       # fast << 4 | slow, as in the header


cdef struct Neighbourhood:
    uint32_t a1         # min(|p1|, 63): every class of spec 5.3.2.6 is the same as with its clip at 2**16
    uint32_t a2         # min(|p2|, 63)
    int s1              # 0: p1 == 0, 1: p1 > 0, 2: p1 < 0
    int s2
    int sig             # offset of the significance context
    int sign            # offset of the sign context
    int mag             # magnitude class of 2*|p1| + |p2|


cdef inline uint64_t _magnitude(int64_t x) noexcept nogil:
    return (<uint64_t>0) - <uint64_t>x if x < 0 else <uint64_t>x


cdef inline void _truncation(int mode, uint64_t max_mag, int gt_flags, uint64_t* gt_limit,
                             int* prefix_cap) noexcept nogil:
    # §5.3.2.5 truncation in the bounded modes: no gt flag for k = max_mag, a prefix no longer than max_mag needs;
    # shared by the encoder and the decoder so both truncate identically
    gt_limit[0] = <uint64_t>gt_flags
    if mode != MODE_SIGNED and max_mag <= gt_limit[0]:
        gt_limit[0] = max_mag - 1 if max_mag else 0
    prefix_cap[0] = PREFIX_ESCAPE
    if mode != MODE_SIGNED and max_mag > <uint64_t>gt_flags:
        if bit_length(max_mag - <uint64_t>gt_flags) - 1 < PREFIX_ESCAPE:
            prefix_cap[0] = bit_length(max_mag - <uint64_t>gt_flags) - 1


cdef inline int _mag_class(uint64_t m) noexcept nogil:
    cdef int e, c
    if m < 2:
        return <int>m
    e = 63 - __builtin_clzll(m)
    c = 2 * e + <int>((m >> (e - 1)) & 1)
    return c if c < MAG_CLASSES - 1 else MAG_CLASSES - 1


cdef uint8_t MAG_CLASS[64]     # _mag_class(m) for m < 64; every m >= 48 has the top class


cdef inline void _push_level(Neighbourhood* nb, uint64_t mag, int neg) noexcept nogil:
    nb.a2 = nb.a1
    nb.s2 = nb.s1
    nb.a1 = <uint32_t>(mag if mag < 63 else 63)
    nb.s1 = 0 if mag == 0 else 1 + neg


cdef inline void _clear(Neighbourhood* nb) noexcept nogil:
    nb.a1 = nb.a2 = 0
    nb.s1 = nb.s2 = 0


cdef inline void _context_offsets(Neighbourhood* nb) noexcept nogil:
    cdef uint32_t m = 2 * nb.a1 + nb.a2
    cdef int c1 = MAG_CLASS[nb.a1]
    nb.mag = MAG_CLASS[m if m < 63 else 63]
    nb.sig = OFF_SIG + nb.mag * 3 + nb.s1
    nb.sign = OFF_SIGN + (nb.s1 * 3 + nb.s2) * 8 + (c1 if c1 < 7 else 7)


cdef inline uint32_t _probability(Context* c) noexcept nogil:
    return c.p


cdef inline void _set_probability(Context* c) noexcept nogil:
    # §5.3.2.4 p = max(1, (a + b) >> 8)
    cdef uint32_t p = (c.a + c.b) >> 8
    c.p = <uint16_t>(p if p != 0 else 1)


cdef void _warm_up(Context* c) noexcept nogil:
    # §5.3.2.4 warm = bitlen(seen + 2) - 1 grows by one after 2**warm bins; past 15 nothing changes
    cdef uint8_t fast = c.rates >> 4, slow = c.rates & 15
    if c.warm < 15:
        c.warm += 1
    c.shift_a = fast if fast < c.warm else c.warm
    c.shift_b = slow if slow < c.warm else c.warm
    c.countdown = <uint16_t>(1 << c.warm) if c.warm < 15 else 0x8000


cdef inline void _adapt(Context* c, int bin) noexcept nogil:
    cdef uint32_t a0 = c.a + ((STATE_ONE - c.a) >> c.shift_a), a1 = c.a - (c.a >> c.shift_a)
    cdef uint32_t b0 = c.b + ((STATE_ONE - c.b) >> c.shift_b), b1 = c.b - (c.b >> c.shift_b)
    c.a = a1 if bin else a0     # selects, not branches: the bin is unpredictable
    c.b = b1 if bin else b0
    _set_probability(c)
    c.countdown -= 1
    if c.countdown == 0:
        _warm_up(c)


cdef void _init_contexts(Context* ctx, const uint8_t* rates) noexcept nogil:
    cdef int i, group
    cdef int starts[6]
    starts[0] = OFF_SIG
    starts[1] = OFF_SIGN
    starts[2] = OFF_GT
    starts[3] = OFF_PREFIX
    starts[4] = OFF_SUFFIX
    starts[5] = N_CONTEXTS
    for group in range(5):
        for i in range(starts[group], starts[group + 1]):
            ctx[i].a = STATE_HALF
            ctx[i].b = STATE_HALF
            ctx[i].p = STATE_HALF >> 7
            ctx[i].rates = rates[group]
            ctx[i].warm = 1
            ctx[i].shift_a = 1
            ctx[i].shift_b = 1
            ctx[i].countdown = 2


# ---- encoder --------------------------------------------------------------------------------------------------------

cdef struct Encoder:
    uint64_t low
    uint32_t range
    uint32_t cache
    Py_ssize_t pending      # 0xFF bytes waiting behind the cache byte for a possible carry
    bint started            # False until the first (always zero) byte has been dropped
    uint8_t* out
    Py_ssize_t size
    Py_ssize_t capacity
    bint failed             # realloc failed


cdef inline void _put(Encoder* e, uint32_t byte) noexcept nogil:
    cdef uint8_t* grown
    if not e.started:
        e.started = True
        return
    if e.size == e.capacity:
        grown = <uint8_t*>realloc(e.out, e.capacity * 2)
        if grown == NULL:
            e.failed = True
            return
        e.out = grown
        e.capacity *= 2
    e.out[e.size] = <uint8_t>byte
    e.size += 1


cdef inline void _shift_low(Encoder* e) noexcept nogil:
    cdef uint32_t carry
    if e.low < <uint64_t>0xFF000000 or (e.low >> 32) != 0:
        carry = <uint32_t>(e.low >> 32)
        _put(e, (e.cache + carry) & 0xFF)
        while e.pending:
            _put(e, (0xFF + carry) & 0xFF)
            e.pending -= 1
        e.cache = <uint32_t>((e.low >> 24) & 0xFF)
    else:
        e.pending += 1
    e.low = (e.low & 0x00FFFFFF) << 8


cdef inline void _encode_bin(Encoder* e, Context* c, int bin) noexcept nogil:
    cdef uint32_t bound = (e.range >> 15) * _probability(c)
    if bin == 0:
        e.range = bound
    else:
        e.low += bound
        e.range -= bound
    _adapt(c, bin)
    while e.range < RANGE_TOP:
        e.range <<= 8
        _shift_low(e)


cdef inline void _encode_bypass(Encoder* e, uint64_t bits, int width) noexcept nogil:
    # §5.3.2.3 bypass field: chunks of at most 16 bits, the most significant chunk first
    cdef int chunk = width - 16 * ((width - 1) >> 4)
    while width > 0:
        width -= chunk
        e.range >>= chunk
        e.low += ((bits >> width) & ((1 << chunk) - 1)) * e.range
        while e.range < RANGE_TOP:
            e.range <<= 8
            _shift_low(e)
        chunk = 16


cdef void _encode_remainder(Encoder* e, Context* ctx, int mag_class, uint64_t rem, int prefix_cap) noexcept nogil:
    cdef uint64_t t, x
    cdef int length, j, n
    if rem < (<uint64_t>1 << PREFIX_ESCAPE) - 1:
        t = rem + 1
        length = bit_length(t) - 1
    else:
        length = PREFIX_ESCAPE
    for j in range(length):
        _encode_bin(e, &ctx[OFF_PREFIX + j * MAG_CLASSES + mag_class], 1)
    if length == PREFIX_ESCAPE:
        x = rem - ((<uint64_t>1 << PREFIX_ESCAPE) - 1)
        n = bit_length(x)
        _encode_bypass(e, <uint64_t>n, 6)
        if n > 1:
            _encode_bypass(e, x, n - 1)
        return
    if length < prefix_cap:
        _encode_bin(e, &ctx[OFF_PREFIX + length * MAG_CLASSES + mag_class], 0)
    if length:
        _encode_bin(e, &ctx[OFF_SUFFIX + length - 1], <int>((t >> (length - 1)) & 1))
        if length > 1:
            _encode_bypass(e, t, length - 1)


cdef int _encode_levels(Encoder* state, const int64_t[::1] values, const uint8_t* rates, int gt_flags, int mode,
                        uint64_t max_mag, uint64_t row_length) noexcept nogil:
    cdef Context ctx[N_CONTEXTS]
    cdef Neighbourhood nb
    cdef Py_ssize_t i, n = values.shape[0]
    cdef uint64_t col = 0, mag, k, gt_limit, rem
    cdef int64_t x
    cdef int neg, rel, prefix_cap, gt_base
    cdef Encoder local = state[0]   # a local copy the compiler can keep in registers
    cdef Encoder* e = &local
    _init_contexts(ctx, rates)
    _clear(&nb)
    _truncation(mode, max_mag, gt_flags, &gt_limit, &prefix_cap)
    # every ctx[] index below is in range by construction: mag < 12, k <= gt_limit <= 32, prefix j < 20, L <= 19
    for i in range(n):  # i < n = values.shape[0]: values[i] is in bounds
        if row_length and col == row_length:
            col = 0
            _clear(&nb)
        col += 1
        x = values[i]
        mag = _magnitude(x)
        neg = x < 0
        if mode == MODE_SIGNED or max_mag:
            _context_offsets(&nb)
            _encode_bin(e, &ctx[nb.sig], mag != 0)
            if mag:
                if mode != MODE_ONE_SIDED:
                    _encode_bin(e, &ctx[nb.sign], neg)
                rel = 0 if nb.s1 == 0 else (1 if (nb.s1 == 2) == neg else 2)
                gt_base = OFF_GT + nb.mag * 3 + rel
                k = 1
                while k <= gt_limit:
                    _encode_bin(e, &ctx[gt_base + (k - 1) * MAG_CLASSES * 3], mag > k)
                    if mag == k:
                        break
                    k += 1
                if mag > <uint64_t>gt_flags:
                    rem = mag - <uint64_t>gt_flags - 1
                    _encode_remainder(e, ctx, nb.mag, rem, prefix_cap)
        _push_level(&nb, mag, neg)
    for i in range(5):
        _shift_low(e)
    state[0] = local
    return 0 if not e.failed else -1


# ---- decoder --------------------------------------------------------------------------------------------------------

cdef struct Decoder:
    uint32_t range
    uint32_t code
    const uint8_t* data
    Py_ssize_t pos
    Py_ssize_t end
    bint overrun            # a byte past the end was needed: reported as TruncatedError [R5.3.2-a]


cdef inline uint32_t _next_byte(Decoder* d) noexcept nogil:
    # the only read of the code bytes: pos < end is checked here, so data[pos] is inside the stream
    if d.pos >= d.end:
        d.overrun = True
        return 0
    d.pos += 1
    return d.data[d.pos - 1]


cdef inline int _decode_bin(Decoder* d, Context* c) noexcept nogil:
    # a branch, not selects: every caller branches on the bin anyway, and on the predicted path the next bin's
    # range and the context update need not wait for the comparison (with the probability kept in the context,
    # bench/cabac_decode_ab.py measures the two side by side; the bytes are those of the spec either way)
    cdef uint32_t bound = (d.range >> 15) * _probability(c)
    cdef int bin
    if d.code < bound:
        bin = 0
        d.range = bound
        _adapt(c, 0)
    else:
        bin = 1
        d.code -= bound
        d.range -= bound
        _adapt(c, 1)
    while d.range < RANGE_TOP:
        d.range <<= 8
        d.code = (d.code << 8) | _next_byte(d)
    return bin


cdef inline int _decode_bin_unbiased(Decoder* d, Context* c) noexcept nogil:
    # for bins near 1/2 (sign, first suffix digit): arithmetic instead of a branch that would mispredict half the time
    cdef uint32_t bound = (d.range >> 15) * _probability(c)
    cdef uint32_t mask = (<uint32_t>0) - <uint32_t>(d.code >= bound)
    cdef uint32_t up_a = (STATE_ONE - c.a) >> c.shift_a, down_a = c.a >> c.shift_a
    cdef uint32_t up_b = (STATE_ONE - c.b) >> c.shift_b, down_b = c.b >> c.shift_b
    d.code -= bound & mask
    d.range = bound + ((d.range - 2 * bound) & mask)
    c.a += up_a + ((0 - up_a - down_a) & mask)
    c.b += up_b + ((0 - up_b - down_b) & mask)
    _set_probability(c)
    c.countdown -= 1
    if c.countdown == 0:
        _warm_up(c)
    while d.range < RANGE_TOP:
        d.range <<= 8
        d.code = (d.code << 8) | _next_byte(d)
    return <int>(mask & 1)


cdef inline uint64_t _decode_bypass(Decoder* d, int width) noexcept nogil:
    # code < range always holds (the first code bytes are not FF FF FF FF), so each chunk is < 2**chunk
    cdef int chunk = width - 16 * ((width - 1) >> 4)
    cdef uint64_t bits = 0
    cdef uint32_t v
    while width > 0:
        width -= chunk
        d.range >>= chunk
        v = d.code // d.range
        d.code -= v * d.range
        bits = (bits << chunk) | v
        while d.range < RANGE_TOP:
            d.range <<= 8
            d.code = (d.code << 8) | _next_byte(d)
        chunk = 16
    return bits


cdef enum:
    OK = 0
    ERR_TRUNCATED = 1
    ERR_MAGNITUDE = 2
    ERR_BINS = 3
    ERR_FIRST_BYTES = 4


cdef int _decode_levels(Decoder* state, int64_t[::1] out, const uint8_t* rates, int gt_flags, int mode,
                        uint64_t max_mag, uint64_t row_length, uint64_t bin_budget,
                        Py_ssize_t* failed_at) noexcept nogil:
    cdef Context ctx[N_CONTEXTS]
    cdef Neighbourhood nb
    cdef Py_ssize_t i, n = out.shape[0]
    cdef uint64_t col = 0, mag, k, gt_limit, t, x, bins = 0, rem
    cdef uint64_t limit = INT64_MAX_MAG if mode == MODE_SIGNED else max_mag
    cdef int64_t value
    cdef int neg, rel, prefix_cap, gt_base, length, j, nbits, status = OK
    cdef Decoder local = state[0]   # a local copy the compiler can keep in registers
    cdef Decoder* d = &local
    _init_contexts(ctx, rates)
    _clear(&nb)
    _truncation(mode, max_mag, gt_flags, &gt_limit, &prefix_cap)
    # every ctx[] index below is in range by construction: mag < 12, k <= gt_limit <= 32, prefix j < 20, L <= 19
    for i in range(n):  # i < n = out.shape[0]: the store out[i] below is in bounds
        if row_length and col == row_length:
            col = 0
            _clear(&nb)
        col += 1
        mag = 0
        neg = 0
        if mode == MODE_SIGNED or max_mag:
            _context_offsets(&nb)
            bins += 1
            if _decode_bin(d, &ctx[nb.sig]):
                mag = 1
                if mode != MODE_ONE_SIDED:
                    neg = _decode_bin_unbiased(d, &ctx[nb.sign])
                    bins += 1
                rel = 0 if nb.s1 == 0 else (1 if (nb.s1 == 2) == neg else 2)
                gt_base = OFF_GT + nb.mag * 3 + rel
                k = 1
                while k <= gt_limit:
                    if not _decode_bin(d, &ctx[gt_base + (k - 1) * MAG_CLASSES * 3]):
                        break
                    k += 1
                mag = k
                bins += k if k <= gt_limit else gt_limit     # the gt flags decoded
                if k > <uint64_t>gt_flags:
                    length = 0
                    while length < prefix_cap:
                        if not _decode_bin(d, &ctx[OFF_PREFIX + length * MAG_CLASSES + nb.mag]):
                            break
                        length += 1
                    bins += length + (length < prefix_cap)   # the prefix bins, with the 0 bin if any
                    if length == PREFIX_ESCAPE:
                        nbits = <int>_decode_bypass(d, 6)
                        x = <uint64_t>(nbits != 0)
                        if nbits > 1:
                            x = (x << (nbits - 1)) | _decode_bypass(d, nbits - 1)
                        bins += 6 + (nbits - 1 if nbits else 0)
                        rem = x + ((<uint64_t>1 << PREFIX_ESCAPE) - 1)   # x < 2**63: no wrap
                    else:
                        t = 1
                        if length:
                            t = 2 | <uint64_t>_decode_bin_unbiased(d, &ctx[OFF_SUFFIX + length - 1])
                            if length > 1:
                                t = (t << (length - 1)) | _decode_bypass(d, length - 1)
                            bins += length
                        rem = t - 1
                    mag = <uint64_t>gt_flags + 1 + rem    # rem < 2**63 + 2**20, gt_flags <= 32: no wrap
        if d.overrun:
            status = ERR_TRUNCATED
        elif mag > limit + <uint64_t>(neg and mode == MODE_SIGNED):
            status = ERR_MAGNITUDE
        elif bins > bin_budget:
            status = ERR_BINS
        if status != OK:
            failed_at[0] = i
            break
        value = <int64_t>((<uint64_t>0) - mag) if neg else <int64_t>mag
        out[i] = value
        _push_level(&nb, mag, neg)
    state[0] = local
    return status


cdef int _m
for _m in range(64):
    MAG_CLASS[_m] = _mag_class(_m)


# ---- stream level ---------------------------------------------------------------------------------------------------

THREADS = 2                 # segments of one call are coded on up to this many threads
PARALLEL_MIN_ELEMENTS = 1 << 16
_pool = None


def _run_segments(function, jobs, count):
    """``[function(*job) for job in jobs]``; segments after the first run on a worker thread for large streams
    (not inside a serial ``jobs=1`` run, see nncodec.parallel)."""
    global _pool
    if len(jobs) == 1 or count < PARALLEL_MIN_ELEMENTS or not inner_threads_allowed():
        return [function(*job) for job in jobs]
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor
        _pool = ThreadPoolExecutor(max_workers=THREADS - 1, thread_name_prefix="nncodec-cabac")
    futures = [_pool.submit(function, *job) for job in jobs[1:]]
    return [function(*jobs[0])] + [future.result() for future in futures]


def _segment_bounds(count, segments):
    # §5.3.2.2 segment i holds the elements [i * count // S, (i + 1) * count // S)
    return [(i * count // segments, (i + 1) * count // segments) for i in range(segments)]


def _varint(value):
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _encode_segment(const int64_t[::1] values, bytes rates, int gt_flags, int mode, uint64_t max_mag,
                    uint64_t row_length):
    """The code bytes of one segment; the coding loop runs without the GIL."""
    cdef Encoder e
    cdef const uint8_t* rate_ptr = rates
    cdef int status
    e.low = 0
    e.range = 0xFFFFFFFF
    e.cache = 0
    e.pending = 0
    e.started = False
    e.failed = False
    e.size = 0
    e.capacity = 4096 + values.shape[0] // 2
    e.out = <uint8_t*>malloc(e.capacity)
    if e.out == NULL:
        raise MemoryError("cabac encoder output buffer")
    try:
        with nogil:
            status = _encode_levels(&e, values, rate_ptr, gt_flags, mode, max_mag, row_length)
        if status:
            raise MemoryError("cabac encoder output buffer")
        return (<char*>e.out)[:e.size]
    finally:
        free(e.out)


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
        return b""
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
    jobs = [(values[lo_i:hi_i], rate_bytes, gt_flags, mode, max_mag, row_length)
            for lo_i, hi_i in _segment_bounds(count, segments)]
    bodies = _run_segments(_encode_segment, jobs, count)
    header = bytes([mode, gt_flags]) + rate_bytes + _varint(row_length)
    if mode != MODE_SIGNED:
        header += _varint(max_mag)
    header += _varint(segments) + b"".join(_varint(len(body)) for body in bodies[:segments - 1])
    return header + b"".join(bodies)


cdef class _Header:
    cdef public int mode, gt_flags, segments
    cdef public uint64_t row_length, max_mag
    cdef public bytes rates
    cdef public list lengths
    cdef public Py_ssize_t body_start


cdef Py_ssize_t _read_varint(const uint8_t[::1] data, Py_ssize_t pos, uint64_t* value, str what) except -1:
    cdef uint64_t v = 0
    cdef int i, byte
    for i in range(10):
        if pos >= data.shape[0]:   # the check that makes data[pos] safe
            raise TruncatedError(f"[R5.3.2-a] cabac stream ends inside {what}")
        byte = data[pos]
        pos += 1
        if i == 9 and (byte & 0x7F) > 1:
            raise FormatError(f"[R2-a] cabac {what} varint is >= 2**64")
        v |= (<uint64_t>(byte & 0x7F)) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise FormatError(f"[R2-a] cabac {what} varint is not canonical")
            value[0] = v
            return pos
    raise FormatError(f"[R2-a] cabac {what} varint is longer than 10 bytes")


cdef _Header _parse_header(const uint8_t[::1] data, object count):
    cdef _Header h = _Header()
    cdef Py_ssize_t n = data.shape[0], pos
    cdef uint64_t value
    cdef int i
    if n < 7:   # the check that makes data[0..6] safe
        raise TruncatedError(f"[R5.3.2-a] cabac stream of {n} bytes is shorter than its 7 fixed header bytes")
    h.mode = data[0]
    if h.mode > MODE_TWO_SIDED:
        raise FormatError(f"[R5.3.2-b] cabac Flags byte is {h.mode:#04x}: reserved bits set or Mode 3")
    h.gt_flags = data[1]
    if h.gt_flags > MAX_GT_FLAGS:
        raise FormatError(f"[R5.3.2-c] cabac Gt_Flags is {h.gt_flags}, more than {MAX_GT_FLAGS}")
    h.rates = bytes(data[2:7])
    for i in range(5):
        if h.rates[i] >> 4 == 0 or h.rates[i] & 15 == 0:
            raise FormatError(f"[R5.3.2-d] cabac Rates[{i}] is {h.rates[i]:#04x}: a shift of 0")
    pos = _read_varint(data, 7, &h.row_length, "Row_Length")
    h.max_mag = 0
    if h.mode != MODE_SIGNED:
        pos = _read_varint(data, pos, &h.max_mag, "Max_Magnitude")
        if h.max_mag > INT64_MAX_MAG:
            raise FormatError(f"[R5.3.2-e] cabac Max_Magnitude {h.max_mag} is above 2**63-1")
    pos = _read_varint(data, pos, &value, "Segment_Count")
    if value < 1 or value > MAX_SEGMENTS or value > count:
        raise FormatError(f"[R5.3.2-j] cabac Segment_Count {value} is not in 1..min(64, {count})")
    h.segments = <int>value
    h.lengths = []
    for i in range(h.segments - 1):
        pos = _read_varint(data, pos, &value, "Segment_Length")
        h.lengths.append(value)
    h.body_start = pos
    remaining = n - pos
    if sum(h.lengths) > remaining:
        raise TruncatedError(f"[R5.3.2-a] cabac segments declare {sum(h.lengths)} bytes, {remaining} are present")
    h.lengths.append(remaining - sum(h.lengths))
    return h


def _decode_segment(const uint8_t[::1] data, Py_ssize_t start, Py_ssize_t end, int64_t[::1] out, _Header h,
                    uint64_t bin_budget):
    """Decode one segment (bytes ``data[start:end]``) into ``out``: (status, element index, bytes left, code)."""
    cdef Decoder d
    cdef Py_ssize_t failed_at = 0
    cdef const uint8_t* rates = h.rates
    cdef int status
    if 4 > end - start:   # the check that makes data[start..start+3] safe
        return ERR_TRUNCATED, 0, 0, 0
    d.code = ((<uint32_t>data[start] << 24) | (<uint32_t>data[start + 1] << 16)
              | (<uint32_t>data[start + 2] << 8) | data[start + 3])
    if d.code == 0xFFFFFFFF:
        return ERR_FIRST_BYTES, 0, 0, 0
    d.range = 0xFFFFFFFF
    d.data = &data[0]
    d.pos = start + 4
    d.end = end
    d.overrun = False
    with nogil:
        status = _decode_levels(&d, out, rates, h.gt_flags, h.mode, h.max_mag, h.row_length, bin_budget,
                                &failed_at)
    return status, failed_at, end - d.pos, d.code


def decode(data, count, limits):
    """``count`` int64 levels from ``data``, exactly the bytes of one cabac stream (spec/cabac.md).

    Checks ``count`` against ``limits.max_elements`` and ``limits.max_expansion`` before allocating and spends at
    most ``limits.max_bins_per_element`` bins per element of each segment. Raises only DecodeError subclasses.
    """
    cdef const uint8_t[::1] view = memoryview(data).cast("B") if len(data) else b""
    cdef _Header h
    cdef Py_ssize_t n = view.shape[0]
    limits.check("max_elements", count)
    limits.check_expansion(count, n)
    if count == 0:
        if n:
            raise TrailingDataError(f"[R5.3.2-g] a cabac stream of 0 elements must be empty, found {n} bytes")
        return np.zeros(0, dtype=np.int64)
    h = _parse_header(view, count)
    out = np.empty(count, dtype=np.int64)
    jobs = []
    start = h.body_start
    for (lo, hi), length in zip(_segment_bounds(count, h.segments), h.lengths):
        budget = min(limits.max_bins_per_element * (hi - lo), 2**64 - 1)
        jobs.append((view, start, start + length, out[lo:hi], h, budget))
        start += length
    results = _run_segments(_decode_segment, jobs, count)
    for segment, ((lo, _), (status, index, left, code)) in enumerate(zip(_segment_bounds(count, h.segments),
                                                                          results)):
        where = f"segment {segment}, element {lo + index}"
        if status == ERR_TRUNCATED:
            raise TruncatedError(f"[R5.3.2-a] cabac stream ends inside {where}")
        if status == ERR_FIRST_BYTES:
            raise FormatError(f"[R5.3.2-i] cabac segment {segment} starts with FF FF FF FF")
        if status == ERR_MAGNITUDE:
            raise FormatError(f"[R5.3.2-f] cabac {where}: magnitude outside the range the header allows")
        if status == ERR_BINS:
            raise LimitExceededError(
                f"[R6] max_bins_per_element: cabac {where} exceeds {limits.max_bins_per_element} bins per element",
                limit="max_bins_per_element", declared=None, maximum=limits.max_bins_per_element)
        if left:
            raise TrailingDataError(f"[R5.3.2-g] cabac segment {segment} has {left} bytes after its last code byte")
        if code:
            raise FormatError(f"[R5.3.2-h] cabac segment {segment} does not end on its final interval")
    return out
