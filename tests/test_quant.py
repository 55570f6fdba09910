"""nncodec.quant: quantizer contracts (error bounds, level ranges, exact zeros), k-means properties, closed-form
binary/ternary scales, pruning counts, spec strings and metrics."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

from nncodec.errors import EncodeError
from nncodec.quant import (BinaryQuantizer, KMeansQuantizer, LogQuantizer, Quantized, TernaryQuantizer,
                           UniformQuantizer, kmeans_1d, magnitude_masks, max_abs_error, parse_prune,
                           parse_quantizer, power_of_two_codebook, sqnr_db, sqnr_step_bracket, std_masks,
                           structured_masks)
from nncodec.quant.base import insertion_points, nearest_index
from nncodec.quant.uniform import MAX_ABS_LEVEL, SQNR_STEP_RTOL

# weights as they come from float32 models: finite float32 values, some exact zeros
weight_values = st.one_of(st.just(0.0), st.floats(-1e3, 1e3, width=32, allow_subnormal=False))
weight_arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
                           elements=weight_values)
nonempty_matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6),
                               elements=weight_values)


def laplace(shape, scale=0.02, seed=0):
    return np.random.default_rng(seed).laplace(0, scale, size=shape).astype(np.float32).astype(np.float64)


def broadcast_steps(q):
    """The float64 step each weight was quantized with."""
    return q.element_steps()


def check_uniform_bound(w, q, mask=None):
    assert q.kind == "uniform" and q.levels.dtype == np.int64 and q.levels.shape == w.shape
    assert q.steps.dtype == np.float32 and np.all(q.steps > 0)
    error = np.abs(w - q.reconstruct())
    kept = np.ones(w.shape, bool) if mask is None else mask
    assert np.all(error[kept] <= broadcast_steps(q)[kept] / 2)
    assert np.all(q.levels[w == 0] == 0) and np.all(q.reconstruct()[w == 0] == 0.0)
    if mask is not None:
        assert np.all(q.levels[~mask] == 0) and np.all(q.reconstruct()[~mask] == 0.0)


def check_nearest(w, q):
    """Every weight's entry is at least as near as any other entry (float64 distances)."""
    table = q.codebook.astype(np.float64)
    flat, chosen = w.reshape(-1), table[q.levels.reshape(-1)]
    nearest = np.min(np.abs(flat[:, None] - table[None, :]), axis=1, initial=np.inf)
    assert np.all(np.abs(flat - chosen) <= nearest)


# --- uniform ---------------------------------------------------------------------------------------------------

@given(weight_arrays, st.sampled_from([1e-3, 0.01, 0.1, 0.37, 1.0, 7.5]), st.sampled_from([None, 0, -1]))
def test_uniform_step_error_at_most_half_step(w, step, axis):
    q = UniformQuantizer(step=step, axis=axis).quantize(w)
    check_uniform_bound(w, q)
    assert np.all(q.steps == np.float32(step))


def test_uniform_bound_on_exact_ties():
    # w / step exactly halfway between levels, where np.rint and the rounded quotient are most fragile
    step = float(np.float32(0.1))
    w = (np.arange(-50, 50) + 0.5) * step
    check_uniform_bound(w, UniformQuantizer(step=0.1).quantize(w))


@given(nonempty_matrices, st.integers(2, 16), st.integers(0, 1))
def test_uniform_bits_levels_in_range_per_channel(w, bits, axis):
    q = UniformQuantizer(bits=bits, axis=axis).quantize(w)
    check_uniform_bound(w, q)
    assert q.axis == axis and q.steps.shape == (w.shape[axis],)
    top = 2 ** (bits - 1) - 1
    assert np.all(np.abs(q.levels) <= top)
    peaks = np.moveaxis(np.abs(w), axis, 0).reshape(w.shape[axis], -1).max(axis=1)
    nearest = (peaks / top).astype(np.float32)  # one ulp up where nearest rounding would break the level bound
    with np.errstate(divide="ignore", invalid="ignore"):
        too_small = peaks / nearest.astype(np.float64) >= top + 0.5
    bumped = np.where(too_small, np.nextafter(nearest, np.float32(np.inf)), nearest)
    expected = np.where(peaks > 0, bumped, np.float32(1.0))
    assert np.array_equal(q.steps, expected)


