"""Cython kernels: twins of ``nncodec.kernels.reference`` with the same public names, bytes, arrays and errors."""
