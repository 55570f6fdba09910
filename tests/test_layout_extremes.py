"""Sparse layouts at the extremes the format admits (spec 4.6 to 4.9 and section 6), on both backends, with
containers crafted byte by byte: an element at column 2^31 + 5 or 2^34 - 2 (past int32), empty tensors whose
other extent is 2^34, and the N / N + 1 edges of every count rule. Lazy decodes and verification are measured
with tracemalloc: nothing may be allocated in proportion to an extent that no stream pays for. Only
``test_wide_row_densifies_in_place`` builds an m x n array (2 GiB of int8, zero pages but one)."""

import re
import tracemalloc

import numpy as np
import pytest

import nncodec
from nncodec import kernels, runtime, sparse
from nncodec.decoder.container import Container
from nncodec.format.dtypes import DTYPE_CODES
from nncodec.errors import DecodeError, InconsistentError, LimitExceededError
from nncodec.format.limits import DecodeLimits
from nncodec.format.records import Node
from nncodec.stages import stage_by_name
from nncodec.stages.sparse_layout import matrix_shape

from crafting import chain_tensor, craft, stream

COL = 2**31 + 5  # the column past int32 of issue 15
STAGE_IDS = {"dense": 1, "relidx": 2, "csr": 3, "cer": 4, "cser": 5}
SPARSE = ("relidx", "csr", "cer", "cser")
GAP_BITS = 16
PEAK = 1 << 25  # traced bytes a lazy decode or verify of one of these containers may reach (32 MiB)


def container(layout, shape, streams, dtype="int8", params=None, metadata=()):
    """A container of one tensor ``w`` of ``layout`` over ``streams`` (``(elem_type, values)`` pairs or
    ``crafting.stream`` results); relidx params default to Gap_Bits 16."""
    if params is None:
        params = bytes((GAP_BITS,)) if layout == "relidx" else b""
    streams = [stream(*s) if isinstance(s[0], str) else s for s in streams]
    return craft([chain_tensor("w", dtype, shape, streams, [(STAGE_IDS[layout], params)])], metadata)


def gaps_of(cols):
    """Gap coding of increasing columns within one run (spec 4.7): the first column, then differences - 1."""
    return np.diff(np.asarray(cols, dtype=np.int64), prepend=-1) - 1


def relidx_entries(positions):
    """(gaps, is_filler) reaching the increasing ``positions`` with fillers of gap 2^16 - 1 (spec 4.6)."""
    gaps, filler = [], []
    for g in gaps_of(positions).tolist():
        gaps += [2**GAP_BITS - 1] * (g >> GAP_BITS) + [g & (2**GAP_BITS - 1)]
        filler += [True] * (g >> GAP_BITS) + [False]
    return np.array(gaps, dtype=np.int64), np.array(filler, dtype=bool)


def one_row(layout, n, cols, dtype="int8"):
    """A container of shape (1, n) whose row holds the value 7 at the increasing ``cols`` (zero elsewhere), with
    the architecture of one linear layer of weight ``w`` on 64 inputs (architectures bound their extents, so
    ``runtime.load`` decodes ``w`` and then refuses its shape)."""
    e = len(cols)
    if layout == "relidx":
        gaps, filler = relidx_entries(cols)
        streams = [("uint16", gaps), (dtype, np.where(filler, 0, 7))]
    elif layout == "csr":
        streams = [("uint8", [e]), ("uint64", gaps_of(cols)), (dtype, [7] * e)]
    else:
        value = [("uint8", [1])] if layout == "cser" else []
        streams = [(dtype, [0, 7]), ("uint8", [1]), *value, ("uint8", [e]), ("uint64", gaps_of(cols))]
    arch = {"format": "nncodec.sequential/1", "input_shape": [64], "layers": [{"type": "linear", "weight": "w"}]}
    return container(layout, (1, n), streams, dtype, metadata=runtime.architecture_metadata(arch).items())


def rule_of(exc):
    found = re.match(r"\[(R[^\]]+)\]", str(exc))
    return found.group(1) if found else None


