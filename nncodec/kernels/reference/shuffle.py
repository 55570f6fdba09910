"""Byte-plane shuffle (spec 5.4): element bytes regrouped by significance, so a float's exponent bytes sit together.

``shuffle`` maps n elements of k bytes (``data`` of n*k bytes) to k planes of n bytes: plane j holds byte j of every
element, in element order. ``unshuffle`` is its inverse.
"""

import numpy as np

__all__ = ["shuffle", "unshuffle"]


def shuffle(data, itemsize):
    """bytes of the k planes of ``data`` (n*k bytes, k = itemsize)."""
    elements = np.frombuffer(data, dtype=np.uint8).reshape(-1, itemsize)
    return elements.T.tobytes()  # §5.4 plane j = byte j of elements 0..n-1


def unshuffle(data, itemsize):
    """The element bytes from their k planes (inverse of :func:`shuffle`)."""
    planes = np.frombuffer(data, dtype=np.uint8).reshape(itemsize, -1)
    return planes.T.tobytes()