def test_uniform_per_tensor_and_zero_channels():
    w = np.zeros((3, 4))
    w[1] = [0.5, -1.0, 0.25, 0.0]
    q = UniformQuantizer(bits=8, axis=0).quantize(w)
    assert q.steps.tolist() == [1.0, np.float32(1.0 / 127), 1.0]
    assert np.all(q.levels[[0, 2]] == 0) and q.levels[1, 1] == -127
    per_tensor = UniformQuantizer(bits=8).quantize(w)
    assert per_tensor.axis is None and per_tensor.steps.shape == (1,)
    scalar = UniformQuantizer(bits=4, axis=0).quantize(np.float64(3.0))  # 0-d: no channels, per tensor
    assert scalar.axis is None and scalar.levels == 7 and scalar.steps.shape == (1,)
    empty = UniformQuantizer(bits=4, axis=1).quantize(np.zeros((2, 0)))
    assert empty.levels.shape == (2, 0) and empty.steps.shape == (0,)


@given(nonempty_matrices, st.sampled_from([6.0, 20.0, 40.0, 55.5]), st.sampled_from([None, 0]))
def test_uniform_sqnr_reached_and_bracketed(w, target, axis):
    q = UniformQuantizer(sqnr=target, axis=axis).quantize(w)
    check_uniform_bound(w, q)
    steps, failing = sqnr_step_bracket(w, target, axis=axis)
    assert np.array_equal(q.steps, steps)
    rows = [slice(None)] if axis is None else list(range(w.shape[0]))
    for row, step, fail in zip(rows, steps, failing, strict=True):
        original = w[row]
        if not np.any(original):
            continue
        assert sqnr_db(original, q.reconstruct()[row]) >= target
        assert step < fail <= step * (1 + SQNR_STEP_RTOL) * (1 + 2 ** -23)
        missed = UniformQuantizer(step=float(fail)).quantize(original)
        assert sqnr_db(original, missed.reconstruct()) < target


def test_uniform_sqnr_step_is_near_maximal_on_smooth_data():
    w = np.random.default_rng(1).normal(size=20000)
    q = UniformQuantizer(sqnr=35).quantize(w)
    assert sqnr_db(w, q.reconstruct()) >= 35
    coarser = UniformQuantizer(step=float(q.steps[0]) * 1.01).quantize(w)
    assert sqnr_db(w, coarser.reconstruct()) < 35


def test_uniform_sqnr_with_mask_and_importance():
    w = laplace((8, 50))
    mask = magnitude_masks({"w": w}, 0.5)["w"]
    q = UniformQuantizer(sqnr=30).quantize(w, mask=mask)
    check_uniform_bound(w, q, mask)
    assert sqnr_db(w[mask], q.reconstruct()[mask]) >= 30
    importance = np.ones_like(w)
    importance[0] = 100.0
    weighted = UniformQuantizer(sqnr=30, axis=0).quantize(w, importance=importance)
    unweighted = UniformQuantizer(sqnr=30, axis=0).quantize(w)
    assert np.array_equal(weighted.steps, unweighted.steps)  # per channel, a constant importance cancels
    assert UniformQuantizer(sqnr=30).quantize(w, importance=importance).steps[0] != \
        UniformQuantizer(sqnr=30).quantize(w).steps[0]


