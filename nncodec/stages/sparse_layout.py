"""What the sparse layouts (spec 4.6 to 4.9) share: the matrix view of a node, the zero element, index streams.

A sparse layout stage has ``encode(array, **options) -> (params, stream arrays)`` (index streams in their own
narrow unsigned dtype, the values stream in the tensor's), ``check(node, params, streams) -> output Elem_Type``
(every rule that the descriptors alone decide, before any stream is decoded), ``structure(node, params, arrays,
backend, limits) -> nncodec.sparse matrix`` (the decoded streams' rules, then the structure, whose ``todense()``
obeys ``limits``), ``decode`` (its dense array), ``with_values`` (the structure after elementwise transforms,
for the lazy decode) and ``relaid`` (the structure after transforms that depend on the element's position). Structures hold O(stored entries + rows of the index streams), never O(m x n).
``values_stream`` is the index of the stream that carries the tensor's element type.
"""

import numpy as np

from .. import kernels
from ..format.dtypes import is_integer_code
from ..errors import FormatError, InconsistentError
from ..format.records import node_elements

__all__ = ["SparseLayout", "matrix_shape", "zero_view", "index_array", "as_int64"]

UNSIGNED = (np.dtype("u1"), np.dtype("<u2"), np.dtype("<u4"), np.dtype("<u8"))


def matrix_shape(shape):
    """(m, n) of the matrix view (§4.6): Ndim >= 2 -> (Shape[0], product of the rest); Ndim 1 -> (1, Shape[0]);
    Ndim 0 -> (1, 1)."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return shape[0], node_elements(shape[1:])


def zero_view(array):
    """The (m, n) matrix view of ``array`` as unsigned integers of the element's width, so that the layouts'
    zero is the element whose bytes are all zero (float +0.0, not -0.0; §4.6)."""
    m, n = matrix_shape(array.shape)
    flat = np.ascontiguousarray(array).reshape(m, n)
    return flat.view(UNSIGNED[flat.dtype.itemsize.bit_length() - 1])


def index_array(values):
    """``values`` (non-negative integers) in the narrowest unsigned dtype that holds them."""
    values = np.asarray(values, dtype=np.int64)
    top = int(values.max()) if values.size else 0
    dtype = next(d for d in UNSIGNED if top <= np.iinfo(d).max)  # uint64 holds every int64 >= 0
    return values.astype(dtype)


def as_int64(array):
    """A decoded index stream as int64 (uint64 values >= 2^63 become negative and fail the kernels' checks)."""
    return np.ascontiguousarray(array.astype(np.int64, copy=False))


class SparseLayout:
    """Base of the sparse layouts: ``stream_names`` lists their streams in order, the last ``values_stream``."""

    kind = "layout"
    stream_names = ()
    values_stream = 0
    implicit_is_zero = True  # the unlisted elements are zero (csr, relidx), not Omega[0] (cer, cser)
    rule_params = "R4.7-a"
    rule_streams = None

    def params_check(self, params):
        if params:
            raise FormatError(f"[{self.rule_params}] {self.name} params must be empty, found {len(params)} bytes")
        return None

    def check(self, node, params, streams):
        self.params_check(params)
        if len(streams) != len(self.stream_names):
            raise InconsistentError(f"[{self.rule_streams}] {self.name} takes {len(self.stream_names)} streams "
                                    f"({', '.join(self.stream_names)}), found {len(streams)}")
        for i, s in enumerate(streams):
            if i != self.values_stream and (not is_integer_code(s.elem_type) or s.elem_type == 1):
                raise InconsistentError(f"[{self.rule_streams}] {self.name} stream {self.stream_names[i]} must "
                                        f"have an integer Elem_Type, found {s.elem_type}")
        self.check_counts(node, params, [s.count for s in streams], *matrix_shape(node.shape))
        return streams[self.values_stream].elem_type

    def fail(self, message):
        raise InconsistentError(f"[{self.rule_streams}] {self.name}: {message}")

    def with_values(self, structure, transform):
        """``structure`` with ``transform`` (an elementwise function of 1-D arrays) applied to its stored values,
        or None when that cannot stand for the transformed tensor (see :meth:`keeps_implicit`)."""
        values = getattr(structure, structure.values_attr)
        if not self.keeps_implicit(transform, values.dtype):
            return None
        return structure.with_values(transform(values))

    def relaid(self, structure, dense):
        """The structure of ``dense``, the chain's output from ``structure`` (the decoded streams) through
        transforms whose output depends on the element's position (dq, per-channel steps), in this layout: every
        element other than the implicit one is listed, found in one pass over ``dense`` (no sort of m x n)."""
        bits = zero_view(dense)
        matrix = self.layout_bits(structure, bits)
        return matrix.with_values(getattr(matrix, matrix.values_attr).view(dense.dtype))

    def keeps_implicit(self, transform, dtype):
        """Whether ``transform`` applied to stored values of ``dtype`` stands for it applied to every element: the
        implicit zero of csr/relidx must stay the all-zero bit pattern (cer/cser's implicit value is in Omega)."""
        return not (self.implicit_is_zero and np.any(zero_view(transform(np.zeros(1, dtype)))))

    def structure(self, node, params, arrays, backend=None, limits=None):
        """The :mod:`nncodec.sparse` matrix of the decoded streams ``arrays`` after every rule on their values;
        ``limits`` (a DecodeLimits or None) goes with it and bounds its ``todense()``."""
        matrix = self._structure(node, params, arrays, backend)
        matrix.limits = limits
        return matrix

    def decode(self, node, params, arrays, backend=None):
        return self.structure(node, params, arrays, backend).todense()

    def kernels(self, backend):
        return kernels.module("layouts", backend)
