"""Sparse layouts (spec 4.6 to 4.9): round trips on both backends, identical bytes, the lazy structures, the
kernels' twin agreement on hostile index streams, and the encoder's layout option."""

import importlib
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncodec
import nncodec.format.records
from nncodec import kernels, sparse
from nncodec.errors import DecodeError, EncodeError, InconsistentError
from nncodec.stages import stage_by_name

import strategies
from checkers import (assert_same_array, check_bitflips, check_identical_bytes, check_prefixes, check_roundtrip,
                      rule_of)

LAYOUTS = ("csr", "relidx", "relidx:bits=1", "cer", "cser", "auto")
STRUCTURES = {"csr": sparse.CSRMatrix, "relidx": sparse.RelIdxMatrix, "cer": sparse.CERMatrix,
              "cser": sparse.CSERMatrix}
# shapes that stress the matrix view: empty, 1 x N, N x 1, a very long row, conv-shaped, 0-d and 1-d
SHAPES = ((0, 0), (3, 0), (0, 4), (1, 1), (1, 70), (70, 1), (5, 7), (2, 600), (4, 3, 3, 3), (6,), ())
_QUIET = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


@st.composite
def sparse_tensors(draw):
    """A tensor with few distinct values and a chosen density: empty rows, all-zero, a single distinct value,
    a dominant non-zero value (CER's implicit one), -0.0 among the floats."""
    shape = draw(st.sampled_from(SHAPES) | strategies.shapes(max_dims=4, max_side=6))
    dtype = draw(st.sampled_from(["float32", "float16", "int8", "uint16", "float64"]))
    table = draw(st.lists(st.sampled_from([0.0, -0.0, 1.0, -2.0, 0.5, 3.0, 7.0]), min_size=1, max_size=5))
    background = draw(st.sampled_from([0.0, table[0]]))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = np.asarray(table, dtype=np.float64)[rng.integers(0, len(table), size=shape)]
    out = np.where(rng.random(shape) < density, values, background)
    if np.dtype(dtype).kind in "iu":
        out = np.abs(out)
    return np.asarray(out, dtype=dtype)


def lazy(blob, backend):
    return nncodec.decode(blob, materialize=False, backend=backend)


def assert_lazy_matches(blob, backend):
    """Every lazily decoded tensor densifies to the materialized array, bit for bit."""
    full = nncodec.decode(blob, backend=backend)
    for name, value in lazy(blob, backend).items():
        got = value if isinstance(value, np.ndarray) else value.todense()
        assert_same_array(full[name], got)
        if not isinstance(value, np.ndarray):
            assert value.tensor_shape == full[name].shape and value.dtype == full[name].dtype
            assert value.nbytes == sum(a.nbytes for a in value._arrays())


@pytest.mark.parametrize("layout", LAYOUTS)
@_QUIET
@given(tensor=sparse_tensors())
def test_roundtrip_sparse_tensors(tensor, layout, backend):
    blob = check_roundtrip({"w": tensor}, backend, backend, layout=layout, entropy="auto")
    assert_lazy_matches(blob, backend)


@_QUIET
@given(tensor=strategies.arrays(), layout=st.sampled_from(LAYOUTS))
def test_roundtrip_any_dtype_and_bits(tensor, layout, backend):
    """NaN payloads, infinities, -0.0, bool and bfloat16 survive every layout."""
    check_roundtrip({"t": tensor}, backend, backend, layout=layout)


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=10, deadline=None)
@given(tensor=sparse_tensors())
def test_backends_write_identical_bytes_and_structures(tensor, layout):
    blob = check_identical_bytes({"w": tensor}, layout=layout, entropy="auto")
    structures = [lazy(blob, b)["w"] for b in nncodec.available_backends()]
    for s in structures[1:]:
        if isinstance(s, np.ndarray):
            assert_same_array(structures[0], s)
        else:
            assert type(s) is type(structures[0])
            assert [a.tobytes() for a in s._arrays()] == [a.tobytes() for a in structures[0]._arrays()]


@pytest.mark.parametrize("layout", ["csr", "relidx", "cer", "cser"])
@pytest.mark.parametrize("quantize", ["kmeans:k=16", "uniform:bits=4", "uniform:bits=4,axis=0", "dq:bits=4"])
def test_lossy_chains_lazy_equals_materialized(layout, quantize, backend):
    """Transforms after a sparse layout keep their dense semantics (dq walks the implicit elements too)."""
    rng = np.random.default_rng(1)
    w = {"conv": rng.standard_normal((16, 8, 3, 3)).astype(np.float32)}  # >= keep_small: quantized and pruned
    blob = nncodec.encode(w, prune="magnitude:0.8", quantize=quantize, layout=layout, backend=backend)
    assert nncodec.open(blob).info()[0]["chain"].startswith(layout)
    value = lazy(blob, backend)["conv"]
    assert isinstance(value, STRUCTURES[layout]) and value.tensor_shape == (16, 8, 3, 3)
    assert_lazy_matches(blob, backend)