def test_uniform_rejects_unrepresentable_requests():
    with pytest.raises(EncodeError, match="exceed"):
        UniformQuantizer(step=1e-9).quantize(np.array([1.0]))
    with pytest.raises(EncodeError, match="unreachable"):
        UniformQuantizer(sqnr=400).quantize(np.array([1.0, 1.0 + 2 ** -40]))
    for bad in ({}, {"step": 0.1, "bits": 8}, {"step": -1.0}, {"step": 1e-50}, {"bits": 1}, {"bits": 25},
                {"sqnr": 0}, {"sqnr": math.inf}, {"bits": 8, "axis": 1.5}):
        with pytest.raises(EncodeError):
            UniformQuantizer(**bad)
    assert 2 ** 24 == MAX_ABS_LEVEL


# --- k-means ---------------------------------------------------------------------------------------------------

@given(weight_arrays, st.integers(2, 20), st.sampled_from(["linear", "density", "random"]))
def test_kmeans_nearest_sorted_deterministic(w, k, init):
    quantizer = KMeansQuantizer(k=k, init=init)
    q = quantizer.quantize(w)
    assert q.kind == "codebook" and q.codebook.dtype == np.float32 and q.levels.shape == w.shape
    assert 1 <= q.codebook.size <= k and np.all(np.diff(q.codebook) > 0)
    check_nearest(w, q)
    again = quantizer.quantize(w.copy())
    assert np.array_equal(q.codebook, again.codebook) and np.array_equal(q.levels, again.levels)
    if w.size:
        assert set(np.unique(q.levels)) == set(range(q.codebook.size))  # every entry is used


@given(weight_arrays, st.integers(2, 20), st.sampled_from(["linear", "density", "random"]), st.data())
def test_kmeans_mask_gives_exact_zeros(w, k, init, data):
    mask = data.draw(hnp.arrays(np.bool_, w.shape))
    q = KMeansQuantizer(k=k, init=init).quantize(w, mask=mask)
    assert q.codebook.size <= k and np.all(np.diff(q.codebook) > 0)
    assert np.all(q.reconstruct()[~mask] == 0.0) and not np.any(np.signbit(q.reconstruct()[~mask]))
    table = q.codebook.astype(np.float64)
    nearest = np.min(np.abs(w[mask][:, None] - table[None, :]), axis=1, initial=np.inf)
    assert np.all(np.abs(w[mask] - table[q.levels[mask]]) <= nearest)


def test_kmeans_few_distinct_values_are_exact():
    w = np.array([[0.5, -0.25, 0.5], [3.0, -0.25, 0.0]])
    q = KMeansQuantizer(k=16).quantize(w)
    assert q.codebook.tolist() == [-0.25, 0.0, 0.5, 3.0]
    assert np.array_equal(q.reconstruct(), w)
    assert KMeansQuantizer(k=2).quantize(np.zeros(5)).codebook.tolist() == [0.0]
    assert KMeansQuantizer(k=2).quantize(np.zeros(0)).codebook.tolist() == [0.0]


@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_kmeans_inits_converge_to_fixed_point(init):
    x = laplace(3000, seed=3)
    centroids = kmeans_1d(x, 16, init=init, iters=100000)
    assert centroids.size == 16 and np.all(np.diff(centroids) > 0)
    labels = nearest_index(centroids, x)
    means = np.array([x[labels == j].mean() for j in range(16)])
    assert np.allclose(centroids, means, rtol=0, atol=1e-12)  # Lloyd's fixed point: each centroid is its mean
    q = KMeansQuantizer(k=16, init=init).quantize(x)
    assert sqnr_db(x, q.reconstruct()) > 15


def test_kmeans_weights_equal_repetition():
    rng = np.random.default_rng(5)
    values = rng.normal(size=300)
    counts = rng.integers(1, 4, size=300)
    for init in ("linear", "density"):
        weighted = kmeans_1d(values, 8, weights=counts.astype(float), init=init)
        repeated = kmeans_1d(np.repeat(values, counts), 8, init=init)
        assert np.allclose(weighted, repeated, rtol=0, atol=1e-12)


