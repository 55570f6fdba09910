"""Cython kernels: twins of ``nncodec.reference`` with the same public names, bytes, arrays and errors."""