def test_with_values_keeps_csr_only_while_the_implicit_zero_stays_zero(backend):
    layout = stage_by_name("csr")
    levels = np.array([[0, 2, 0], [1, 0, 0]], dtype=np.uint8)
    _, streams = layout.encode(levels)
    node = nncodec.format.records.Node(3, levels.shape, None)
    structure = layout.structure(node, b"", streams, backend)
    table = np.array([0.0, 0.5, -2.0], dtype=np.float32)
    mapped = layout.with_values(structure, lambda v: table[v])
    assert mapped.dtype == np.float32 and mapped.values.tolist() == [-2.0, 0.5]
    assert_same_array(table[levels], mapped.todense())
    assert layout.with_values(structure, lambda v: table[v] + 1) is None  # zero would become 1.0
    assert layout.with_values(structure, lambda v: -table[v]) is None  # -0.0 is not the implicit +0.0


def test_lazy_codebook_whose_first_entry_is_not_zero(backend):
    """A dense-ish tensor whose most used codebook entry is not zero: csr's implicit element (index 0) decodes to
    that entry, so the lazy structure is laid out again from the decoded tensor (and still equals it)."""
    w = {"w": np.tile(np.array([1.0, 1.0, 1.0, 2.0, -3.0], np.float32), (8, 4))}
    blob = nncodec.encode(w, quantize={"w": "kmeans:k=3"}, layout="csr", backend=backend)
    value = lazy(blob, backend)["w"]
    assert isinstance(value, sparse.CSRMatrix)
    assert_lazy_matches(blob, backend)


def test_reader_get_materialize_false(backend):
    w = {"sparse": np.eye(6, dtype=np.float32), "dense": np.arange(4, dtype=np.int16)}
    blob = nncodec.encode(w, layout={"sparse": "cser", "*": "dense"}, backend=backend)
    with nncodec.open(blob, backend=backend) as reader:
        s = reader.get("sparse", materialize=False)
        assert isinstance(s, sparse.CSERMatrix) and s.shape == (6, 6) and s.dtype == np.float32
        assert_same_array(w["sparse"], s.todense())
        assert isinstance(reader.get("dense", materialize=False), np.ndarray)
        assert reader.get("missing", "x", materialize=False) == "x"


def test_auto_keeps_dense_for_dense_weights_and_picks_sparse_for_sparse_ones(backend):
    rng = np.random.default_rng(2)
    dense = rng.standard_normal((32, 32)).astype(np.float32)
    sparse_w = np.where(rng.random((64, 64)) < 0.02, 1.0, 0.0).astype(np.float32)
    blob = nncodec.encode({"d": dense, "s": sparse_w}, layout="auto", compress="auto", backend=backend)
    chains = {row["name"]: row["chain"] for row in nncodec.open(blob).info()}
    assert chains["d"].startswith("dense") and not chains["s"].startswith("dense"), chains


def test_relidx_forced_bits_and_fillers():
    row = np.zeros(40, dtype=np.int8)
    row[[0, 20, 39]] = 5
    blob = nncodec.encode(row, layout="relidx:bits=2")
    s = nncodec.decode(blob, materialize=False)
    assert s.gap_bits == 2
    # gaps of 19 and 18 zeros need 4 fillers each at width 2 (each filler covers 4 positions)
    assert s.gaps.tolist() == [0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2] and int(np.count_nonzero(s.values)) == 3
    assert_same_array(row, s.todense())


def test_lazy_decode_charges_the_structure_not_the_dense_tensor(backend):
    blob = nncodec.encode({"w": np.eye(256, dtype=np.float32)}, layout="csr")  # 256 KiB dense
    limits = nncodec.DecodeLimits(max_output_bytes=2**16)
    with pytest.raises(nncodec.errors.LimitExceededError):
        nncodec.decode(blob, backend=backend, limits=limits)
    structure = nncodec.decode(blob, materialize=False, backend=backend, limits=limits)["w"]
    assert 0 < structure.nbytes <= 2**16
    with pytest.raises(nncodec.errors.LimitExceededError):
        nncodec.decode(blob, materialize=False, backend=backend,
                       limits=nncodec.DecodeLimits(max_output_bytes=structure.nbytes - 1))


