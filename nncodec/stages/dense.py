"""dense layout (spec 4.1): one stream holding every element in C order."""

from ..errors import FormatError, InconsistentError
from ..format.records import node_elements


class DenseLayout:
    stage_id = 1
    name = "dense"
    kind = "layout"
    values_stream = 0

    def encode(self, array):
        """(params, [stream arrays]) for a C-contiguous array."""
        return b"", [array.reshape(-1)]

    def check(self, node, params, streams):
        """Validate the declaration before anything is decoded (spec 4.1); returns the output element type."""
        if params:
            raise FormatError(f"[R4.1-a] dense params must be empty, found {len(params)} bytes")
        if len(streams) != 1:
            raise InconsistentError(f"[R4.1-b] dense takes exactly 1 stream, found {len(streams)}")
        s = streams[0]
        if s.count != node_elements(node.shape):
            raise InconsistentError(f"[R4.1-b] dense stream holds {s.count} elements, "
                                    f"the node needs {node_elements(node.shape)}")
        return s.elem_type

    def decode(self, node, params, arrays, backend=None):
        return arrays[0].reshape(node.shape)