def outcome(call):
    """("ok", result) or (error class name, rule id) of ``call()``; anything but a DecodeError escapes."""
    try:
        return "ok", call()
    except DecodeError as exc:
        return type(exc).__name__, rule_of(exc)


def within_peak(call):
    """``call()``, asserting that it traced at most PEAK bytes at any moment (NumPy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= PEAK, f"{peak} bytes traced"
    return result


def lazy(blob, backend):
    return nncodec.decode(blob, materialize=False, backend=backend)["w"]


def entry_columns(structure):
    """Flat positions of the explicitly stored elements of a (1, n) structure."""
    if isinstance(structure, sparse.RelIdxMatrix):
        return structure.positions()[structure.values != 0]
    return structure.col_idx


# -- one element past int32 (and in a row of 2^34 - 1 columns): every lazy entry point, no m x n anywhere ------

@pytest.mark.parametrize("layout", SPARSE)
@pytest.mark.parametrize("n, dtype", [(COL + 1, "int8"), (COL + 1, "bool"), (2**34 - 1, "int8")],
                         ids=["2^31+6-int8", "2^31+6-bool", "2^34-1-int8"])
def test_element_past_int32_decodes_lazily_in_place(layout, n, dtype, backend):
    """Lazy decode, Reader.get, verify_all and runtime.load read the element at column n - 1 in place (the int32
    wrap made it column -2^31 + 5, a write 16 GiB before a buffer in the Cython CER kernel), within PEAK; the
    runtime operator keeps int64 columns."""
    col = n - 1
    blob = one_row(layout, n, [col], dtype)
    for get in (lambda: lazy(blob, backend),
                lambda: nncodec.open(blob, backend=backend).get("w", materialize=False)):
        structure = within_peak(get)
        assert structure.shape == (1, n) and structure.dtype == np.dtype(dtype)
        assert entry_columns(structure).tolist() == [col]
    within_peak(lambda: Container(blob, backend=backend).verify_all(materialize=False))
    with pytest.raises(InconsistentError, match="does not take an input"):
        within_peak(lambda: runtime.load(blob, backend=backend))
    op = within_peak(lambda: runtime.prepare(structure))
    if layout != "relidx":
        assert op.col_idx.dtype == np.int64 and op.col_idx.tolist() == [col]
    else:
        assert op.first_col.tolist() == [2**GAP_BITS - 1] and op.row_ptr.tolist() == [0, len(structure.gaps)]


@pytest.mark.parametrize("layout", SPARSE)
def test_element_at_n_is_refused(layout, backend):
    """The same container with the element one column further, at n, breaks the column rule."""
    rule = {"relidx": "R4.6-c", "csr": "R4.7-c", "cer": "R4.8-b", "cser": "R4.8-b"}[layout]
    blob = one_row(layout, COL + 1, [COL + 1])
    assert within_peak(lambda: outcome(lambda: lazy(blob, backend))) == ("InconsistentError", rule)
    assert outcome(lambda: Container(blob, backend=backend).verify_all(materialize=False)) == \
        ("InconsistentError", rule)


def test_wide_row_densifies_in_place(backend):
    """todense() and the materialized decode put the element at column 2^31 + 5 (the int32 wrap put it at 11);
    a structure's limits refuse the dense row one byte short of it, before allocating."""
    blob = one_row("csr", COL + 1, [COL])
    structure = lazy(blob, backend)
    structure.limits = DecodeLimits(max_output_bytes=COL)
    with pytest.raises(LimitExceededError) as info:
        within_peak(structure.todense)
    assert (info.value.limit, info.value.declared) == ("max_output_bytes", COL + 1)
    structure.limits = DecodeLimits(max_output_bytes=COL + 1)
    for densify in (structure.todense, lambda: nncodec.open(blob, backend=backend)["w"]):
        dense = densify()  # zero pages but the one written
        assert dense.shape == (1, COL + 1) and dense[0, COL] == 7 and dense[0, 11] == 0
        assert np.count_nonzero(dense[0, COL - 4096:]) == 1
        del dense


# -- empty tensors with huge other extents ---------------------------------------------------------------------

ROWS_STORED = 1 << 20
EMPTY_SHAPES = [(0, 2**34), (2**34, 0), (0, COL), (COL, 0), (0, 2**17, 2**17), (2**17, 0, 2**17), (0,), (1, 0)]


