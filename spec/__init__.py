"""The nncodec format specification: prose (``nncodec-format.md``), construct declaration (``format.py``), vectors."""
