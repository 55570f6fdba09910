"""Whole-call decode budgets (spec 6 and 8.2).

Every decoding call (``decode``, one ``Reader`` access, ``verify``, ``runtime.load``, a CLI verb) makes one
:class:`CallBudget`. Before it decodes anything, the container adds to it, from the directory alone, everything
the call will do for every tensor it touches: the bytes the call returns, the node outputs it builds, the bytes
its streams decode to and the multiply-adds of its products. The first total over its limit raises
:class:`~nncodec.errors.LimitExceededError`, so a call is refused before any of its work, not halfway through.
"""

from ..errors import LimitExceededError
from .identifiers import itemsize
from .records import node_elements

__all__ = ["CallBudget", "BUILD_FACTOR", "node_bytes"]

BUILD_FACTOR = 2  # arrays one call may build, in units of max_output_bytes (spec 6)
RAW = 0  # spec 3.8: a raw stream decodes to a view of the input, no array of its own
ENTROPY_CODED = (2, 3)  # spec 3.8 huffman and cabac: decoded as int64, then narrowed to the Elem_Type
INDEX_ENTRY_BYTES = 16  # a sparse layout's kernels hold an index entry as two int64s (a copy, a pointer or column)


def node_bytes(node):
    """Bytes of the node's output as a dense array."""
    return node_elements(node.shape) * itemsize(node.dtype)


class CallBudget:
    """The running totals of one call, each checked against ``limits`` as it grows (spec 6, "per call"):

    - ``output``: bytes the call returns (tensors, or a lazy structure's arrays): ``max_output_bytes``;
    - ``built``: bytes of every array the call builds: what it returns, every child of a sum, product or separable
      node, a tensor densified to be laid out again, every decoded stream but a raw one (a view of the input), 8
      more bytes per element of a huffman or cabac stream (decoded as int64 first), and ``INDEX_ENTRY_BYTES`` per
      entry of every index stream: ``BUILD_FACTOR * max_output_bytes + expansion_slack``;
    - ``decoded`` against ``stored``: the call's streams decode to at most ``max_expansion * stored +
      expansion_slack`` bytes, one slack per call however many streams it reads;
    - ``macs``: multiply-adds of every product and separable node it computes: ``max_product_macs``.
    """

    def __init__(self, limits):
        self.limits = limits
        self.output = self.built = self.decoded = self.stored = self.macs = 0

    def add_output(self, nbytes):
        """Bytes the call returns (they are built, too)."""
        self.output += nbytes
        self.limits.check("max_output_bytes", self.output)
        self.add_built(nbytes)

    def add_built(self, nbytes):
        """Bytes of an array the call builds."""
        self.built += nbytes
        allowed = BUILD_FACTOR * self.limits.max_output_bytes + self.limits.expansion_slack
        if self.built > allowed:
            raise LimitExceededError(
                f"[R6] max_output_bytes: the call builds {self.built} bytes of arrays, more than "
                f"{BUILD_FACTOR} x {self.limits.max_output_bytes} + {self.limits.expansion_slack}",
                limit="max_output_bytes", declared=self.built, maximum=allowed)

    def add_stream(self, stream, index=False):
        """A stream the call decodes (its declared Element_Count and Stored_Length); ``index``: a sparse layout's
        index stream, which its kernels widen to int64 pointers or columns."""
        decoded = stream.count * itemsize(stream.elem_type)
        self.decoded += decoded
        self.stored += stream.length
        self.limits.check_expansion(self.decoded, self.stored)
        wide = 8 * stream.count if stream.coding in ENTROPY_CODED else 0
        entries = INDEX_ENTRY_BYTES * stream.count if index else 0
        self.add_built((0 if stream.coding == RAW else decoded) + wide + entries)

    def add_macs(self, macs):
        """Multiply-adds of a product the call computes."""
        self.macs += macs
        self.limits.check("max_product_macs", self.macs)
