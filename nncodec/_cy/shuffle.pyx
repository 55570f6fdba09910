# cython: language_level=3
"""Cython twin of nncodec.reference.shuffle (byte-plane shuffle, spec 5.4)."""

__all__ = ["shuffle", "unshuffle"]


cdef void _transpose(const unsigned char[::1] src, unsigned char[::1] dst, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    # dst[c * rows + r] = src[r * cols + c]; both buffers hold exactly rows * cols bytes (checked by the callers)
    cdef Py_ssize_t r, c
    for r in range(rows):
        for c in range(cols):
            dst[c * rows + r] = src[r * cols + c]


def shuffle(data, Py_ssize_t itemsize):
    """bytes of the itemsize planes of ``data`` (n * itemsize bytes)."""
    cdef const unsigned char[::1] src = memoryview(data).cast("B")
    if itemsize <= 0 or src.shape[0] % itemsize:
        raise ValueError("data length is not a multiple of itemsize")
    out = bytearray(src.shape[0])
    cdef unsigned char[::1] dst = out
    with nogil:
        _transpose(src, dst, src.shape[0] // itemsize, itemsize)
    return bytes(out)


def unshuffle(data, Py_ssize_t itemsize):
    """The element bytes from their itemsize planes (inverse of shuffle)."""
    cdef const unsigned char[::1] src = memoryview(data).cast("B")
    if itemsize <= 0 or src.shape[0] % itemsize:
        raise ValueError("data length is not a multiple of itemsize")
    out = bytearray(src.shape[0])
    cdef unsigned char[::1] dst = out
    with nogil:
        _transpose(src, dst, itemsize, src.shape[0] // itemsize)
    return bytes(out)