def test_kmeans_importance_pulls_centroids():
    x = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    importance = np.array([1.0, 1.0, 100.0, 1.0, 1.0])
    q = KMeansQuantizer(k=2, init="linear").quantize(x, importance=importance)
    assert q.codebook[0] == np.float32((1.0 + 200.0) / 102.0)
    assert KMeansQuantizer(k=2).quantize(x, importance=np.zeros(5)).codebook.tolist() == [1.0, 10.5]


def test_kmeans_empty_clusters_are_reseeded_deterministically():
    x = np.r_[np.zeros(50), np.ones(50), [100.0]]  # linear init puts most centroids in the empty gap
    centroids = kmeans_1d(x + np.linspace(0, 1e-3, x.size), 8, init="linear")
    assert centroids.size == 8 and np.all(np.diff(centroids) > 0)
    assert np.array_equal(centroids, kmeans_1d(x + np.linspace(0, 1e-3, x.size), 8, init="linear"))


# --- power-of-two, binary, ternary ---------------------------------------------------------------------------

def test_log_codebook_exact():
    table = power_of_two_codebook(0.3, 3)  # floor(log2 0.3) = -2: exponents -2, -3, -4
    assert table.tolist() == [-0.25, -0.125, -0.0625, 0.0, 0.0625, 0.125, 0.25]
    assert power_of_two_codebook(0.25, 2).tolist() == [-0.25, 0.0, 0.25]
    assert power_of_two_codebook(0.0, 4).tolist() == [0.0]
    assert power_of_two_codebook(2.0 ** -148, 4).tolist() == [-2.0 ** -148, -2.0 ** -149, 0.0,
                                                               2.0 ** -149, 2.0 ** -148]
    assert power_of_two_codebook(1.0, 8).size == 2 ** 8 - 1


@given(weight_arrays, st.integers(2, 8), st.data())
def test_log_nearest_and_mask(w, bits, data):
    mask = data.draw(hnp.arrays(np.bool_, w.shape))
    q = LogQuantizer(bits=bits).quantize(w)
    assert q.codebook.size <= 2 ** bits - 1
    check_nearest(w, q)
    masked = LogQuantizer(bits=bits).quantize(w, mask=mask)
    assert np.all(masked.reconstruct()[~mask] == 0.0)


def test_binary_hand_example():
    w = np.array([[1.0, -2.0, 3.0, -6.0], [0.5, 0.0, -0.5, 1.0]])
    q = BinaryQuantizer().quantize(w)
    assert q.kind == "uniform" and q.axis == 0
    assert q.steps.tolist() == [3.0, 0.5]
    assert q.levels.tolist() == [[1, -1, 1, -1], [1, 1, -1, 1]]
    per_tensor = BinaryQuantizer(axis=None).quantize(w)
    assert per_tensor.steps.tolist() == [np.float32(14.0 / 8)]
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    masked = BinaryQuantizer().quantize(w, mask=mask)
    assert masked.steps[0] == 1.5 and masked.levels[0].tolist() == [1, -1, 0, 0]
    assert np.all(masked.reconstruct()[~mask] == 0.0)
    weighted = BinaryQuantizer().quantize(w, importance=np.array([[3.0, 1.0, 0.0, 0.0], [1.0] * 4]))
    assert weighted.steps[0] == np.float32(5.0 / 4)
    zero = BinaryQuantizer().quantize(np.zeros((2, 3)))
    assert zero.steps.tolist() == [1.0, 1.0] and not zero.levels.any()


def test_ternary_hand_example():
    w = np.array([[1.0, -2.0, 3.0, -6.0, 0.1], [0.0, 0.0, 0.0, 0.0, 0.0]])
    # row 0: mean|w| = 12.1 / 5 = 2.42, threshold 1.694: {-2, 3, -6} survive, scale (2 + 3 + 6) / 3
    q = TernaryQuantizer().quantize(w)
    assert q.levels.tolist() == [[0, -1, 1, -1, 0], [0] * 5]
    assert q.steps.tolist() == [np.float32(11.0 / 3), 1.0]
    loose = TernaryQuantizer(threshold_factor=0.3).quantize(w)  # threshold 0.726: 1.0 joins
    assert loose.levels[0].tolist() == [1, -1, 1, -1, 0] and loose.steps[0] == np.float32(12.0 / 4)
    mask = np.ones_like(w, dtype=bool)
    mask[0, 3] = False  # mean over kept |w| = 6.1 / 4, threshold 1.0675: {-2, 3}
    masked = TernaryQuantizer().quantize(w, mask=mask)
    assert masked.levels[0].tolist() == [0, -1, 1, 0, 0] and masked.steps[0] == 2.5


