"""float-planes stream coding (spec 5.5, stream Coding 5): the chunk kernels, readable beside the spec.

Public API (the same in ``nncodec.kernels.cython.float_planes``); the stream header and the chunk table are read
and written by ``nncodec.stages.float_planes``, which calls these per group of chunks:

- ``encode_chunks(raw, width, rotate, chunk_log2, first, stop, out) -> sizes``: chunks ``first..stop-1`` of the
  elements in ``raw`` (a 1-D uint8 array of whole ``width``-byte elements) written one after another to the start
  of ``out`` (a writable uint8 array of at least ``width * (elements + chunks)`` bytes); their sizes.
- ``decode_chunks(body, offsets, count, width, rotate, chunk_log2, out, first, stop) -> (status, chunk)``: decode
  chunks ``first..stop-1`` (chunk j is ``body[offsets[j]:offsets[j + 1]]``) into ``out`` (uint8, ``count *
  width`` bytes); ``(0, stop)`` when all decode, else the status of the first failing chunk and its index.

Statuses (the stage maps them to rule ids): 1 Plane_Mode [R5.5-g], 2 a field past the chunk [R5.5-h], 3 bytes
after the last plane [R5.5-i], 4 First_Symbol > Last_Symbol [R5.5-j], 5 a length above 12 [R5.5-k], 6 padding
nibble [R5.5-l], 7 over-subscribed [R5.5-m], 8 incomplete [R5.5-n], 9 sub-stream sizes [R5.5-o], 10 read past a
sub-stream [R5.5-p], 11 unused sub-stream byte [R5.5-q], 12 padding bits [R5.5-r].
"""

import numpy as np

__all__ = ["encode_chunks", "decode_chunks", "code_lengths"]

MAX_LENGTH = 12  # §5.5 code lengths
TABLE = 1 << MAX_LENGTH
SUBSTREAMS = 4
MODE_RAW, MODE_CONSTANT, MODE_HUFFMAN = 0, 1, 2
SAMPLE_MIN, SAMPLE_STEP = 4096, 8  # §5.5 encoder choices: planes of 4096+ bytes are sampled first
RAW_TENTHS = 79  # a sample at >= 7.9 bits per byte: the plane is stored raw


class _Fail(Exception):
    """A chunk breaks a rule; ``args[0]`` is its status."""


# -- element words and planes -------------------------------------------------------------------------------------

def _words(raw, width):
    """The elements of ``raw`` as unsigned integers (uint64 holds every width)."""
    return raw.view(f"<u{width}").astype(np.uint64)


def _rotl(words, width, amount):
    bits = np.uint64(8 * width)
    mask = np.uint64((1 << (8 * width)) - 1)
    return ((words << np.uint64(amount)) | (words >> (bits - np.uint64(amount)))) & mask


def _planes(raw, width, rotate):
    """Byte planes of the (rotated, §5.5 Rotate) elements: row p is byte p of every element."""
    words = _words(raw, width)
    if rotate:
        words = _rotl(words, width, 1)
    return np.stack([((words >> np.uint64(8 * p)) & np.uint64(255)).astype(np.uint8) for p in range(width)])


def _elements(planes, width, rotate):
    """Inverse of :func:`_planes`: the elements' little-endian bytes."""
    words = np.zeros(planes.shape[1], np.uint64)
    for p in range(width):
        words |= planes[p].astype(np.uint64) << np.uint64(8 * p)
    if rotate:
        words = _rotl(words, width, 8 * width - 1)
    return words.astype(f"<u{width}").view(np.uint8)


# -- code construction (§5.5 encoder choices) ---------------------------------------------------------------------

def code_lengths(counts):
    """Code lengths (at most 12) of the symbols with ``counts[s] > 0`` (at least two of them), as §5.5 describes:
    Huffman's two-queue merge over symbols ordered by (count, value), leaf first on equal weight; lengths above 12
    clamped, the Kraft excess repaid by lengthening the rarest of the longest codes below 12; slack spent
    shortening the most frequent codes."""
    symbols = sorted((s for s in range(256) if counts[s]), key=lambda s: (int(counts[s]), s))
    m = len(symbols)
    weight = [int(counts[s]) for s in symbols]
    parent = [0] * (2 * m)
    leaf, node = 0, m
    for _ in range(m - 1):
        pair = []
        for _ in range(2):
            if leaf < m and (node >= len(weight) or weight[leaf] <= weight[node]):
                pair.append(leaf)
                leaf += 1
            else:
                pair.append(node)
                node += 1
        parent[pair[0]] = parent[pair[1]] = len(weight)
        weight.append(weight[pair[0]] + weight[pair[1]])
    depth = [0] * len(weight)
    for i in range(len(weight) - 2, -1, -1):
        depth[i] = depth[parent[i]] + 1
    lengths = [0] * 256
    kraft = 0
    for i, s in enumerate(symbols):
        lengths[s] = min(depth[i], MAX_LENGTH)
        kraft += 1 << (MAX_LENGTH - lengths[s])
    while kraft > TABLE:  # lengthen the rarest symbol among those with the greatest length below 12
        best = None
        for i, s in enumerate(symbols):
            if lengths[s] < MAX_LENGTH and (best is None or lengths[s] > lengths[symbols[best]]):
                best = i
        s = symbols[best]
        kraft -= 1 << (MAX_LENGTH - lengths[s] - 1)
        lengths[s] += 1
    for s in reversed(symbols):  # most frequent first: shorten while the code stays a prefix code
        while lengths[s] > 1 and kraft + (1 << (MAX_LENGTH - lengths[s])) <= TABLE:
            kraft += 1 << (MAX_LENGTH - lengths[s])
            lengths[s] -= 1
    return np.array(lengths, np.int64)


