"""Runnable examples (``python -m nncodec.examples.<name>``)."""