def empty_streams(layout, m):
    """Honest streams of an empty (N = 0) tensor with m rows: Row_Counts / Row_Groups hold m zeros (declared
    without their bytes when m > ROWS_STORED: the expansion rule then refuses them)."""
    rows = ("uint8", np.zeros(m)) if m <= ROWS_STORED else stream("uint8", data=b"", count=m)
    return {"dense": [("int8", [])], "relidx": [("uint16", []), ("int8", [])],
            "csr": [rows, ("uint8", []), ("int8", [])],
            "cer": [("int8", []), rows, ("uint8", []), ("uint8", [])],
            "cser": [("int8", []), rows, ("uint8", []), ("uint8", []), ("uint8", [])]}[layout]


@pytest.mark.parametrize("layout", ("dense",) + SPARSE)
@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
def test_empty_tensor_with_huge_extent(layout, shape, backend):
    """Every layout decodes an empty tensor to an empty array of its shape without per-row work; only a row
    stream of m entries costs anything, and a 2^31-entry one without its bytes is a limit breach, not memory."""
    m, _ = matrix_shape(shape)
    blob = container(layout, shape, empty_streams(layout, m))
    if layout in ("csr", "cer", "cser") and m > ROWS_STORED:
        want = ("LimitExceededError", "R6")
        for call in (lambda: nncodec.decode(blob, backend=backend), lambda: lazy(blob, backend),
                     lambda: Container(blob, backend=backend).verify_all(materialize=False)):
            assert within_peak(lambda: outcome(call)) == want
        return
    array = within_peak(lambda: nncodec.decode(blob, backend=backend)["w"])
    assert array.shape == shape and array.dtype == np.int8 and array.size == 0
    structure = within_peak(lambda: lazy(blob, backend))
    dense = within_peak(lambda: structure if isinstance(structure, np.ndarray) else structure.todense())
    assert dense.shape == shape and dense.dtype == np.int8
    within_peak(lambda: Container(blob, backend=backend).verify_all(materialize=False))
    within_peak(lambda: Container(blob, backend=backend).verify_all(materialize=True))


# -- the N / N + 1 edges of every count and index rule --------------------------------------------------------

