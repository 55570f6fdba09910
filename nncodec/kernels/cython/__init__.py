"""Cython kernels: twins of ``nncodec.kernels.reference`` with the same public names, bytes, arrays and errors.

May import: ``format`` and ``nncodec.errors`` (and ``kernels.dq_machine``, ``kernels.parallel``); nothing above.
"""
