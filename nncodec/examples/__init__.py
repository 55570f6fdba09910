"""Runnable examples (``python -m nncodec.examples.<name>``).

Tools: may import anything in nncodec.
"""
