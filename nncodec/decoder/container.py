"""Container reader and writer (spec section 3).

:func:`write_container` assembles header, directory and payload; :class:`Container` validates a container
(header, then the whole directory, then lengths) before it decodes anything, and decodes one tensor at a time.
"""

import itertools

import numpy as np

from .. import kernels
from ..kernels import parallel
from ..format.budget import CallBudget, node_bytes
from ..format.dtypes import BFLOAT16, DTYPE_NAMES, bfloat16_to_float32, float32_to_bfloat16, itemsize, numpy_dtype
from ..errors import ChecksumError, FormatError, InconsistentError, UnsupportedFeatureError
from ..format.header import crc32
from .directory import read_directory
from ..format.limits import DEFAULT_LIMITS
from ..format.records import CONCAT, PRODUCT, SEPARABLE, SUM, Alias, Chain, node_elements
from ..sparse.matrices import LowRankMatrix, SparsePlusLowRank, binary64_product
from ..stages import coding_by_id, stage_by_id
from ..stages.sparse_layout import matrix_shape

__all__ = ["Container"]

_FLOAT_CODES = frozenset((10, 11, 12, 13))
VERIFY_CHUNK = 1 << 16  # elements per piece when verify_all(materialize=False) runs elementwise transforms


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
        self.backend = kernels.resolve(backend)
        self.verify = verify
        self._buf = memoryview(buffer).cast("B") if not isinstance(buffer, memoryview) else buffer.cast("B")
        self.directory = read_directory(self._buf, self.limits, self.backend)
        self.metadata = dict(self.directory.metadata)
        self._records = {record.name: record for record in self.directory.tensors}
        self._index = {record.name: i for i, record in enumerate(self.directory.tensors)}
        self._checked_chains = {}  # id of a chain node (the directory keeps it alive) -> _check_chain's result

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

    # -- decoding: each call plans every tensor it touches (all checks, one CallBudget), then decodes ----------
    def decode_tensor(self, name, copy=False):
        """Decode tensor ``name`` (one call); raw dense tensors come back as read-only zero-copy views unless
        ``copy``."""
        return self.decode_tensors([name], copy=copy)[name]

    def decode_all(self, copy=True):
        """Every tensor, in directory order (one call: see :meth:`decode_tensors`)."""
        return self.decode_tensors(self.keys(), copy=copy)

    def decode_structure(self, name):
        """Tensor ``name`` as its stored layout's :mod:`nncodec.sparse` matrix (spec 4.6 to 4.9), or as an ndarray
        (a copy) when it is stored dense or as another composite. A product composite (low-rank factors, spec
        3.5.3) comes back as a :class:`~nncodec.sparse.LowRankMatrix` and a sum of a chain and a product as a
        :class:`~nncodec.sparse.SparsePlusLowRank` whose sparse part is that chain's structure (or array).

        The structure comes from the streams; elementwise transforms (codebook, cast, uniform with one step) are
        applied to its stored values or value table, which equals applying them to every element (spec 4.8
        makes every table value used). Transforms that depend on an element's position (dq, per-channel steps),
        or that would turn csr/relidx's implicit zero into something else, run over the structure's dense
        levels as in a materialized decode, and the result is laid out in the same layout in one pass over its
        bit patterns (CER/CSER: the implicit value is the one the unlisted elements now have, only the other
        elements are grouped). Either way ``todense()`` equals the materialized decode bit for bit.
        """
        return self.decode_tensors([name], materialize=False)[name]

    def decode_tensors(self, names, copy=False, materialize=True, progress=None):
        """``{name: array}`` for ``names``, decoded as one call.

        Every check that needs no stream (chain types, combine rules) and the call's budget
        (:class:`~nncodec.budget.CallBudget`: returned and built bytes, decoded stream bytes, multiply-adds) run
        over all the tensors before any is decoded. A tensor stored once for several names (aliases, spec 3.5.4)
        is decoded once, and those names share the result. ``materialize=False`` gives what
        :meth:`decode_structure` gives. ``progress(name, nbytes)`` is called after each name is ready.
        """
        names = list(dict.fromkeys(names))
        stored = self.check_call(names, materialize)
        targets = list(dict.fromkeys(stored.values()))
        sharing = {}
        for name in names:
            sharing.setdefault(stored[name], []).append(name)

        def decode(index):
            record = self.directory.tensors[index]
            if materialize:
                result = self._decode_node(record.node, record.name)
                if copy and not result.flags.owndata:
                    result = result.copy()
            else:
                result = self._structure(record.node, record.name)
            if progress is not None:
                for name in sharing[index]:
                    progress(name, node_bytes(record.node))
            return result

        results = parallel.map_ordered(decode, targets, self.jobs,
                                       cost=lambda index: node_bytes(self.directory.tensors[index].node))
        by_index = dict(zip(targets, results))
        return {name: by_index[stored[name]] for name in names}

    def check_call(self, names, materialize=True):
        """Run every check and the budget of one call decoding ``names`` (what :meth:`decode_tensors` does before
        it decodes), decoding nothing: a caller that then decodes them one call at a time (a streaming writer) is
        refused up front, as one call would be. Returns {name: index of the record that stores it}."""
        stored = {name: self._stored_index(name) for name in dict.fromkeys(names)}
        budget = CallBudget(self.limits)
        plan = self._plan_tensor if materialize else self._plan_structure
        for index in dict.fromkeys(stored.values()):
            record = self.directory.tensors[index]
            plan(budget, record.node, record.name)
        return stored

    def _stored_index(self, name):
        """Index of the record that stores tensor ``name``: its own, or its alias target's (spec 3.5.4)."""
        self.record(name)
        index = self._index[name]
        body = self.directory.tensors[index].node.body
        return body.target if isinstance(body, Alias) else index

    def _plan_tensor(self, budget, node, name):
        """Check ``node`` and add to ``budget`` what decoding it to an array returned by the call takes."""
        budget.add_output(node_bytes(node))
        self._plan_node(budget, node, name)

    def _plan_node(self, budget, node, name):
        """Check ``node`` (chain types, combine rules) and add to ``budget`` what building it takes besides its own
        output: its streams, the children it builds as arrays of their own, its multiply-adds."""
        if isinstance(node.body, Chain):
            layout, _, _ = self._check_chain(node, name)
            _plan_streams(budget, node, layout)
            return
        _check_composite(node, name)
        combine = node.body.combine
        if combine in (PRODUCT, SEPARABLE):
            left, right = node.body.children
            budget.add_macs(left.shape[0] * left.shape[1] * right.shape[1])
        for child in node.body.children:
            if combine != CONCAT:  # a concat's children are written into its output
                budget.add_built(node_bytes(child))
            self._plan_node(budget, child, name)

    def _plan_structure(self, budget, node, name):
        """As :meth:`_plan_tensor`, for the result :meth:`_structure` gives."""
        if _is_low_rank(node):
            _check_composite(node, name)
            for child in node.body.children:  # the factors are returned, their product is not formed
                self._plan_tensor(budget, child, name)
        elif _is_sparse_plus_low_rank(node):
            _check_composite(node, name)
            for child in node.body.children:
                self._plan_structure(budget, child, name)
        elif _has_structure(node):
            layout, _, plan = self._check_chain(node, name)
            _plan_streams(budget, node, layout)
            budget.add_output(_structure_bytes(node, layout))
            if not self._keeps_structure(node, layout, plan):  # densified to be laid out again: it must fit too
                self.limits.check("max_output_bytes", node_bytes(node))
                budget.add_built(node_bytes(node))
        else:
            self._plan_tensor(budget, node, name)

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

    def verify_all(self, materialize=True, progress=None):
        """Check every stream's padding and CRC and every rule a decode checks; raises DecodeError on the first
        fault, and refuses exactly what :meth:`decode_all` would refuse (one call, planned the same way).

        ``materialize=True`` decodes every tensor and discards it. ``materialize=False`` builds no tensor: see
        :meth:`_verify_node` for what it allocates at most. ``progress(name, nbytes)`` after each tensor."""
        self._verify(self.keys(), materialize, progress)

    def verify_tensor(self, name):
        """Every check decoding tensor ``name`` makes (CRCs and padding always), without building it; an alias is
        left to its target's own record, as the parser already checked it points there (§3.5.4)."""
        self.record(name)
        self._verify([name], False, None)

    def _verify(self, names, materialize, progress):
        records = [self.directory.tensors[self._index[name]] for name in names]
        records = [r for r in records if not isinstance(r.node.body, Alias)]
        budget = CallBudget(self.limits)
        for record in records:
            self._plan_tensor(budget, record.node, record.name)
        saved, self.verify = self.verify, True
        try:
            for record in records:
                if materialize:
                    self._decode_node(record.node, record.name)
                else:
                    self._verify_node(record.node, record.name)
                if progress is not None:
                    progress(record.name, node_bytes(record.node))
        finally:
            self.verify = saved

    def _verify_node(self, node, name):
        """Every check of :meth:`_decode_node` on ``node`` (planned already), without producing it, one chain at a
        time; nothing is kept. Allocates at most, for one chain: its decoded streams (their declared counts,
        bounded by the call's budget); for a sparse layout, its index structure (O(stored entries + rows), never
        m x n); the chain's elementwise transforms run on the stored values in pieces of VERIFY_CHUNK elements.
        Only a transform whose output depends on the element's position (dq, per-channel uniform) gets the whole
        tensor, decoded and dropped. Composites' children are verified, never combined."""
        if not isinstance(node.body, Chain):
            for child in node.body.children:
                self._verify_node(child, name)
            return
        layout, codings, plan = self._check_chain(node, name)
        params = node.body.stages[0].params
        arrays = self._decode_streams(node, name, codings)
        if hasattr(layout, "structure"):
            structure = layout.structure(node, params, arrays, self.backend, self.limits)
            values = getattr(structure, structure.values_attr)
        else:
            values = arrays[layout.values_stream]
        if all(transform.elementwise(parsed) for transform, parsed, _ in plan):
            for start in range(0, values.size, VERIFY_CHUNK):
                self._run_transforms(node, plan, values[start:start + VERIFY_CHUNK])
        else:
            self._run_transforms(node, plan, layout.decode(node, params, arrays, self.backend))

    def _decode_node(self, node, name, out=None):
        """The node's output array (the node was planned); written into ``out``, a parent concat's slice, if given."""
        body = node.body
        if isinstance(body, Chain):
            array = self._decode_chain(node, name)
        elif body.combine == CONCAT:
            return self._decode_concat(node, name, out)
        elif body.combine == SUM:
            array = self._decode_sum(node, name)
        else:
            array = self._decode_product(node, name)
        if out is None:
            return array
        out[...] = array
        return out

    def _decode_concat(self, node, name, out):
        """§3.5.2 concat: each child decoded straight into its rows of the output (independent chunks, in parallel)."""
        if out is None:
            out = np.empty(node.shape, dtype=numpy_dtype(node.dtype))
        children = node.body.children
        starts = [0, *itertools.accumulate(child.shape[0] for child in children)]
        def decode_child(k):
            self._decode_node(children[k], name, out[starts[k]:starts[k + 1]])
            self._chunk_decoded(children[k])

        parallel.map_ordered(decode_child, range(len(children)), self.jobs)
        return out

    def _chunk_decoded(self, node):
        """Called after a concat child is decoded into its rows (a Reader over a file may let its pages go)."""

    def _decode_sum(self, node, name):
        """§3.5.2 sum, left to right in the node's dtype, one child at a time (bfloat16: each step through
        binary32)."""
        bfloat16 = node.dtype == BFLOAT16
        children = node.body.children
        # IEEE 754 defines inf - inf, overflow and the like; they are results, not faults of the input, so NumPy's
        # floating-point warnings are silenced (a caller's warnings-as-errors filter must not turn them into crashes)
        with np.errstate(all="ignore"):
            first = self._decode_node(children[0], name)
            out = bfloat16_to_float32(first) if bfloat16 else first.copy()
            for child in children[1:]:
                part = self._decode_node(child, name)
                out += bfloat16_to_float32(part) if bfloat16 else part
                if bfloat16:
                    out = bfloat16_to_float32(float32_to_bfloat16(out))
        if bfloat16:
            return float32_to_bfloat16(out).view(numpy_dtype(BFLOAT16))
        return out

    def _decode_product(self, node, name):
        """§3.5.2 product and separable: binary64 products of the two children, rounded once to the node's dtype,
        computed tile by tile (:func:`nncodec.sparse.binary64_product`)."""
        left, right = parallel.map_ordered(lambda child: self._decode_node(child, name), node.body.children,
                                           self.jobs)
        dtype = numpy_dtype(node.dtype)
        separable = node.body.combine == SEPARABLE
        out = np.empty(node.shape, dtype=dtype)
        shape = left.shape[0], right.shape[1]
        product = np.empty(shape, dtype=dtype) if separable else out.reshape(shape)
        if node.dtype == BFLOAT16:  # §3.5.2: bfloat16 products round to binary32 first
            binary64_product(bfloat16_to_float32(left), bfloat16_to_float32(right), product,
                             lambda tile: float32_to_bfloat16(tile.astype(np.float32)).view(dtype))
        else:
            binary64_product(left, right, product)
        if separable:  # §3.5.2: node[o, i, y, x] = P[o * KW + x, i * KH + y]
            o, i, kh, kw = node.shape
            out[...] = product.reshape(o, kw, i, kh).transpose(0, 2, 3, 1)
        return out

    def _structure(self, node, name):
        """The result :meth:`decode_structure` describes, for a planned node."""
        if _is_low_rank(node):
            left, right = (_owned(self._decode_node(child, name)) for child in node.body.children)
            matrix = LowRankMatrix(left, right, tensor_shape=node.shape)
        elif _is_sparse_plus_low_rank(node):
            sparse, low_rank = (self._structure(child, name) for child in node.body.children)
            matrix = SparsePlusLowRank(sparse, low_rank, tensor_shape=node.shape)
        else:
            return self._chain_structure(node, name) if _has_structure(node) else _owned(self._decode_node(node, name))
        matrix.limits = self.limits  # todense() obeys the limits the structure was decoded under
        return matrix

    def _keeps_structure(self, node, layout, plan):
        """Whether a sparse layout's structure stands for the chain's output with its transforms applied to the
        stored values: every transform is elementwise, and csr/relidx's implicit zero stays the all-zero pattern."""
        if not all(transform.elementwise(parsed) for transform, parsed, _ in plan):
            return False
        values = node.body.streams[layout.values_stream]
        return layout.keeps_implicit(lambda v: self._run_transforms(node, plan, v), numpy_dtype(values.elem_type))

    def _chain_structure(self, node, name):
        """The :mod:`nncodec.sparse` matrix of a chain node whose layout has a structure (see decode_structure)."""
        params = node.body.stages[0].params
        layout, codings, plan = self._check_chain(node, name)
        structure = layout.structure(node, params, self._decode_streams(node, name, codings), self.backend)
        if self._keeps_structure(node, layout, plan):
            structure = layout.with_values(structure, lambda values: self._run_transforms(node, plan, values))
        else:  # the transforms run over the decoded tensor, as a materialized decode runs them
            structure = layout.relaid(structure, self._checked_output(node, name, self._run_transforms(
                node, plan, structure.todense())))
        structure.limits = self.limits  # todense() obeys the limits the structure was decoded under
        return structure

    def _decode_streams(self, node, name, codings):
        """The chain's streams, decoded (after their padding and CRC checks)."""
        return [coding.decode(self.stream_bytes(s, name), s, self.limits, self.backend)
                for coding, s in zip(codings, node.body.streams)]

    def _check_chain(self, node, name):
        """Type-check the whole chain (spec 4) before any stream is decoded: (layout, codings, transform plan).
        A chain that passed is not checked again (a call's plan checks it, its decode uses the result)."""
        checked = self._checked_chains.get(id(node))
        if checked is None:
            checked = self._checked_chains[id(node)] = self._type_check_chain(node, name)
        return checked

    def _type_check_chain(self, node, name):
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
        arrays = self._decode_streams(node, name, codings)
        return self._checked_output(node, name, self._run_transforms(
            node, plan, layout.decode(node, chain.stages[0].params, arrays, self.backend)))

    def _checked_output(self, node, name, array):
        """``array``, a chain's output, after checking it has the node's shape and dtype [R3.5-i]."""
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


