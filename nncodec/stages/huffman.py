"""huffman stream coding (spec 3.8 code 2, defined in spec/huffman.md): canonical Huffman codes of integers."""

from .integer import IntegerCoding


class HuffmanCoding(IntegerCoding):
    """Canonical, length-limited Huffman coding of an integer stream, in 4 interleaved sub-streams.

    Parameters (encoder only, see spec/huffman.md §5.3.1.8): ``max_length`` (1..15, default 12) limits code
    lengths; ``max_span`` (1..65535, default 4096) limits the direct alphabet, rarer far values are escaped.
    """

    coding_id = 2
    name = "huffman"
    kernel = "huffman"
