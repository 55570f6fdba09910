# cython: language_level=3
"""Small bit helpers shared by the Cython kernels (inline: no module of their own at run time)."""

from libc.stdint cimport uint64_t


cdef extern from *:
    int __builtin_clzll(unsigned long long x) nogil


cdef inline int bit_length(uint64_t x) noexcept nogil:
    """Number of binary digits of x (0 for 0), as Python's int.bit_length."""
    return 0 if x == 0 else 64 - __builtin_clzll(x)