def _is_sparse_plus_low_rank(node):
    """Whether ``node`` is a sum of a chain (the sparse part) and a low-rank product (spec 3.5.3)."""
    body = node.body
    return (not isinstance(body, (Chain, Alias)) and body.combine == SUM and len(body.children) == 2
            and isinstance(body.children[0].body, Chain) and _is_low_rank(body.children[1]))


def _has_structure(node):
    """Whether ``node`` is a chain whose layout has a :mod:`nncodec.sparse` structure."""
    return isinstance(node.body, Chain) and hasattr(stage_by_id(node.body.stages[0].stage_id), "structure")


def _plan_streams(budget, node, layout):
    """A chain's streams into ``budget``; those of a sparse layout other than its values are index streams."""
    for i, stream in enumerate(node.body.streams):
        budget.add_stream(stream, index=hasattr(layout, "structure") and i != layout.values_stream)


def _structure_bytes(node, layout):
    """An upper bound of the bytes of a sparse layout's structure: its values, an int64 array entry (column or
    pointer) per index entry, and int64 row pointers (none for a tensor without elements)."""
    m, n = matrix_shape(node.shape)
    streams = node.body.streams
    values = streams[layout.values_stream]
    index_entries = sum(s.count for i, s in enumerate(streams) if i != layout.values_stream)
    return values.count * itemsize(values.elem_type) + 8 * index_entries + (8 * (m + 1) if m * n else 0)


def _owned(array):
    """``array`` if it owns its memory, else a copy (a raw tensor is a view of the container's buffer)."""
    return array if array.flags.owndata else array.copy()


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