@given(nonempty_matrices, st.data())
def test_binary_ternary_levels(w, data):
    mask = data.draw(hnp.arrays(np.bool_, w.shape))
    for quantizer in (BinaryQuantizer(), TernaryQuantizer(), BinaryQuantizer(axis=-1)):
        q = quantizer.quantize(w, mask=mask)
        assert set(np.unique(q.levels)) <= {-1, 0, 1} and np.all(q.steps > 0)
        assert np.all(q.reconstruct()[~mask] == 0.0)
        assert q.steps.shape == (w.shape[q.axis],)


# --- pruning ---------------------------------------------------------------------------------------------------

@given(st.lists(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5),
                           elements=st.sampled_from([0.0, 0.5, -0.5, 1.0, -2.0, 3.0])), min_size=1, max_size=3),
       st.floats(0, 1))
def test_magnitude_sparsity_exact(tensors, sparsity):
    weights = {f"t{i}": t for i, t in enumerate(tensors)}
    masks = magnitude_masks(weights, sparsity)
    for name, w in weights.items():
        m = masks[name]
        assert m.shape == w.shape and m.dtype == np.bool_
        assert np.count_nonzero(~m) == round(sparsity * w.size)
        if np.any(m) and np.any(~m):
            assert np.abs(w[~m]).max() <= np.abs(w[m]).min()
    total = sum(w.size for w in weights.values())
    global_masks = magnitude_masks(weights, sparsity, scope="global")
    assert sum(np.count_nonzero(~m) for m in global_masks.values()) == round(sparsity * total)
    kept = np.concatenate([np.abs(w[global_masks[n]]).ravel() for n, w in weights.items()])
    removed = np.concatenate([np.abs(w[~global_masks[n]]).ravel() for n, w in weights.items()])
    if kept.size and removed.size:
        assert removed.max() <= kept.min()


def test_magnitude_ties_by_index_and_per_layer_dict():
    w = np.array([1.0, -1.0, 1.0, 2.0])
    assert magnitude_masks({"a": w}, 0.5)["a"].tolist() == [False, False, True, True]
    masks = magnitude_masks({"a": w, "b": w}, {"a": 0.25})
    assert masks["a"].tolist() == [False, True, True, True] and masks["b"].all()
    masks = magnitude_masks({"a": np.array([1.0, 1.0]), "b": np.array([1.0, 1.0])}, 0.75, scope="global")
    assert masks["a"].tolist() == [False, False] and masks["b"].tolist() == [False, True]
    with pytest.raises(EncodeError):
        magnitude_masks({"a": w}, {"a": 0.5}, scope="global")
    with pytest.raises(EncodeError):
        magnitude_masks({"a": w}, {"zz": 0.5})
    with pytest.raises(EncodeError):
        magnitude_masks({"a": w}, 1.5)


def test_std_and_structured_masks():
    w = np.array([[0.1, -3.0], [2.0, 0.2]])
    std = np.std(w)
    assert np.array_equal(std_masks({"w": w}, 0.7)["w"], np.abs(w) >= 0.7 * std)
    rows = np.array([[3.0, 0.0], [0.1, 0.1], [1.0, 1.0], [0.1, -0.1]])
    masks = structured_masks({"w": rows, "b": np.ones(4)}, 0.5)
    assert masks["w"].tolist() == [[True, True], [False, False], [True, True], [False, False]]
    assert masks["b"].all()
    columns = structured_masks({"w": rows}, 0.5, axis=1)["w"]
    assert columns[:, 0].all() and not columns[:, 1].any()