def test_cli_encode_layout(tmp_path):
    from nncodec import cli
    np.savez(tmp_path / "w.npz", w=np.eye(16, dtype=np.float32))
    assert cli.main(["-q", "encode", str(tmp_path / "w.npz"), "-o", str(tmp_path / "w.nnc"), "--layout", "cer"]) == 0
    with nncodec.open(tmp_path / "w.nnc") as reader:
        assert reader.info()[0]["chain"].startswith("cer")
        assert_same_array(np.eye(16, dtype=np.float32), reader.get("w", materialize=False).todense())
    assert cli.main(["-q", "encode", str(tmp_path / "w.npz"), "-o", str(tmp_path / "x.nnc"), "--layout", "x"]) == 2


@pytest.mark.parametrize("bad", ["bogus", "relidx:bits=0", "relidx:bits=17", "csr:bits=3", "relidx:gap=3", 5])
def test_bad_layout_option(bad):
    with pytest.raises(EncodeError):
        nncodec.encode({"w": np.ones((2, 2), np.float32)}, layout=bad)


@pytest.mark.parametrize("layout", ["csr", "relidx", "cer", "cser"])
def test_truncations_and_bitflips_are_detected(layout, backend):
    w = np.array([[0, 1.5, 0, 0], [0, 0, 0, 0], [2.5, 1.5, 0, -1]], dtype=np.float32)
    blob = nncodec.encode({"w": w}, layout=layout, entropy="huffman")
    check_prefixes(blob, backend)
    check_bitflips(blob, backend, count=60)


# -- the kernels: both backends agree on any index streams, and raise only InconsistentError (same rule id) -----

def _outcome(func):
    try:
        return ("ok", [np.asarray(a).tobytes() for a in func()])
    except DecodeError as exc:
        assert type(exc) is InconsistentError, exc
        return ("error", rule_of(exc))


def _twins(name, *args):
    outcomes = [_outcome(lambda b=b: getattr(kernels.module("layouts", b), name)(*args))
                for b in nncodec.available_backends()]
    assert all(o == outcomes[0] for o in outcomes), outcomes
    return outcomes[0]


_INDEX = st.lists(st.integers(-2, 9), max_size=12).map(lambda v: np.array(v, dtype=np.int64))


@settings(max_examples=150, deadline=None)
@given(gaps=_INDEX, bits=st.integers(1, 4), m=st.integers(0, 4), n=st.integers(0, 6))
def test_relidx_kernel_twins(gaps, bits, m, n):
    _twins("relidx_positions", gaps, bits, m, n)


@settings(max_examples=150, deadline=None)
@given(counts=_INDEX, gaps=_INDEX, n=st.integers(0, 6))
def test_csr_kernel_twins(counts, gaps, n):
    _twins("csr_columns", counts, gaps, counts.size, n)


@settings(max_examples=200, deadline=None)
@given(rows=_INDEX, values=st.none() | _INDEX, sizes=_INDEX, gaps=_INDEX, n=st.integers(0, 6), k=st.integers(0, 5))
def test_group_kernel_twins(rows, values, sizes, gaps, n, k):
    if values is not None:
        values = np.resize(values, sizes.size)
    _twins("group_columns", rows, values, sizes, gaps, rows.size, n, k)


def test_kernels_rebuild_the_builders_structures(backend):
    """Streams from the stage encoders decode, through the kernels, to exactly the builders' structures."""
    rng = np.random.default_rng(3)
    m = np.where(rng.random((7, 9)) < 0.4, rng.integers(1, 4, (7, 9)), 0).astype(np.int64)
    layout_kernels = kernels.module("layouts", backend)
    _, (counts, gaps, _) = stage_by_name("csr").encode(m)
    row_ptr, cols = layout_kernels.csr_columns(counts.astype(np.int64), gaps.astype(np.int64), 7, 9)
    want = sparse.csr_from_dense(m)
    assert row_ptr.tolist() == want.row_ptr.tolist() and cols.tolist() == want.col_idx.tolist()
    _, (_, rows, values, sizes, gaps) = stage_by_name("cser").encode(m)
    row_ptr, omega_ptr, cols = layout_kernels.group_columns(*(a.astype(np.int64) for a in (rows, values, sizes, gaps)),
                                                     7, 9, 4)
    want = sparse.cser_from_dense(m)
    assert [row_ptr.tolist(), omega_ptr.tolist(), cols.tolist()] == \
        [want.row_ptr.tolist(), want.omega_ptr.tolist(), want.col_idx.tolist()]


