"""Pure-Python/NumPy reference kernels, written to be read next to the spec, section by section.

Each module here has a Cython twin in ``nncodec.kernels.cython`` with the same public names and signatures; both produce
identical results and raise the same error classes.

May import: ``format`` and ``nncodec.errors`` (and ``kernels.dq_machine``); nothing above.
"""