def canonical_codes(lengths):
    """Codeword values of every symbol (huffman.md 5.3.1.5, limit 12); 0 where ``lengths`` is 0."""
    count = np.bincount(lengths, minlength=MAX_LENGTH + 1)
    count[0] = 0
    next_code, code = [0] * (MAX_LENGTH + 1), 0
    for n in range(1, MAX_LENGTH + 1):
        code = (code + int(count[n - 1])) << 1
        next_code[n] = code
    codes = np.zeros(256, np.int64)
    for s in range(256):
        if lengths[s]:
            codes[s] = next_code[lengths[s]]
            next_code[lengths[s]] += 1
    return codes


def _quarters(n):
    """(start, stop) of the §5.5 sub-streams' quarters of a plane of n bytes."""
    q = -(-n // SUBSTREAMS)
    return [(min(n, k * q), min(n, (k + 1) * q)) for k in range(SUBSTREAMS)]


def _pack(symbols, lengths, codes):
    """Codewords of ``symbols``, most significant bit first, zero padded to a byte."""
    size, code = lengths[symbols], codes[symbols]
    end = np.cumsum(size)
    bits = np.zeros(int(end[-1]) if size.size else 0, np.uint8)
    start = end - size
    for j in range(MAX_LENGTH):
        has = size > j
        bits[start[has] + j] = (code[has] >> (size[has] - 1 - j)) & 1
    return np.packbits(bits).tobytes()


def _coded_plane(plane, n):
    """(Plane_Mode, field bytes) the encoder chooses for one plane (§5.5 encoder choices)."""
    if n >= SAMPLE_MIN:
        sample = np.bincount(plane[::SAMPLE_STEP], minlength=256)
        if np.count_nonzero(sample) >= 2:
            lengths = code_lengths(sample)
            if 10 * int((sample * lengths).sum()) >= RAW_TENTHS * int(sample.sum()):
                return MODE_RAW, plane.tobytes()
    counts = np.bincount(plane, minlength=256)
    used = np.flatnonzero(counts)
    if used.size == 1:
        return MODE_CONSTANT, bytes((int(used[0]),))
    lengths = code_lengths(counts)
    first, last = int(used[0]), int(used[-1])
    quarters = [plane[a:b] for a, b in _quarters(n)]
    sizes = [(int(lengths[q].sum()) + 7) // 8 for q in quarters]
    head = 2 + (last - first + 2) // 2 + 4 * SUBSTREAMS
    if head + sum(sizes) >= n:
        return MODE_RAW, plane.tobytes()
    nibbles = np.zeros(2 * ((last - first + 2) // 2), np.uint8)
    nibbles[:last - first + 1] = lengths[first:last + 1]
    table = (nibbles[0::2] << 4) | nibbles[1::2]
    codes = canonical_codes(lengths)
    body = bytes((first, last)) + table.tobytes() + np.array(sizes, "<u4").tobytes()
    return MODE_HUFFMAN, body + b"".join(_pack(q.astype(np.intp), lengths, codes) for q in quarters)


def _encode_chunk(raw, width, rotate):
    planes = _planes(raw, width, rotate)
    out = bytearray()
    for p in range(width - 1, -1, -1):
        mode, fields = _coded_plane(planes[p], planes.shape[1])
        out.append(mode)
        out += fields
    return bytes(out)


def encode_chunks(raw, width, rotate, chunk_log2, first, stop, out):
    """Chunks ``first..stop-1`` of the elements in ``raw``, one after another at the start of ``out``; their sizes."""
    chunk = (1 << chunk_log2) * width
    sizes, used = [], 0
    for j in range(first, stop):
        part = _encode_chunk(raw[j * chunk:(j + 1) * chunk], width, rotate)
        out[used:used + len(part)] = np.frombuffer(part, np.uint8)
        used += len(part)
        sizes.append(len(part))
    return sizes


# -- decoder -----------------------------------------------------------------------------------------------------

def _field(buf, pos, size):
    """``buf[pos:pos + size]``, or status 2 (§5.5 [R5.5-h]) when the chunk ends first."""
    if len(buf) - pos < size:
        raise _Fail(2)
    return buf[pos:pos + size]


def _window_table(lengths):
    """(symbol, length) of the codeword every 12-bit window starts with (the code is complete)."""
    symbol, size = np.zeros(TABLE, np.int64), np.zeros(TABLE, np.int64)
    codes = canonical_codes(lengths)
    for s in np.flatnonzero(lengths):
        lo = int(codes[s]) << (MAX_LENGTH - int(lengths[s]))
        hi = lo + (1 << (MAX_LENGTH - int(lengths[s])))
        symbol[lo:hi], size[lo:hi] = s, lengths[s]
    return symbol, size


def _huffman_plane(buf, pos, n):
    """Decode a Huffman plane body at ``buf[pos:]`` into n bytes; returns (plane, position after it)."""
    first, last = (int(b) for b in _field(buf, pos, 2))
    pos += 2
    if first > last:
        raise _Fail(4)
    count = last - first + 1
    packed = _field(buf, pos, (count + 1) // 2)
    pos += (count + 1) // 2
    nibbles = np.stack([packed >> 4, packed & 15], 1).reshape(-1).astype(np.int64)
    if (nibbles[:count] > MAX_LENGTH).any():
        raise _Fail(5)
    if count % 2 and nibbles[count]:
        raise _Fail(6)
    lengths = np.zeros(256, np.int64)
    lengths[first:last + 1] = nibbles[:count]
    kraft = int(np.where(lengths > 0, 1 << (MAX_LENGTH - lengths), 0).sum())
    if kraft > TABLE:
        raise _Fail(7)
    if kraft < TABLE:
        raise _Fail(8)
    symbol, size = _window_table(lengths)
    sizes = [int(s) for s in np.frombuffer(_field(buf, pos, 16).tobytes(), "<u4")]
    pos += 16
    if sum(sizes) > len(buf) - pos:
        raise _Fail(9)
    plane = np.empty(n, np.uint8)
    for (lo, hi), length in zip(_quarters(n), sizes):
        plane[lo:hi] = _substream(buf[pos:pos + length], hi - lo, symbol, size)
        pos += length
    return plane, pos


def _substream(sub, count, symbol, size):
    """``count`` symbols of one sub-stream (all of ``sub``), then its end checks (§5.5 [R5.5-p] to [R5.5-r])."""
    limit = 8 * len(sub)
    bits = np.concatenate([np.unpackbits(sub), np.zeros(MAX_LENGTH, np.uint8)]).astype(np.int64)
    windows = np.zeros(limit + 1, np.int64)  # the 12-bit window at every bit position 0..8S
    for j in range(MAX_LENGTH):
        windows += bits[j:j + limit + 1] << (MAX_LENGTH - 1 - j)
    symbols, sizes = symbol[windows].tolist(), size[windows].tolist()
    out, bit = [], 0
    for _ in range(count):
        if bit >= limit:  # symbols left and no bits: the position ends past 8 * S (every codeword has a bit)
            raise _Fail(10)
        out.append(symbols[bit])
        bit += sizes[bit]
    if bit > limit:
        raise _Fail(10)
    if (bit + 7) // 8 < len(sub):
        raise _Fail(11)
    if bit % 8 and int(sub[bit // 8]) & ((1 << (8 - bit % 8)) - 1):
        raise _Fail(12)
    return out


def _decode_chunk(buf, n, width, rotate):
    """The n * width element bytes of one chunk (all of ``buf``)."""
    planes, pos = np.empty((width, n), np.uint8), 0
    for p in range(width - 1, -1, -1):
        mode = int(_field(buf, pos, 1)[0])
        pos += 1
        if mode == MODE_RAW:
            planes[p] = _field(buf, pos, n)
            pos += n
        elif mode == MODE_CONSTANT:
            planes[p] = _field(buf, pos, 1)[0]
            pos += 1
        elif mode == MODE_HUFFMAN:
            planes[p], pos = _huffman_plane(buf, pos, n)
        else:
            raise _Fail(1)
    if pos != len(buf):
        raise _Fail(3)
    return _elements(planes, width, rotate)


def decode_chunks(body, offsets, count, width, rotate, chunk_log2, out, first, stop):
    """Decode chunks ``first..stop-1`` into ``out``; (0, stop), or (status, index) of the first failing chunk."""
    chunk = 1 << chunk_log2
    for j in range(first, stop):
        n = min(chunk, count - j * chunk)
        try:
            out[j * chunk * width:(j * chunk + n) * width] = _decode_chunk(
                body[offsets[j]:offsets[j + 1]], n, width, rotate)
        except _Fail as failure:
            return failure.args[0], j
    return 0, stop
