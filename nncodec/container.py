"""Container reader and writer (spec section 3).

:func:`write_container` assembles header, directory and payload; :class:`Container` validates a container
(header, then the whole directory, then lengths) before it decodes anything, and decodes one tensor at a time.
"""

import numpy as np

from . import _backend, parallel
from .dtypes import BFLOAT16, DTYPE_NAMES, bfloat16_to_float32, float32_to_bfloat16, itemsize, numpy_dtype
from .errors import ChecksumError, FormatError, InconsistentError, UnsupportedFeatureError
from .header import FORMAT_MAJOR, FORMAT_MINOR, HEADER_SIZE, MAGIC, container_header, crc32, read_directory
from .limits import DEFAULT_LIMITS
from .records import CONCAT, PRODUCT, SEPARABLE, SUM, Alias, Chain, Directory, node_elements, serialize_directory
from .sparse import LowRankMatrix, SparsePlusLowRank
from .stages import coding_by_id, stage_by_id

__all__ = ["MAGIC", "HEADER_SIZE", "FORMAT_MAJOR", "FORMAT_MINOR", "write_container", "container_header",
           "Container", "PendingStream"]

_FLOAT_CODES = frozenset((10, 11, 12, 13))
VERIFY_CHUNK = 1 << 16  # elements per piece when verify_all(materialize=False) runs elementwise transforms


class PendingStream:
    """A stream's stored bytes and descriptor fields, before its offset is known (writer side)."""

    __slots__ = ("coding", "elem_type", "align_log2", "count", "data")

    def __init__(self, coding, elem_type, align_log2, count, data):
        self.coding, self.elem_type, self.align_log2 = coding, elem_type, align_log2
        self.count, self.data = count, data


def write_container(tensors, metadata=()):
    """Bytes of a container holding ``tensors``: a sequence of ``(TensorRecord, [PendingStream...])``.

    The records' stream descriptors must already carry each pending stream's length and CRC (see
    ``encoder.with_stream_facts``), in payload order; this function adds the header and the aligned payload.
    """
    records = [record for record, _ in tensors]
    pending = [p for _, streams in tensors for p in streams]
    directory = serialize_directory(Directory(tuple(metadata), tuple(records)))
    payload = bytearray()
    start = HEADER_SIZE + len(directory)
    for p in pending:
        align = 1 << p.align_log2
        pad = -(start + len(payload)) % align
        payload += bytes(pad)
        payload += p.data
    return container_header(directory, len(payload)) + directory + bytes(payload)