U8, I8, U64 = "uint8", "int8", "uint64"
# (id, layout, shape, streams, params or None, expected rule or None for a valid container)
EDGES = [
    # relidx (Gap_Bits 2: gaps 0..3), N = 6
    ("relidx-E=N", "relidx", (2, 3), [(U8, [0] * 6), (I8, [1] * 6)], b"\x02", None),
    ("relidx-E=N+1", "relidx", (2, 3), [(U8, [0] * 7), (I8, [1] * 7)], b"\x02", "R4.6-b"),
    ("relidx-counts-differ", "relidx", (2, 3), [(U8, [0] * 2), (I8, [1] * 3)], b"\x02", "R4.6-b"),
    ("relidx-last-position", "relidx", (2, 3), [(U8, [3, 1]), (I8, [1, 1])], b"\x02", None),
    ("relidx-position-N", "relidx", (2, 3), [(U8, [3, 2]), (I8, [1, 1])], b"\x02", "R4.6-c"),
    ("relidx-gap-2^b", "relidx", (2, 3), [(U8, [4]), (I8, [1])], b"\x02", "R4.6-c"),
    ("relidx-bits-16", "relidx", (2, 3), [(U8, [5]), (I8, [1])], b"\x10", None),
    ("relidx-bits-17", "relidx", (2, 3), [(U8, [5]), (I8, [1])], b"\x11", "R4.6-a"),
    ("relidx-bits-0", "relidx", (2, 3), [(U8, [5]), (I8, [1])], b"\x00", "R4.6-a"),
    # csr, N = 6
    ("csr-E=N", "csr", (2, 3), [(U8, [3, 3]), (U8, [0] * 6), (I8, [1] * 6)], None, None),
    ("csr-E=N+1", "csr", (2, 3), [(U8, [3, 4]), (U8, [0] * 7), (I8, [1] * 7)], None, "R4.7-b"),
    ("csr-rows-m+1", "csr", (2, 3), [(U8, [3, 3, 0]), (U8, [0] * 6), (I8, [1] * 6)], None, "R4.7-b"),
    ("csr-rows-m-1", "csr", (2, 3), [(U8, [3]), (U8, [0] * 3), (I8, [1] * 3)], None, "R4.7-b"),
    ("csr-counts-E+1", "csr", (2, 3), [(U8, [3, 3]), (U8, [0] * 5), (I8, [1] * 5)], None, "R4.7-c"),
    ("csr-column-n-1", "csr", (2, 3), [(U8, [0, 3]), (U8, [0, 0, 0]), (I8, [1] * 3)], None, None),
    ("csr-column-n", "csr", (2, 3), [(U8, [0, 3]), (U8, [0, 0, 1]), (I8, [1] * 3)], None, "R4.7-c"),
    # cer: K <= N (K = 0 iff N = 0), Row_Groups m entries, G <= m (K - 1), E <= N
    ("cer-K=N", "cer", (1, 2), [(I8, [5, 7]), (U8, [1]), (U8, [1]), (U8, [0])], None, None),
    ("cer-K=N+1", "cer", (1, 2), [(I8, [5, 7, 9]), (U8, [1]), (U8, [1]), (U8, [0])], None, "R4.8-a"),
    ("cer-K=0", "cer", (1, 2), [(I8, []), (U8, [0]), (U8, []), (U8, [])], None, "R4.8-a"),
    ("cer-N=0-K=1", "cer", (0, 2), [(I8, [5]), (U8, []), (U8, []), (U8, [])], None, "R4.8-a"),
    ("cer-rows-m+1", "cer", (1, 3), [(I8, [0, 7]), (U8, [1, 0]), (U8, [1]), (U8, [0])], None, "R4.8-a"),
    ("cer-G=m(K-1)+1", "cer", (1, 3), [(I8, [0, 7]), (U8, [2]), (U8, [1, 1]), (U8, [0, 1])], None, "R4.8-a"),
    ("cer-E=N+1", "cer", (1, 2), [(I8, [0, 7]), (U8, [1]), (U8, [3]), (U8, [0] * 3)], None, "R4.8-a"),
    ("cer-row-K-1-groups", "cer", (2, 3), [(I8, [0, 7]), (U8, [1, 1]), (U8, [1, 1]), (U8, [0, 1])], None, None),
    ("cer-row-K-groups", "cer", (2, 3), [(I8, [0, 7]), (U8, [2, 0]), (U8, [1, 1]), (U8, [0, 1])], None,
     "R4.8-b"),
    ("cer-sizes-E+1", "cer", (1, 3), [(I8, [0, 7]), (U8, [1]), (U8, [2]), (U8, [0])], None, "R4.8-b"),
    ("cer-column-twice", "cer", (1, 3), [(I8, [0, 7, 9]), (U8, [2]), (U8, [1, 1]), (U8, [1, 1])], None,
     "R4.8-b"),
    ("cer-column-per-row", "cer", (2, 3), [(I8, [0, 7]), (U8, [1, 1]), (U8, [1, 1]), (U8, [1, 1])], None, None),
    ("cer-wide-column-twice", "cer", (1, COL + 1), [(I8, [0, 7, 9]), (U8, [2]), (U8, [1, 1]), (U64, [COL, COL])],
     None, "R4.8-b"),
    ("cer-wide-columns", "cer", (1, COL + 1), [(I8, [0, 7, 9]), (U8, [2]), (U8, [1, 1]), (U64, [COL - 1, COL])],
     None, None),
    ("cer-omega0-unused", "cer", (1, 2), [(I8, [0, 7]), (U8, [1]), (U8, [2]), (U8, [0, 0])], None, "R4.8-b"),
    ("cer-omega1-unused", "cer", (1, 3), [(I8, [0, 7, 9]), (U8, [2]), (U8, [0, 1]), (U8, [0])], None, "R4.8-b"),
    # cser: Group_Values in 1..K-1, non-empty groups, G <= E
    ("cser-value-K-1", "cser", (1, 3), [(I8, [0, 7]), (U8, [1]), (U8, [1]), (U8, [1]), (U8, [0])], None, None),
    ("cser-value-K", "cser", (1, 3), [(I8, [0, 7, 9]), (U8, [1]), (U8, [3]), (U8, [1]), (U8, [0])], None,
     "R4.9-a"),
    ("cser-value-0", "cser", (1, 3), [(I8, [0, 7]), (U8, [1]), (U8, [0]), (U8, [1]), (U8, [0])], None, "R4.9-a"),
    ("cser-omega1-unused", "cser", (1, 3), [(I8, [0, 7, 9]), (U8, [1]), (U8, [2]), (U8, [1]), (U8, [0])], None,
     "R4.8-b"),
    ("cser-empty-group", "cser", (1, 3), [(I8, [0, 7, 9]), (U8, [2]), (U8, [1, 2]), (U8, [0, 2]), (U8, [0, 0])],
     None, "R4.9-a"),
    ("cser-G=E", "cser", (1, 3), [(I8, [0, 7, 9]), (U8, [2]), (U8, [1, 2]), (U8, [1, 1]), (U8, [0, 1])], None,
     None),
    ("cser-G=E+1", "cser", (1, 3), [(I8, [0, 7, 9]), (U8, [2]), (U8, [1, 2]), (U8, [1, 1]), (U8, [0])], None,
     "R4.8-a"),
    ("cser-wide-column-twice", "cser", (1, COL + 1),
     [(I8, [0, 7, 9]), (U8, [2]), (U8, [1, 2]), (U8, [1, 1]), (U64, [COL, COL])], None, "R4.8-b"),
]