def test_fuzz_target_on_mutated_layout_containers():
    """fuzz/fuzz_layouts_decode.py runs without atheris on its seeds and on single-byte changes of them (CRCs
    resealed inside the target, so the changes reach the layout checks and kernels)."""
    import random
    import sys
    fuzz = str(pathlib.Path(__file__).resolve().parents[1] / "fuzz")
    sys.path.insert(0, fuzz)
    try:
        target = importlib.import_module("fuzz_layouts_decode")
    finally:
        sys.path.remove(fuzz)
    rng = random.Random(5)
    seeds = target.seeds()
    assert len(seeds) >= 6
    for seed in seeds:
        target.TestOneInput(seed)
        for _ in range(40):
            data = bytearray(seed)
            data[rng.randrange(8, len(data))] = rng.randrange(256)
            target.TestOneInput(bytes(data))


@pytest.mark.parametrize("layout", ["cer", "cser", "csr", "relidx"])
@pytest.mark.parametrize("quantize", ["dq:bits=4", "uniform:bits=4,axis=0"])
def test_lazy_position_dependent_chain_is_laid_out_in_one_pass(layout, quantize, backend):
    """A lazy tensor whose transforms depend on the element's position (dq, per-channel steps) comes from its
    streams' structure and the transformed elements in one pass, never from a re-encode of all m x n elements
    (np.unique over them took seconds and gigabytes): it densifies to the materialized array, and its peak memory
    stays within 1.5 times the materialized decode's (plus 64 KiB)."""
    import tracemalloc
    rng = np.random.default_rng(5)
    w = np.zeros((600, 700), np.float32)
    w[::7, ::5] = rng.standard_normal((86, 140)).astype(np.float32)
    blob = nncodec.encode({"w": w}, quantize=quantize, layout=layout, backend=backend)
    peaks = []
    for materialize in (True, False):
        tracemalloc.start()
        try:
            value = nncodec.decode(blob, materialize=materialize, backend=backend)["w"]
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert isinstance(value, STRUCTURES[layout]) and peaks[1] <= 1.5 * peaks[0] + (1 << 16), peaks
    assert_lazy_matches(blob, backend)


@pytest.mark.parametrize("layout", ["cer", "cser"])
def test_lazy_per_channel_steps_over_a_nonzero_implicit_level(layout, backend):
    """Rows dominated by their largest value: the implicit level is not zero, so per-channel steps give the
    unlisted elements a different value in every row; the lazy structure still densifies bit for bit."""
    rng = np.random.default_rng(6)
    w = np.repeat(rng.uniform(1, 3, (12, 1)), 40, axis=1).astype(np.float32)
    w[rng.random(w.shape) < 0.2] = 0.1
    blob = nncodec.encode({"w": w}, quantize="uniform:bits=4,axis=0", layout=layout, backend=backend)
    assert_lazy_matches(blob, backend)


def test_products_raise_no_numpy_warning(backend):
    """Overflow to inf in a product (values and inputs near float32's limit, a float64 table beyond it, an
    implicit value times a sum) is a result, not a warning: none escapes ``@`` under warnings-as-errors."""
    import warnings
    big = np.array([[3e38, 0, 3e38], [1e300, 1e300, 0]])
    x = np.full(3, 3e38, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for build in (sparse.csr_from_dense, sparse.cer_from_dense, sparse.cser_from_dense,
                      lambda a: sparse.relidx_from_dense(a, 2), sparse.DenseMatrix):
            structure = build(big)
            for operand in (x, np.stack([x, -x], axis=1)):
                y = structure.matmul(operand, backend=backend)
                assert y.dtype == np.float32 and not np.isfinite(y).all()
        lowrank = sparse.LowRankMatrix(np.full((2, 1), 3e38, np.float32), np.full((1, 3), 3e38, np.float32))
        assert np.isinf(lowrank @ x).all()


def test_lazy_cer_with_values_of_its_own_per_row_is_held_as_cser(backend):
    """Per-channel steps give every row its own values, so CER would keep m x K groups (every group up to each
    row's largest value index: 512 rows x ~8000 values here, 4 M groups, 32 MB for a 128 KB tensor). The lazy
    structure is then a CSER of the same matrix, whose memory follows its entries."""
    rng = np.random.default_rng(8)
    w = (rng.standard_normal((512, 64)) * rng.uniform(0.5, 2, (512, 1))).astype(np.float32)
    w[rng.random(w.shape) < 0.5] = 0
    blob = nncodec.encode({"w": w}, quantize="uniform:bits=5,axis=0", layout="cer", backend=backend)
    lazy = nncodec.decode(blob, materialize=False, backend=backend)["w"]
    assert isinstance(lazy, sparse.CSERMatrix) and lazy.nbytes < 2 * w.nbytes, lazy.nbytes
    assert_lazy_matches(blob, backend)