class Container:
    """A validated container over a bytes-like buffer (bytes, memoryview, mmap).

    Construction checks the header, the directory (every structural rule and limit of spec sections 3 and 6)
    and the payload length; no tensor is decoded until asked for. ``verify=True`` (default) checks the CRC and
    padding of each stream when it is read. ``jobs`` threads decode tensors and concat chunks independently
    (``None``: every core; 1: serial; see nncodec.parallel).
    """

    def __init__(self, buffer, limits=None, backend=None, verify=True, jobs=None):
        self.limits = limits or DEFAULT_LIMITS
        self.jobs = parallel.resolve_jobs(jobs)
        self.backend = _backend.resolve(backend)
        self.verify = verify
        self._buf = memoryview(buffer).cast("B") if not isinstance(buffer, memoryview) else buffer.cast("B")
        self.directory = read_directory(self._buf, self.limits, self.backend)
        self.metadata = dict(self.directory.metadata)
        self._records = {record.name: record for record in self.directory.tensors}

    # -- directory access -----------------------------------------------------------------------------------
    def keys(self):
        return list(self._records)

    def __contains__(self, name):
        return name in self._records

    def __len__(self):
        return len(self._records)

    def __iter__(self):
        return iter(self._records)

    def record(self, name):
        try:
            return self._records[name]
        except KeyError:
            raise KeyError(f"no tensor named {name!r} in the container") from None

    # -- decoding -------------------------------------------------------------------------------------------
    def decode_tensor(self, name, copy=False):
        """Decode tensor ``name``; raw dense tensors come back as read-only zero-copy views unless ``copy``."""
        node = self.record(name).node
        self.limits.check("max_output_bytes", node_elements(node.shape) * itemsize(node.dtype))
        array = self._decode_node(node, name)
        if copy and not array.flags.owndata:
            array = array.copy()
        return array

    def decode_all(self, copy=True):
        """Every tensor, in directory order, after checking the total output against ``max_output_bytes``."""
        total = sum(node_elements(r.node.shape) * itemsize(r.node.dtype) for r in self.directory.tensors)
        self.limits.check("max_output_bytes", total)
        names = list(self._records)
        arrays = parallel.map_ordered(lambda name: self.decode_tensor(name, copy=copy), names, self.jobs,
                                      cost=lambda name: node_elements(self._records[name].node.shape))
        return dict(zip(names, arrays))

    def stream_bytes(self, stream, name=""):
        """The stored bytes of ``stream`` (a zero-copy memoryview), after its padding and CRC checks."""
        data = self._buf[stream.offset:stream.offset + stream.length]
        if self.verify:
            pad = self._buf[stream.offset - stream.padding:stream.offset]
            if any(pad):
                raise FormatError(f"[R3.4-a] tensor {name!r}: non-zero padding before the stream at {stream.offset}")
            if crc32(data) != stream.crc32:
                raise ChecksumError(f"[R3.5-h] tensor {name!r}: stream CRC-32 mismatch at offset {stream.offset}: "
                                    f"stored {stream.crc32:08x}, computed {crc32(data):08x}")
        return data

    def verify_all(self, materialize=True):
        """Check every stream's padding and CRC and every rule a decode checks; raises DecodeError on the first
        fault, and refuses exactly what decoding every tensor one by one would refuse.

        ``materialize=True`` decodes every tensor and discards it. ``materialize=False`` builds no tensor: see
        :meth:`_verify_node` for what it allocates at most."""
        for name in self._records:
            if not materialize:
                self.verify_tensor(name)
                continue
            saved, self.verify = self.verify, True
            try:
                self.decode_tensor(name)
            finally:
                self.verify = saved

    def verify_tensor(self, name):
        """Every check decoding tensor ``name`` makes (CRCs and padding always), without building it; an alias is
        left to its target's own record, as the parser already checked it points there (§3.5.4)."""
        node = self.record(name).node
        self.limits.check("max_output_bytes", node_elements(node.shape) * itemsize(node.dtype))
        saved, self.verify = self.verify, True
        try:
            self._verify_node(node, name)
        finally:
            self.verify = saved

    def _verify_node(self, node, name):
        """Every check of :meth:`_decode_node` on ``node``, without producing it, one chain at a time; nothing is
        kept. Allocates at most, for one chain: its decoded streams (their declared counts, which the directory
        parser bounded by ``max_elements`` and ``max_expansion``; a dense chain's one stream is the tensor's
        elements in their stored type); for a sparse layout, its index structure
        (O(stored entries + rows), never m x n); the chain's elementwise transforms run on the stored values in
        pieces of VERIFY_CHUNK elements. Only a transform whose output depends on the element's position (dq,
        per-channel uniform) gets the whole tensor, decoded and dropped. Composites are checked (combine rules,
        ``max_product_macs``) and their children verified, but never combined; an alias is checked by the
        parser and its target is verified as its own record."""
        if isinstance(node.body, Alias):
            return
        if not isinstance(node.body, Chain):
            _check_composite(node, name)
            self._check_product_work(node)
            for child in node.body.children:
                self._verify_node(child, name)
            return
        layout, codings, plan = self._check_chain(node, name)
        params = node.body.stages[0].params
        arrays = [coding.decode(self.stream_bytes(s, name), s, self.limits, self.backend)
                  for coding, s in zip(codings, node.body.streams)]
        if hasattr(layout, "structure"):
            values = getattr(layout.structure(node, params, arrays, self.backend), layout.values_attr)
        else:
            values = arrays[layout.values_stream]
        if all(transform.elementwise(parsed) for transform, parsed, _ in plan):
            for start in range(0, values.size, VERIFY_CHUNK):
                self._run_transforms(node, plan, values[start:start + VERIFY_CHUNK])
        else:
            self._run_transforms(node, plan, layout.decode(node, params, arrays, self.backend))

    def _decode_node(self, node, name):
        if isinstance(node.body, Chain):
            return self._decode_chain(node, name)
        if isinstance(node.body, Alias):  # §3.5.4 the parser checked the target: an earlier, non-alias record
            target = self.directory.tensors[node.body.target]
            return self._decode_node(target.node, target.name)
        _check_composite(node, name)
        self._check_product_work(node)
        parts = parallel.map_ordered(lambda child: self._decode_node(child, name), node.body.children, self.jobs)
        if node.body.combine == CONCAT:
            return np.concatenate(parts, axis=0)
        # IEEE 754 defines inf - inf, overflow and the like; they are results, not faults of the input, so NumPy's
        # floating-point warnings are silenced (a caller's warnings-as-errors filter must not turn them into crashes)
        with np.errstate(all="ignore"):
            if node.dtype == BFLOAT16:  # §3.5.2: bfloat16 arithmetic goes through binary32, rounded back each time
                parts = [bfloat16_to_float32(p) for p in parts]
            if node.body.combine == SUM:
                out = parts[0].copy()
                for part in parts[1:]:
                    out += part
                    if node.dtype == BFLOAT16:
                        out = bfloat16_to_float32(float32_to_bfloat16(out))
            else:
                left, right = parts
                out = np.matmul(left.astype(np.float64), right.astype(np.float64))
                if node.body.combine == SEPARABLE:  # §3.5.2: node[o, i, y, x] = P[o * KW + x, i * KH + y]
                    o, i, kh, kw = node.shape
                    out = out.reshape(o, kw, i, kh).transpose(0, 2, 3, 1)
                out = out.reshape(node.shape).copy(order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
                if node.dtype == BFLOAT16:
                    out = out.astype(np.float32)
            if node.dtype == BFLOAT16:
                return float32_to_bfloat16(out).view(numpy_dtype(BFLOAT16))
            return out.astype(numpy_dtype(node.dtype), copy=False)

    def decode_structure(self, name):
        """Tensor ``name`` as its stored layout's :mod:`nncodec.sparse` matrix (spec 4.6 to 4.9), or as an ndarray
        (a copy) when it is stored dense or as another composite. A product composite (low-rank factors, spec
        3.5.3) comes back as a :class:`~nncodec.sparse.LowRankMatrix` and a sum of a chain and a product as a
        :class:`~nncodec.sparse.SparsePlusLowRank` whose sparse part is that chain's structure (or array).

        The structure comes from the streams; elementwise transforms (codebook, cast, uniform with one step) are
        applied to its stored values or value table, which equals applying them to every element (spec 4.8
        makes every table value used). Transforms that depend on an element's position (dq, per-channel steps),
        or that would turn csr/relidx's implicit zero into something else, make the tensor be decoded and its
        result laid out again in the same layout, over the elements' bit patterns. Either way ``todense()``
        equals the materialized decode bit for bit.
        """
        node = self.record(name).node
        self.limits.check("max_output_bytes", node_elements(node.shape) * itemsize(node.dtype))
        factored = self._factored_structure(node, name)
        if factored is not None:
            return factored
        layout = stage_by_id(node.body.stages[0].stage_id) if isinstance(node.body, Chain) else None
        if layout is None or not hasattr(layout, "structure"):
            return self.decode_tensor(name, copy=True)
        return self._chain_structure(node, name, layout)

    def _factored_structure(self, node, name):
        """A :class:`~nncodec.sparse.LowRankMatrix` for a low-rank product node (see ``_is_low_rank``), a
        :class:`~nncodec.sparse.SparsePlusLowRank` for a sum of a chain and such a product (the chain's stored
        layout kept), or None for any other node. Checks and decodes in the order the materialized decode does
        (so both raise the same error); the factors are decoded as arrays (copies), their product never formed."""
        body = node.body
        if _is_low_rank(node):
            return self._low_rank(node, name)
        if (isinstance(body, Chain) or isinstance(body, Alias) or body.combine != SUM or len(body.children) != 2
                or not isinstance(body.children[0].body, Chain) or not _is_low_rank(body.children[1])):
            return None
        _check_composite(node, name)
        sparse_node = body.children[0]
        layout = stage_by_id(sparse_node.body.stages[0].stage_id)
        sparse = (self._chain_structure(sparse_node, name, layout) if hasattr(layout, "structure")
                  else np.array(self._decode_chain(sparse_node, name)))
        return SparsePlusLowRank(sparse, self._low_rank(body.children[1], name), tensor_shape=node.shape)

    def _check_product_work(self, node):
        """A checked product or separable composite's multiply-adds against ``max_product_macs`` (time, not
        memory: m x k by k x n costs m * k * n)."""
        if node.body.combine in (PRODUCT, SEPARABLE):
            left, right = node.body.children
            self.limits.check("max_product_macs", left.shape[0] * left.shape[1] * right.shape[1])

    def _low_rank(self, node, name):
        _check_composite(node, name)
        self._check_product_work(node)  # as todense() would
        left, right = (np.array(self._decode_node(child, name)) for child in node.body.children)
        return LowRankMatrix(left, right, tensor_shape=node.shape)

    def _chain_structure(self, node, name, layout):
        """The :mod:`nncodec.sparse` matrix of a chain node whose layout has a structure (see decode_structure)."""
        params = node.body.stages[0].params
        _, codings, plan = self._check_chain(node, name)
        if all(transform.elementwise(parsed) for transform, parsed, _ in plan):
            arrays = [coding.decode(self.stream_bytes(s, name), s, self.limits, self.backend)
                      for coding, s in zip(codings, node.body.streams)]
            structure = layout.with_values(layout.structure(node, params, arrays, self.backend),
                                           lambda values: self._run_transforms(node, plan, values))
            if structure is not None:
                return structure
        dense = self._decode_chain(node, name)
        options = {"gap_bits": params[0]} if layout.name == "relidx" else {}
        _, arrays = layout.encode(dense, **options)
        return layout.structure(node, params, arrays, self.backend)

    def _check_chain(self, node, name):
        """Type-check the whole chain (spec 4) before any stream is decoded: (layout, codings, transform plan)."""
        chain = node.body
        layout = stage_by_id(chain.stages[0].stage_id)
        if layout.kind != "layout":
            raise InconsistentError(f"[R4-b] tensor {name!r}: first stage {layout.name} is not a layout")
        codings = [coding_by_id(s.coding) for s in chain.streams]
        code = layout.check(node, chain.stages[0].params, chain.streams)
        plan = []
        for stage in chain.stages[1:]:
            transform = stage_by_id(stage.stage_id)
            if transform.kind == "layout":
                raise InconsistentError(f"[R4-b] tensor {name!r}: layout {transform.name} after the first stage")
            out_code, parsed = transform.parse(node, stage.params, code)
            plan.append((transform, parsed, out_code))
            code = out_code
        if code != node.dtype:
            raise InconsistentError(f"[R3.5-i] tensor {name!r}: the chain produces {DTYPE_NAMES[code]}, "
                                    f"the node declares {DTYPE_NAMES[node.dtype]}")
        return layout, codings, plan

    def _decode_chain(self, node, name):
        """Type-check the whole chain (spec 4), then decode its streams and run its stages."""
        chain = node.body
        layout, codings, plan = self._check_chain(node, name)
        arrays = [coding.decode(self.stream_bytes(s, name), s, self.limits, self.backend)
                  for coding, s in zip(codings, chain.streams)]
        array = self._run_transforms(node, plan, layout.decode(node, chain.stages[0].params, arrays, self.backend))
        if array.shape != node.shape or array.dtype != numpy_dtype(node.dtype):
            raise InconsistentError(f"[R3.5-i] tensor {name!r}: the chain produced {array.dtype}{list(array.shape)}, "
                                    f"the node declares {DTYPE_NAMES[node.dtype]}{list(node.shape)}")
        return array

    def _run_transforms(self, node, plan, array):
        """The chain's transforms applied to ``array`` in order."""
        # transforms compute in IEEE 754 (spec 4): a NaN or inf result (e.g. a signalling NaN widened by cast) is a
        # value, not a fault, so NumPy's floating-point warnings must not escape (they are errors under -W error)
        with np.errstate(all="ignore"):
            for transform, parsed, out_code in plan:
                array = transform.decode(node, parsed, array, out_code, self.backend)
        return array


def _is_low_rank(node):
    """Whether ``node`` is a product composite (not bfloat16, whose decoder rounds every step) of at least two
    dimensions whose left factor's rows are the node's axis 0 and right factor's columns the product of the others,
    i.e. factors of the node's matrix view (a degenerate empty product can match the count without that)."""
    body = node.body
    return (not isinstance(body, (Chain, Alias)) and body.combine == PRODUCT and node.dtype != BFLOAT16
            and len(node.shape) >= 2 and len(body.children) == 2 and len(body.children[0].shape) == 2
            and len(body.children[1].shape) == 2 and body.children[0].shape[0] == node.shape[0]
            and body.children[1].shape[1] == node_elements(node.shape[1:]))


def _check_composite(node, name):
    """Check a composite node's combine rule (spec 3.5.2) before any child is decoded."""
    body = node.body
    children = body.children
    if body.combine not in (CONCAT, SUM, PRODUCT, SEPARABLE):
        raise UnsupportedFeatureError(f"[R3.5-k] tensor {name!r}: unknown Combine {body.combine}")
    bad = None
    if any(c.dtype != node.dtype for c in children):
        bad = "every child must have the node's dtype"
    elif body.combine == CONCAT:
        if not node.shape:
            bad = "concat needs Ndim >= 1"
        elif any(c.shape[1:] != node.shape[1:] or len(c.shape) != len(node.shape) for c in children):
            bad = "concat children must match the node's shape except axis 0"
        elif sum(c.shape[0] for c in children) != node.shape[0]:
            bad = "concat children's axis-0 extents must add up to the node's"
    elif node.dtype not in _FLOAT_CODES:
        bad = "sum and product need a float dtype"
    elif body.combine == SUM:
        if any(c.shape != node.shape for c in children):
            bad = "sum children must have the node's shape"
    elif len(children) != 2 or any(len(c.shape) != 2 for c in children):
        bad = "product and separable take exactly two 2-D children"
    elif children[0].shape[1] != children[1].shape[0]:
        bad = "product and separable children's inner extents differ"
    elif body.combine == PRODUCT:
        if children[0].shape[0] * children[1].shape[1] != node_elements(node.shape):
            bad = "product result size differs from the node's"
    elif len(node.shape) != 4:
        bad = "separable needs a 4-D node (O, I, KH, KW)"
    else:
        o, i, kh, kw = node.shape
        if (children[0].shape[0], children[1].shape[1]) != (o * kw, i * kh):
            bad = "separable children must be (O*KW, R) and (R, I*KH)"
    if bad:
        raise InconsistentError(f"[R3.5-k] tensor {name!r}: {bad}")