@pytest.mark.parametrize("case", EDGES, ids=[c[0] for c in EDGES])
def test_count_rule_edges(case, backend):
    """Each rule holds exactly at its edge: the valid side decodes (lazily and, when small, materialized, the
    two agreeing), the other side raises the rule's error, the same through lazy decode and verify."""
    _, layout, shape, streams, params, rule = case
    blob = container(layout, shape, streams, params=params)
    got = within_peak(lambda: outcome(lambda: lazy(blob, backend)))
    verified = outcome(lambda: Container(blob, backend=backend).verify_all(materialize=False))
    if rule is None:
        assert got[0] == "ok" and verified[0] == "ok", (got, verified)
        if np.prod(shape) < 1 << 20:
            assert np.array_equal(got[1].todense(), nncodec.decode(blob, backend=backend)["w"])
        return
    error = "FormatError" if rule == "R4.6-a" else "InconsistentError"
    assert got == verified == (error, rule)


def test_column_runs_past_2_63(backend):
    """Gaps of n - 1 with n = 2^56 (the largest extent a limit admits): in one row the second column is n, refused;
    over 200 one-entry rows the running sum passes 2^63, yet every column comes out exact."""
    layout_kernels = kernels.module("layouts", backend)
    n, gaps = 2**56, np.full(200, 2**56 - 1, dtype=np.int64)
    with pytest.raises(InconsistentError, match=r"^\[R4.7-c\]"):
        layout_kernels.csr_columns(np.array([200], dtype=np.int64), gaps, 1, n)
    row_ptr, cols = layout_kernels.csr_columns(np.ones(200, dtype=np.int64), gaps, 200, n)
    assert row_ptr.tolist() == list(range(201)) and cols.tolist() == [n - 1] * 200


# -- structures carry limits; the spmm kernels take int64 indices ----------------------------------------------

def _dense(m, n, seed):
    rng = np.random.default_rng(seed)
    return np.where(rng.random((m, n)) < 0.3, rng.choice(np.float32([1, -2, 0.5]), (m, n)), 0).astype(np.float32)