# --- spec strings ----------------------------------------------------------------------------------------------

QUANTIZER_SPECS = ["uniform:step=0.01", "uniform:bits=8", "uniform:sqnr=40", "uniform:bits=4,axis=0",
                   "uniform:sqnr=32.5,axis=-1", "kmeans:k=32", "kmeans:k=16,init=density", "kmeans",
                   "kmeans:k=256,init=random,seed=7,iters=50", "log:bits=4", "log", "binary", "binary:axis=1",
                   "binary:axis=none", "ternary", "ternary:threshold=0.7", "ternary:threshold=0.5,axis=1"]
PRUNE_SPECS = ["magnitude:0.5", "magnitude:0.9,scope=global", "std:quality=0.7", "rows:0.25", "rows:0.25,axis=1"]


@pytest.mark.parametrize("spec", QUANTIZER_SPECS)
def test_quantizer_spec_round_trip(spec):
    quantizer = parse_quantizer(spec)
    assert parse_quantizer(quantizer.config()) == quantizer
    assert parse_quantizer(quantizer) is quantizer
    assert quantizer.config().split(":")[0] == spec.split(":")[0]


def test_quantizer_specs_mean_what_they_say():
    assert parse_quantizer("uniform:bits=4,axis=0") == UniformQuantizer(bits=4, axis=0)
    assert parse_quantizer("uniform:step=0.01").config() == "uniform:step=0.01"
    assert parse_quantizer("uniform:sqnr=40").config() == "uniform:sqnr=40"
    assert parse_quantizer("kmeans:k=16,init=density") == KMeansQuantizer(k=16, init="density")
    assert parse_quantizer("log:bits=4") == LogQuantizer(4)
    assert parse_quantizer("ternary:threshold=0.7") == TernaryQuantizer() == parse_quantizer("ternary")
    assert parse_quantizer(" Binary ") == BinaryQuantizer(axis=0)


@pytest.mark.parametrize("spec", PRUNE_SPECS)
def test_prune_spec_round_trip(spec):
    pruner = parse_prune(spec)
    assert parse_prune(pruner.config()) == pruner
    assert pruner.config() == spec
    masks = pruner({"w": laplace((8, 8)), "b": laplace(8)})
    assert set(masks) == {"w", "b"}


@pytest.mark.parametrize("spec, message", [
    ("", "no name"), ("nope", "unknown quantizer 'nope'.*choose one of"), ("uniform", "exactly one of"),
    ("uniform:bits=8,step=0.1", "exactly one of"), ("uniform:bits=eight", "not an integer"),
    ("uniform:bits=8,bits=4", "repeats"), ("uniform:bitz=8", "unknown option 'bitz'"),
    ("uniform:bits=40", r"bits must be an integer in \[2, 24\]"), ("uniform:step=0", "step"),
    ("uniform:8", "key=value"), ("kmeans:k=1", "k must be"), ("kmeans:k=70000", "k must be"),
    ("kmeans:init=best", "init must be one of linear, density, random"), ("log:bits=9", "bits"),
    ("ternary:threshold=-1", "threshold"), ("binary:axis=x", "not an integer"), ("uniform:bits=", "empty item"),
])
def test_bad_quantizer_specs(spec, message):
    with pytest.raises(EncodeError, match=message):
        parse_quantizer(spec)


@pytest.mark.parametrize("spec, message", [
    ("magnitude", "needs one sparsity"), ("magnitude:1.5", r"sparsity must be a finite number in \[0.0, 1.0\]"),
    ("magnitude:half", "not a number"), ("magnitude:0.5,scope=world", "scope must be one of layer, global"),
    ("std:0.7", "std:quality"), ("std", "needs quality"), ("rows:0.1,0.2", "needs one sparsity"),
    ("prune:0.5", "unknown pruner 'prune'"), ("rows:0.5,axis=1.5", "not an integer"),
    ("rows:0.5,axis=none", "integer axis"),
])
def test_bad_prune_specs(spec, message):
    with pytest.raises(EncodeError, match=message):
        parse_prune(spec)


