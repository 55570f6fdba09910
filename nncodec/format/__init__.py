"""The container format of spec 3 and its limits (spec 6): bytes and records, nothing decoded.

``header`` (the 32-byte header, CRC-32), ``varint`` and ``records`` (the directory's records, built and
serialized), ``identifiers`` (the numbers of spec 3.8), ``dtypes`` (element types and their NumPy carriers),
``limits`` (``DecodeLimits``) and ``budget`` (the whole-call budgets of spec 6).

May import: ``nncodec.errors`` and NumPy-free standard modules (``dtypes`` imports NumPy and ml_dtypes). Nothing
else in nncodec: every other package builds on this one.
"""