@pytest.mark.parametrize("layout", SPARSE)
def test_structure_todense_obeys_its_limits(layout, backend):
    """structure(..., limits=L) keeps L; todense() and todense_matrix() check m * n * itemsize against
    max_output_bytes first: accepted at the size, LimitExceededError one byte below; with_values keeps it."""
    a = _dense(5, 7, 1)
    stage = stage_by_name(layout)
    params, arrays = stage.encode(a, gap_bits=3) if layout == "relidx" else stage.encode(a)
    node = Node(DTYPE_CODES["float32"], a.shape, None)
    size = a.size * a.itemsize
    for limit, ok in ((size, True), (size - 1, False)):
        structure = stage.structure(node, params, arrays, backend, limits=DecodeLimits(max_output_bytes=limit))
        for densify in (structure.todense, structure.todense_matrix,
                        stage.with_values(structure, lambda v: v).todense):
            if ok:
                assert np.array_equal(densify(), a)
                continue
            with pytest.raises(LimitExceededError) as info:
                densify()
            assert (info.value.limit, info.value.declared, info.value.maximum) == ("max_output_bytes", size, limit)
    assert stage.structure(node, params, arrays, backend).limits is None


def test_spmm_kernels_agree_over_index_widths(backend):
    """Every product kernel gives the same result with uint16, int32 and int64 column indices (and relidx gaps),
    and int64 CSER value indices; the runtime picks int64 only past 2^31 columns."""
    a = _dense(9, 40, 2)
    x = np.random.default_rng(3).standard_normal((40, 3)).astype(np.float32)
    for build in (sparse.csr_from_dense, sparse.cer_from_dense, sparse.cser_from_dense,
                  lambda w: sparse.relidx_from_dense(w, 3)):
        op = runtime.prepare(build(a))
        name = "gaps" if op.layout == "relidx" else "col_idx"
        assert getattr(op, name).dtype == np.uint16
        results = []
        for dtype in (np.uint16, np.int32, np.int64):
            setattr(op, name, getattr(op, name).astype(dtype))
            results.append(op.matmul(x, backend=backend))
            results.append(op.matmul(x[:, 0], backend=backend))
        assert all(np.array_equal(r, results[i % 2]) for i, r in enumerate(results))
        assert np.allclose(results[0], a @ x, atol=1e-4)
    for n, dtype in ((2**16, np.uint16), (2**16 + 1, np.int32), (2**31, np.int32), (2**31 + 1, np.int64)):
        op = runtime.prepare(sparse.CSRMatrix((1, n), [0, 1], [n - 1], np.float32([1])))
        assert op.col_idx.dtype == dtype and op.col_idx.tolist() == [n - 1]


@pytest.mark.parametrize("layout", ["csr", "cer", "cser", "relidx"])
@pytest.mark.parametrize("shape", [(5, 0), (0, 5), (5, 2, 0), (0, 0)])
def test_products_of_empty_structures_are_the_right_zeros(layout, shape, backend):
    w = np.zeros(shape, np.float32)
    blob = nncodec.encode({"w": w}, layout=layout, no_larger_than_raw=False)  # an empty tensor has 0 raw bytes
    structure = nncodec.decode(blob, materialize=False, backend=backend)["w"]
    n = w.size // shape[0] if shape[0] else int(np.prod(shape[1:]))
    for x, expected in ((np.ones(n, np.float32), (shape[0],)), (np.ones((n, 3), np.float32), (shape[0], 3))):
        y = structure @ x
        assert y.shape == expected and y.dtype == np.float32 and not y.any()


@pytest.mark.parametrize("layout", SPARSE)
def test_element_past_int32_under_a_1_gib_output_limit(layout, backend):
    """The replay's limits (max_output_bytes 2^30): a lazy decode still reads the element at column 2^31 + 5 in
    place (the structure is small); a materialized decode or verify of the 2 GiB tensor is refused before any
    stream is decoded, as is the structure's todense()."""
    from nncodec.errors import LimitExceededError
    limits = nncodec.DecodeLimits(max_output_bytes=2**30)
    blob = one_row(layout, COL + 1, [COL], "int8")
    structure = within_peak(lambda: nncodec.decode(blob, materialize=False, backend=backend, limits=limits)["w"])
    assert entry_columns(structure).tolist() == [COL]
    for refused in (lambda: nncodec.decode(blob, backend=backend, limits=limits),
                    lambda: Container(blob, backend=backend, limits=limits).verify_all(materialize=False),
                    structure.todense):
        with pytest.raises(LimitExceededError, match="max_output_bytes"):
            within_peak(refused)
