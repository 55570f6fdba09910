# cython: language_level=3
"""Cython twin of nncodec.reference.shuffle (byte-plane shuffle, spec 5.4)."""

__all__ = ["shuffle", "unshuffle"]


cdef void _transpose(const unsigned char[::1] src, unsigned char[::1] dst, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    # dst[c * rows + r] = src[r * cols + c]; both buffers hold exactly rows * cols bytes (checked by _transposed)
    cdef Py_ssize_t r, c
    for r in range(rows):
        for c in range(cols):
            dst[c * rows + r] = src[r * cols + c]


cdef bytes _transposed(data, Py_ssize_t itemsize, bint to_planes):
    cdef const unsigned char[::1] src = memoryview(data).cast("B")
    if itemsize <= 0 or src.shape[0] % itemsize:
        raise ValueError("data length is not a multiple of itemsize")
    out = bytearray(src.shape[0])
    cdef unsigned char[::1] dst = out
    cdef Py_ssize_t count = src.shape[0] // itemsize
    with nogil:
        if to_planes:
            _transpose(src, dst, count, itemsize)
        else:
            _transpose(src, dst, itemsize, count)
    return bytes(out)


def shuffle(data, Py_ssize_t itemsize):
    """bytes of the itemsize planes of ``data`` (n * itemsize bytes)."""
    return _transposed(data, itemsize, True)


def unshuffle(data, Py_ssize_t itemsize):
    """The element bytes from their itemsize planes (inverse of shuffle)."""
    return _transposed(data, itemsize, False)
