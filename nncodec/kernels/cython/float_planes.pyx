# cython: language_level=3
"""float-planes stream coding (spec 5.5, stream Coding 5): the chunk kernels, compiled twin of
``nncodec.kernels.reference.float_planes`` (same names, bytes, statuses; see that module for the API).

Each chunk is coded and decoded without the GIL. Decoding a Huffman plane uses a table of 4096 entries (one per
12-bit window) holding up to three symbols whose codewords lie wholly in the window, and decodes the four
sub-streams side by side; the unchecked loop runs only while every sub-stream has 8 bytes of the chunk ahead of
its read position, a checked tail does the rest. Huffman planes are decoded into a scratch of the chunk's planes,
then one loop merges the planes (and raw planes straight from the input) into elements.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memset
from libc.stdlib cimport malloc, free

cdef extern from *:
    """
    #include <string.h>
    static inline uint64_t fp_be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }
    static inline void fp_put_be32(uint8_t *p, uint32_t v) { v = __builtin_bswap32(v); memcpy(p, &v, 4); }
    static inline uint32_t fp_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
    static inline void fp_put_le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
    typedef struct { uint64_t acc; int nb; uint8_t *p; } fp_writer;
    static inline void fp_put(fp_writer *w, uint32_t code, int len) {
        w->acc = (w->acc << len) | code; w->nb += len;
        if (w->nb >= 32) { w->nb -= 32; fp_put_be32(w->p, (uint32_t)(w->acc >> w->nb)); w->p += 4; }
    }
    static inline uint8_t *fp_flush(fp_writer *w) {
        while (w->nb >= 8) { w->nb -= 8; *w->p++ = (uint8_t)(w->acc >> w->nb); }
        if (w->nb) { *w->p++ = (uint8_t)(w->acc << (8 - w->nb)); w->nb = 0; }
        return w->p;
    }
    /* Lookups a sub-stream can make unchecked: each reads 8 bytes at pos / 8 (inside the chunk), takes <= 12
       bits, stores 4 bytes and advances its output by <= 3 (inside its quarter). */
    static inline int64_t fp_room(const uint8_t *base, const uint8_t *end, int64_t pos, int64_t left) {
        int64_t r = ((end - base - 8) * 8 - pos) / 12;
        return (left - 1) / 3 < r ? (left - 1) / 3 : r;
    }
    /* One table lookup of a sub-stream: up to 3 symbols out, their bits consumed. */
    static inline void fp_step(const uint32_t *table, const uint8_t *b, int64_t *p, uint8_t **o) {
        uint32_t e = table[(fp_be64(b + (*p >> 3)) << (*p & 7)) >> 52];
        fp_put_le32(*o, e); *o += e >> 28; *p += (e >> 24) & 15;
    }
    /* The four sub-streams side by side while every one has room (fp_room); pos and o move on. */
    static void fp_lanes(const uint32_t *table, const uint8_t **base, const uint8_t *end, int64_t *pos,
                         uint8_t **o, uint8_t **oend) {
        const uint8_t *b0 = base[0], *b1 = base[1], *b2 = base[2], *b3 = base[3];
        int64_t p0 = pos[0], p1 = pos[1], p2 = pos[2], p3 = pos[3], m, r;
        uint8_t *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
        for (;;) {
            m = fp_room(b0, end, p0, oend[0] - o0);
            r = fp_room(b1, end, p1, oend[1] - o1); if (r < m) m = r;
            r = fp_room(b2, end, p2, oend[2] - o2); if (r < m) m = r;
            r = fp_room(b3, end, p3, oend[3] - o3); if (r < m) m = r;
            if (m <= 0) break;
            for (; m > 0; m--) {
                fp_step(table, b0, &p0, &o0); fp_step(table, b1, &p1, &o1);
                fp_step(table, b2, &p2, &o2); fp_step(table, b3, &p3, &o3);
            }
        }
        pos[0] = p0; pos[1] = p1; pos[2] = p2; pos[3] = p3;
        o[0] = o0; o[1] = o1; o[2] = o2; o[3] = o3;
    }
    """
    uint64_t fp_be64(const uint8_t *p) nogil
    uint32_t fp_le32(const uint8_t *p) nogil
    void fp_put_le32(uint8_t *p, uint32_t v) nogil
    ctypedef struct fp_writer:
        uint64_t acc
        int nb
        uint8_t *p
    void fp_put(fp_writer *w, uint32_t code, int len) nogil
    uint8_t *fp_flush(fp_writer *w) nogil
    void fp_lanes(const uint32_t *table, const uint8_t **base, const uint8_t *end, int64_t *pos, uint8_t **o,
                  uint8_t **oend) nogil

__all__ = ["encode_chunks", "decode_chunks", "code_lengths"]

cdef enum:
    MAX_LENGTH = 12
    TABLE = 4096
    SUBSTREAMS = 4
    SAMPLE_MIN = 4096
    SAMPLE_STEP = 8
    RAW_TENTHS = 79
    MULTI_MIN = 16384  # planes of this many bytes or more decode through the multi-symbol table
    # statuses, as in the reference module
    BAD_MODE = 1
    PAST_CHUNK = 2
    CHUNK_TRAILING = 3
    SYMBOL_ORDER = 4
    LONG_LENGTH = 5
    PAD_NIBBLE = 6
    OVER_SUBSCRIBED = 7
    INCOMPLETE = 8
    SUBSTREAM_SIZES = 9
    READ_PAST = 10
    UNUSED_BYTE = 11
    PAD_BITS = 12


# -- element words and planes -------------------------------------------------------------------------------------

cdef void split_planes(const uint8_t *src, int64_t n, int width, int rotate, uint8_t *planes) noexcept nogil:
    """planes[p * n + i] = byte p of element i, rotated left one bit when ``rotate``."""
    cdef int64_t i
    cdef int p
    cdef uint64_t w
    cdef uint32_t v
    cdef const uint16_t *s16 = <const uint16_t *>src
    cdef const uint32_t *s32 = <const uint32_t *>src
    cdef uint8_t *p0 = planes
    cdef uint8_t *p1 = planes + n
    cdef uint8_t *p2 = planes + 2 * n
    cdef uint8_t *p3 = planes + 3 * n
    if width == 1:
        if rotate:
            for i in range(n):
                p0[i] = <uint8_t>((src[i] << 1) | (src[i] >> 7))
        else:
            memcpy(p0, src, n)
    elif width == 2:
        for i in range(n):
            v = s16[i]
            if rotate:
                v = (v << 1) | (v >> 15)
            p0[i] = <uint8_t>v
            p1[i] = <uint8_t>(v >> 8)
    elif width == 4:
        for i in range(n):
            v = s32[i]
            if rotate:
                v = (v << 1) | (v >> 31)
            p0[i] = <uint8_t>v
            p1[i] = <uint8_t>(v >> 8)
            p2[i] = <uint8_t>(v >> 16)
            p3[i] = <uint8_t>(v >> 24)
    else:
        for i in range(n):
            memcpy(&w, src + 8 * i, 8)
            if rotate:
                w = (w << 1) | (w >> 63)
            for p in range(8):
                planes[p * n + i] = <uint8_t>(w >> (8 * p))


cdef void merge_planes(const uint8_t **pl, int64_t n, int width, int rotate, uint8_t *out) noexcept nogil:
    """Inverse of split_planes: element i from byte i of every plane pl[p]."""
    cdef int64_t i
    cdef int p
    cdef uint32_t v
    cdef uint64_t w
    cdef const uint8_t *p0 = pl[0]
    cdef const uint8_t *p1
    cdef const uint8_t *p2
    cdef const uint8_t *p3
    cdef uint16_t *o16 = <uint16_t *>out
    cdef uint32_t *o32 = <uint32_t *>out
    if width == 1:
        if rotate:
            for i in range(n):
                out[i] = <uint8_t>((p0[i] >> 1) | (p0[i] << 7))
        else:
            memcpy(out, p0, n)
    elif width == 2:
        p1 = pl[1]
        if rotate:
            for i in range(n):
                v = p0[i] | (<uint32_t>p1[i] << 8)
                o16[i] = <uint16_t>((v >> 1) | (v << 15))
        else:
            for i in range(n):
                o16[i] = <uint16_t>(p0[i] | (<uint32_t>p1[i] << 8))
    elif width == 4:
        p1 = pl[1]
        p2 = pl[2]
        p3 = pl[3]
        if rotate:
            for i in range(n):
                v = p0[i] | (<uint32_t>p1[i] << 8) | (<uint32_t>p2[i] << 16) | (<uint32_t>p3[i] << 24)
                o32[i] = (v >> 1) | (v << 31)
        else:
            for i in range(n):
                o32[i] = p0[i] | (<uint32_t>p1[i] << 8) | (<uint32_t>p2[i] << 16) | (<uint32_t>p3[i] << 24)
    else:
        for i in range(n):
            w = 0
            for p in range(8):
                w |= (<uint64_t>pl[p][i]) << (8 * p)
            if rotate:
                w = (w >> 1) | (w << 63)
            memcpy(out + 8 * i, &w, 8)


# -- code construction (§5.5 encoder choices) ---------------------------------------------------------------------

cdef int build_lengths(const uint64_t *counts, uint8_t *length) noexcept nogil:
    """Code lengths (at most 12) for the symbols with counts > 0, as the reference's code_lengths; returns how
    many symbols have a count (lengths are built only for two or more)."""
    cdef int sym[256]
    cdef uint64_t weight[512]
    cdef int parent[512]
    cdef int depth[512]
    cdef int m = 0, i, j, k, a, b, leaf, node, nodes, s, best
    cdef int64_t kraft
    memset(length, 0, 256)
    for s in range(256):
        if counts[s]:
            j = m  # insertion sort by (count, symbol): s grows, so equal counts stay in symbol order
            while j > 0 and counts[sym[j - 1]] > counts[s]:
                sym[j] = sym[j - 1]
                j -= 1
            sym[j] = s
            m += 1
    if m < 2:
        return m
    for i in range(m):
        weight[i] = counts[sym[i]]
    leaf = 0
    node = m
    nodes = m
    for k in range(m - 1):
        if leaf < m and (node >= nodes or weight[leaf] <= weight[node]):
            a = leaf
            leaf += 1
        else:
            a = node
            node += 1
        if leaf < m and (node >= nodes or weight[leaf] <= weight[node]):
            b = leaf
            leaf += 1
        else:
            b = node
            node += 1
        weight[nodes] = weight[a] + weight[b]
        parent[a] = nodes
        parent[b] = nodes
        nodes += 1
    depth[nodes - 1] = 0
    for i in range(nodes - 2, -1, -1):
        depth[i] = depth[parent[i]] + 1
    kraft = 0
    for i in range(m):
        length[sym[i]] = depth[i] if depth[i] < MAX_LENGTH else MAX_LENGTH
        kraft += 1 << (MAX_LENGTH - length[sym[i]])
    while kraft > TABLE:
        best = -1
        for i in range(m):
            if length[sym[i]] < MAX_LENGTH and (best < 0 or length[sym[i]] > length[sym[best]]):
                best = i
        kraft -= 1 << (MAX_LENGTH - length[sym[best]] - 1)
        length[sym[best]] += 1
    for i in range(m - 1, -1, -1):
        while length[sym[i]] > 1 and kraft + (1 << (MAX_LENGTH - length[sym[i]])) <= TABLE:
            kraft += 1 << (MAX_LENGTH - length[sym[i]])
            length[sym[i]] -= 1
    return m


cdef void canonical_codes(const uint8_t *length, uint16_t *code) noexcept nogil:
    """Canonical codewords (huffman.md 5.3.1.5 with a 12-bit limit)."""
    cdef int count[MAX_LENGTH + 1]
    cdef int next_code[MAX_LENGTH + 1]
    cdef int s, n, c = 0
    memset(count, 0, sizeof(count))
    for s in range(256):
        count[length[s]] += 1
    count[0] = 0
    next_code[0] = 0
    for n in range(1, MAX_LENGTH + 1):
        c = (c + count[n - 1]) << 1
        next_code[n] = c
    for s in range(256):
        code[s] = 0
        if length[s]:
            code[s] = next_code[length[s]]
            next_code[length[s]] += 1


def code_lengths(counts):
    """Code lengths of 256 symbol ``counts`` (at least two non-zero), as ``reference.code_lengths``."""
    cdef uint64_t c[256]
    cdef uint8_t length[256]
    for s in range(256):
        c[s] = counts[s]
    build_lengths(c, length)
    return [length[s] for s in range(256)]


# -- encoder ------------------------------------------------------------------------------------------------------

cdef void quarter_histograms(const uint8_t *x, int64_t n, uint64_t *h) noexcept nogil:
    """h[k * 256 + v]: the count of v in quarter k of x (§5.5 sub-streams)."""
    cdef int64_t q = (n + 3) >> 2, i, full = n - 3 * q
    cdef uint64_t *h0 = h
    cdef uint64_t *h1 = h + 256
    cdef uint64_t *h2 = h + 512
    cdef uint64_t *h3 = h + 768
    memset(h, 0, 4 * 256 * sizeof(uint64_t))
    if full < 0:
        full = 0
    for i in range(full):
        h0[x[i]] += 1
        h1[x[q + i]] += 1
        h2[x[2 * q + i]] += 1
        h3[x[3 * q + i]] += 1
    for i in range(full, q):
        h0[x[i]] += 1
        if q + i < n:
            h1[x[q + i]] += 1
        if 2 * q + i < n:
            h2[x[2 * q + i]] += 1


cdef bint sample_is_raw(const uint8_t *x, int64_t n) noexcept nogil:
    """§5.5: a plane of 4096+ bytes whose 1-in-8 sample takes >= 7.9 bits per byte under its own code."""
    cdef uint64_t h[256]
    cdef uint8_t length[256]
    cdef int64_t i, m = 0
    cdef uint64_t bits = 0
    if n < SAMPLE_MIN:
        return False
    memset(h, 0, sizeof(h))
    i = 0
    while i < n:
        h[x[i]] += 1
        m += 1
        i += SAMPLE_STEP
    if build_lengths(h, length) < 2:
        return False
    for i in range(256):
        bits += h[i] * length[i]
    return 10 * bits >= <uint64_t>(RAW_TENTHS * m)


cdef int64_t encode_huffman(const uint8_t *plane, int64_t n, const uint64_t *hist4, const uint8_t *length,
                            int first, int last, uint8_t *dst) noexcept nogil:
    """The Huffman plane body (after Plane_Mode) into dst; returns its size."""
    cdef uint16_t code[256]
    cdef uint32_t packed[256]
    cdef int s, k
    cdef int64_t bits[4]
    cdef int64_t i, q = (n + 3) >> 2, full = n - 3 * q
    cdef uint8_t *o = dst
    cdef fp_writer w0, w1, w2, w3
    cdef uint32_t c
    canonical_codes(length, code)
    o[0] = first
    o[1] = last
    o += 2
    s = first
    while s <= last:
        o[0] = (length[s] << 4) | (length[s + 1] if s + 1 <= last else 0)
        o += 1
        s += 2
    for k in range(4):
        bits[k] = 0
        for s in range(first, last + 1):
            bits[k] += <int64_t>hist4[k * 256 + s] * length[s]
        fp_put_le32(o + 4 * k, <uint32_t>((bits[k] + 7) >> 3))
    o += 16
    for s in range(256):
        packed[s] = (<uint32_t>code[s] << 4) | length[s]
    w0.acc = 0
    w0.nb = 0
    w0.p = o
    w1.acc = 0
    w1.nb = 0
    w1.p = w0.p + ((bits[0] + 7) >> 3)
    w2.acc = 0
    w2.nb = 0
    w2.p = w1.p + ((bits[1] + 7) >> 3)
    w3.acc = 0
    w3.nb = 0
    w3.p = w2.p + ((bits[2] + 7) >> 3)
    if full < 0:
        full = 0
    for i in range(full):
        c = packed[plane[i]]
        fp_put(&w0, c >> 4, c & 15)
        c = packed[plane[q + i]]
        fp_put(&w1, c >> 4, c & 15)
        c = packed[plane[2 * q + i]]
        fp_put(&w2, c >> 4, c & 15)
        c = packed[plane[3 * q + i]]
        fp_put(&w3, c >> 4, c & 15)
    for i in range(full, q):
        c = packed[plane[i]]
        fp_put(&w0, c >> 4, c & 15)
        if q + i < n:
            c = packed[plane[q + i]]
            fp_put(&w1, c >> 4, c & 15)
        if 2 * q + i < n:
            c = packed[plane[2 * q + i]]
            fp_put(&w2, c >> 4, c & 15)
    fp_flush(&w0)
    fp_flush(&w1)
    fp_flush(&w2)
    return fp_flush(&w3) - dst


cdef int64_t encode_chunk(const uint8_t *src, int64_t n, int width, int rotate, uint8_t *dst, uint8_t *planes,
                          uint64_t *hist) noexcept nogil:
    """One chunk of n elements into dst (room for width * (n + 1) bytes); returns its size."""
    cdef int p, k, s, first, last
    cdef uint64_t counts[256]
    cdef uint8_t length[256]
    cdef int64_t cost, size = 0, bits
    cdef const uint8_t *plane
    split_planes(src, n, width, rotate, planes)
    for p in range(width - 1, -1, -1):
        plane = planes + p * n
        if not sample_is_raw(plane, n):
            quarter_histograms(plane, n, hist)
            first = -1
            last = -1
            for s in range(256):
                counts[s] = hist[s] + hist[256 + s] + hist[512 + s] + hist[768 + s]
                if counts[s]:
                    if first < 0:
                        first = s
                    last = s
            if first == last:
                dst[size] = 1
                dst[size + 1] = plane[0]
                size += 2
                continue
            build_lengths(counts, length)
            cost = 2 + (last - first + 2) // 2 + 4 * SUBSTREAMS
            for k in range(4):
                bits = 0
                for s in range(first, last + 1):
                    bits += <int64_t>hist[k * 256 + s] * length[s]
                cost += (bits + 7) >> 3
            if cost < n:
                dst[size] = 2
                size += 1 + encode_huffman(plane, n, hist, length, first, last, dst + size + 1)
                continue
        dst[size] = 0
        memcpy(dst + size + 1, plane, n)
        size += 1 + n
    return size


def encode_chunks(const uint8_t[::1] raw, int width, int rotate, int chunk_log2, int64_t first, int64_t stop,
                  uint8_t[::1] out):
    """Chunks ``first..stop-1`` of the elements in ``raw``, one after another at the start of ``out`` (room for
    ``width * (elements + chunks)`` bytes, checked); their sizes."""
    cdef int64_t count = raw.shape[0] // width
    cdef int64_t chunk = (<int64_t>1) << chunk_log2
    cdef int64_t j, n, size, used = 0
    cdef int64_t longest = min(chunk, count)
    cdef uint8_t *planes
    cdef uint64_t *hist
    if stop <= first:
        return []
    if out.shape[0] < width * (min(stop * chunk, count) - first * chunk) + width * (stop - first):
        raise ValueError("float-planes encoder output buffer too small")
    planes = <uint8_t *>malloc(width * longest + 1)
    hist = <uint64_t *>malloc(4 * 256 * sizeof(uint64_t))
    if planes == NULL or hist == NULL:
        free(planes)
        free(hist)
        raise MemoryError("float-planes encoder scratch")
    sizes = []
    try:
        for j in range(first, stop):
            n = min(chunk, count - j * chunk)
            with nogil:
                size = encode_chunk(&raw[0] + j * chunk * width, n, width, rotate, &out[0] + used, planes, hist)
            sizes.append(size)
            used += size
    finally:
        free(planes)
        free(hist)
    return sizes


# -- decoder ------------------------------------------------------------------------------------------------------

cdef int build_table(const uint8_t *length, uint32_t *table, uint16_t *single, bint multi) noexcept nogil:
    """Decode tables, after the Kraft check (0, OVER_SUBSCRIBED or INCOMPLETE). single[w] = symbol | length << 8
    of the codeword window w starts with; with ``multi``, table[w] = s1 | s2 << 8 | s3 << 16 | bits << 24 |
    count << 28: the first count (1..3) codewords lying wholly in w, using bits bits."""
    cdef uint16_t code[256]
    cdef int64_t kraft = 0
    cdef int s, j, lo, used, cnt
    cdef uint32_t e, syms
    for s in range(256):
        if length[s]:
            kraft += 1 << (MAX_LENGTH - length[s])
    if kraft > TABLE:
        return OVER_SUBSCRIBED
    if kraft < TABLE:
        return INCOMPLETE
    canonical_codes(length, code)
    for s in range(256):
        if length[s]:
            lo = code[s] << (MAX_LENGTH - length[s])
            for j in range(lo, lo + (1 << (MAX_LENGTH - length[s]))):
                single[j] = <uint16_t>(s | (length[s] << 8))
    if not multi:
        return 0
    for j in range(TABLE):
        used = 0
        syms = 0
        cnt = 0
        while cnt < 3:
            e = single[(j << used) & (TABLE - 1)]
            if used + (e >> 8) > MAX_LENGTH:
                break
            syms |= (e & 255) << (8 * cnt)
            used += e >> 8
            cnt += 1
        table[j] = syms | (<uint32_t>used << 24) | (<uint32_t>cnt << 28)
    return 0


cdef inline uint64_t tail_be64(const uint8_t *p, const uint8_t *end) noexcept nogil:
    """The 8 bytes at p, big-endian, reading nothing at or after end (those read as zero)."""
    cdef uint64_t v = 0
    cdef int j
    if p + 8 <= end:
        return fp_be64(p)
    for j in range(8):
        v <<= 8
        if p + j < end:
            v |= p[j]
    return v


cdef int decode_huffman(const uint8_t *src, const uint8_t *end, int64_t n, uint8_t *out,
                        const uint8_t **after) noexcept nogil:
    """Decode a Huffman plane body at src (the chunk ends at end) into out[0:n]; 0 or a status."""
    cdef uint8_t length[256]
    cdef uint32_t table[TABLE]
    cdef uint16_t single[TABLE]
    cdef int first, last, s, k, count, status
    cdef const uint8_t *q = src
    cdef const uint8_t *base[4]
    cdef int64_t size[4]
    cdef int64_t pos[4]
    cdef uint8_t *o[4]
    cdef uint8_t *oend[4]
    cdef int64_t total = 0, quarter = (n + 3) >> 2
    cdef uint32_t e
    if end - q < 2:
        return PAST_CHUNK
    first = q[0]
    last = q[1]
    q += 2
    if first > last:
        return SYMBOL_ORDER
    count = last - first + 1
    if end - q < (count + 1) // 2:
        return PAST_CHUNK
    memset(length, 0, 256)
    for s in range(count):
        length[first + s] = (q[s >> 1] >> 4) if (s & 1) == 0 else (q[s >> 1] & 15)
        if length[first + s] > MAX_LENGTH:
            return LONG_LENGTH
    if count & 1 and (q[count >> 1] & 15):
        return PAD_NIBBLE
    q += (count + 1) // 2
    status = build_table(length, table, single, n >= MULTI_MIN)
    if status:
        return status
    if end - q < 16:
        return PAST_CHUNK
    for k in range(4):
        size[k] = fp_le32(q + 4 * k)
        total += size[k]
    q += 16
    if total > end - q:
        return SUBSTREAM_SIZES
    base[0] = q
    for k in range(4):
        if k:
            base[k] = base[k - 1] + size[k - 1]
        pos[k] = 0
        o[k] = out + (k * quarter if k * quarter < n else n)
        oend[k] = out + ((k + 1) * quarter if (k + 1) * quarter < n else n)
    if n >= MULTI_MIN:  # below, building the multi-symbol table costs more than it saves
        fp_lanes(table, base, end, pos, o, oend)
    for k in range(4):
        # checked tail, one symbol per lookup; bits past the chunk read as zero (the end checks reject them)
        while o[k] < oend[k]:
            if (pos[k] >> 3) >= end - base[k]:
                e = single[0]
            else:
                e = single[(tail_be64(base[k] + (pos[k] >> 3), end) << (pos[k] & 7)) >> 52]
            o[k][0] = <uint8_t>e
            o[k] += 1
            pos[k] += e >> 8
        if pos[k] > 8 * size[k]:
            return READ_PAST
        if (pos[k] + 7) >> 3 < size[k]:
            return UNUSED_BYTE
        if pos[k] & 7 and base[k][pos[k] >> 3] & ((1 << (8 - (pos[k] & 7))) - 1):
            return PAD_BITS
    after[0] = q + total
    return 0


cdef int decode_chunk(const uint8_t *src, int64_t avail, int64_t n, int width, int rotate, uint8_t *out,
                      uint8_t *scratch) noexcept nogil:
    """Decode one chunk (exactly avail bytes) of n elements into out; scratch holds width * n bytes."""
    cdef const uint8_t *q = src
    cdef const uint8_t *end = src + avail
    cdef const uint8_t *pl[8]
    cdef int p, mode, status
    for p in range(width - 1, -1, -1):
        if end - q < 1:
            return PAST_CHUNK
        mode = q[0]
        q += 1
        if mode == 0:
            if end - q < n:
                return PAST_CHUNK
            pl[p] = q
            q += n
        elif mode == 1:
            if end - q < 1:
                return PAST_CHUNK
            memset(scratch + p * n, q[0], n)
            pl[p] = scratch + p * n
            q += 1
        elif mode == 2:
            status = decode_huffman(q, end, n, scratch + p * n, &q)
            if status:
                return status
            pl[p] = scratch + p * n
        else:
            return BAD_MODE
    if q != end:
        return CHUNK_TRAILING
    merge_planes(pl, n, width, rotate, out)
    return 0


def decode_chunks(const uint8_t[::1] body, const int64_t[::1] offsets, int64_t count, int width, int rotate,
                  int chunk_log2, uint8_t[::1] out, int64_t first, int64_t stop):
    """Decode chunks ``first..stop-1`` into ``out``; (0, stop), or (status, index) of the first failing chunk."""
    cdef int64_t chunk = (<int64_t>1) << chunk_log2
    cdef int64_t j, n
    cdef int status = 0
    cdef uint8_t *scratch
    cdef uint8_t nothing = 0
    cdef const uint8_t *start = &body[0] if body.shape[0] else &nothing
    if stop <= first:
        return 0, stop
    scratch = <uint8_t *>malloc(width * min(chunk, count) + 1)
    if scratch == NULL:
        raise MemoryError("float-planes decoder scratch")
    j = first
    with nogil:
        while j < stop:
            n = min(chunk, count - j * chunk)
            status = decode_chunk(start + offsets[j], offsets[j + 1] - offsets[j], n, width, rotate,
                                  &out[0] + j * chunk * width, scratch)
            if status:
                break
            j += 1
    free(scratch)
    return status, j