def test_non_string_specs_rejected():
    with pytest.raises(EncodeError):
        parse_quantizer(8)
    with pytest.raises(EncodeError):
        parse_prune(None)


# --- inputs, results, metrics --------------------------------------------------------------------------------

def test_bad_inputs_rejected():
    quantizer = UniformQuantizer(bits=8)
    with pytest.raises(EncodeError, match="finite"):
        quantizer.quantize(np.array([1.0, np.nan]))
    with pytest.raises(EncodeError, match="2\\*\\*126"):
        quantizer.quantize(np.array([1e300]))
    with pytest.raises(EncodeError, match="mask"):
        quantizer.quantize(np.ones(3), mask=np.ones(4, bool))
    with pytest.raises(EncodeError, match="mask"):
        quantizer.quantize(np.ones(3), mask=np.ones(3))
    with pytest.raises(EncodeError, match="non-negative"):
        quantizer.quantize(np.ones(3), importance=-np.ones(3))
    with pytest.raises(EncodeError, match="out of range"):
        UniformQuantizer(bits=8, axis=2).quantize(np.ones((2, 2)))


def test_quantized_contract():
    q = Quantized(levels=np.array([[1, -2], [3, 0]]), kind="uniform", steps=np.array([0.5, 2.0], np.float32),
                  axis=1)
    assert q.reconstruct().tolist() == [[0.5, -4.0], [1.5, 0.0]] and q.reconstruct().dtype == np.float64
    c = Quantized(levels=np.array([1, 0]), kind="codebook", codebook=np.array([-1.0, 0.5], np.float32))
    assert c.reconstruct().tolist() == [0.5, -1.0]
    with pytest.raises(EncodeError):
        Quantized(levels=np.array([1]), kind="lattice")
    with pytest.raises(EncodeError):
        Quantized(levels=np.array([1]), kind="uniform", steps=np.array([1.0]))


def test_metrics():
    a = {"x": np.array([3.0, 4.0]), "y": np.array([0.0])}
    b = {"x": np.array([3.0, 3.0]), "y": np.array([0.5])}
    assert sqnr_db(a, b) == pytest.approx(10 * math.log10(25 / 1.25))
    assert sqnr_db(a, a) == math.inf
    assert max_abs_error(a, b) == 1.0 and max_abs_error(np.zeros(0), np.zeros(0)) == 0.0
    with pytest.raises(EncodeError):
        sqnr_db(a, {"x": b["x"]})
    with pytest.raises(EncodeError):
        sqnr_db(np.zeros(2), np.zeros(3))


@given(hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-10, 10), unique=True),
       hnp.arrays(np.float64, st.integers(0, 300), elements=st.floats(-20, 20)))
def test_insertion_points_match_searchsorted(table, x):
    table = np.sort(table)
    assert np.array_equal(insertion_points(table, x), np.searchsorted(table, x))
    chosen = nearest_index(table, x)
    assume(x.size)
    assert np.all(np.abs(x - table[chosen]) <= np.min(np.abs(x[:, None] - table[None, :]), axis=1))


@pytest.mark.parametrize("table", [
    np.sort(laplace(256, seed=7)), power_of_two_codebook(1.0, 8).astype(np.float64),
    np.array([0.0, 1e-300, 1.0]), np.linspace(-1, 1, 1000), np.array([-5.0, 5.0])])
def test_insertion_points_bucketed_path(table):
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.laplace(0, 0.05, 50000), rng.uniform(-2, 2, 50000), table,
                        np.nextafter(table, -np.inf), np.nextafter(table, np.inf), (table[1:] + table[:-1]) / 2])
    assert np.array_equal(insertion_points(table, x), np.searchsorted(table, x))
