"""dq machines of 8, 16 and 32 states (spec 4.5, State_Count): the tables, both backends' dequantization and trellis
search, round trips through the container, and params a decoder must reject."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import nncodec
from nncodec import kernels
from nncodec.kernels.dq_machine import STATE_COUNTS, machine
from nncodec.errors import EncodeError, FormatError
from nncodec.quant import parse_quantizer, sqnr_db
from nncodec.format.records import Stage

from checkers import (assert_same_array, check_bitflips, check_identical_bytes, check_prefixes, check_rejects,
                      check_roundtrip)
from crafting import craft, dense_tensor

RNG = np.random.default_rng(11)
STEP = np.float32(0.046875)


def spec_multiples(levels, states):
    """The multiples of spec 4.5 written from its text: the TRANSITION table for four states, else the feedback
    rule with (H0, H1) from the table of polynomials."""
    feedback = {8: (5, 2), 16: (9, 4), 32: (18, 4)}
    transition = [[0, 2], [2, 0], [1, 3], [3, 1]]
    state, out = 0, []
    for k in np.asarray(levels).reshape(-1).tolist():
        q1 = state >= 2 if states == 4 else state & 1
        out.append(2 * k - (k > 0) + (k < 0) if q1 else 2 * k)
        if states == 4:
            state = transition[state][abs(k) & 1]
        else:
            h0, h1 = feedback[states]
            state = (state >> 1) ^ (h0 if state & 1 else 0) ^ (h1 if abs(k) & 1 else 0)
    return np.array(out, dtype=np.int64)


def test_machines_are_trellises_of_the_spec():
    """The 8-state table printed in spec 4.5; each machine reaches all its states, every state has exactly two
    predecessors (a Viterbi trellis), and the two branches out of a state go to different states."""
    assert machine(8)[1] == ((0, 2), (5, 7), (1, 3), (4, 6), (2, 0), (7, 5), (3, 1), (6, 4))
    assert machine(4) == ((0, 0, 1, 1), ((0, 2), (2, 0), (1, 3), (3, 1)))
    for states in STATE_COUNTS:
        odd, transition = machine(states)
        assert len(odd) == len(transition) == states
        targets = [t for pair in transition for t in pair]
        assert sorted(targets) == sorted(list(range(states)) * 2)
        assert all(a != b for a, b in transition)
        seen, frontier = {0}, [0]
        while frontier:
            frontier = [t for s in frontier for t in transition[s] if t not in seen]
            seen.update(frontier)
        assert seen == set(range(states))


@pytest.mark.parametrize("states", STATE_COUNTS)
@pytest.mark.parametrize("dtype", ["<i1", "<i2", "<u4", "<i8"])
def test_dequantization_follows_the_spec_machine(states, dtype, backend):
    info = np.iinfo(dtype)
    levels = RNG.integers(max(info.min, -200), min(info.max, 200), size=(7, 31), endpoint=True).astype(dtype)
    steps = RNG.uniform(0.01, 2, size=7).astype(np.float32)
    got = kernels.module("dequant", backend).dependent(levels, steps, 0, np.float64, states)
    expected = spec_multiples(levels, states).reshape(levels.shape) * steps.astype(np.float64)[:, None]
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("states", STATE_COUNTS)
def test_trellis_twins_choose_identical_levels(states):
    from nncodec.kernels.reference.trellis import trellis_levels as reference_search
    w = RNG.laplace(0, 1, 1500)
    step = np.full(w.size, 0.25)
    bits = np.linspace(6, 1, 21) ** 0.5 + np.abs(np.arange(-10, 11)) * 0.3
    for lam in (0.0, 0.3):
        expected = reference_search(w, step, bits, lam, states)
        for backend in nncodec.available_backends():
            got = kernels.module("trellis", backend).trellis_levels(w, step, bits, lam, states)
            assert np.array_equal(got, expected), (backend, lam)


@given(st.integers(0, 2**32 - 1), st.sampled_from(STATE_COUNTS), st.floats(0.0, 0.5), st.floats(0.0, 0.9))
def test_trellis_twins_agree_on_forced_zeros(seed, states, lam, pruned):
    """Where ``zero`` is set the level is 0, and both twins choose the same levels around it."""
    from nncodec.kernels.reference.trellis import trellis_levels as reference_search
    rng = np.random.default_rng(seed)
    w = rng.laplace(0, 1, 300)
    zero = rng.random(w.size) < pruned
    w[zero] = 0.0
    step = np.full(w.size, 0.3)
    bits = np.linspace(6, 1, 21) ** 0.5 + np.abs(np.arange(-10, 11)) * 0.3
    expected = reference_search(w, step, bits, lam, states, zero)
    assert not np.any(expected[zero])
    for backend in nncodec.available_backends():
        got = kernels.module("trellis", backend).trellis_levels(w, step, bits, lam, states, zero)
        assert np.array_equal(got, expected), backend


@pytest.mark.parametrize("states", (4, 16))
def test_pruned_dq_reaches_its_sqnr_target(states, backend):
    """Pruned weights are planned into the trellis search: zeroing them after the search changed the state
    sequence the decoder walks, and a 30 dB target came out near 25 dB."""
    rng = np.random.default_rng(5)
    w = {"a": rng.laplace(size=(128, 96)).astype(np.float32)}
    blob = nncodec.encode(w, prune="magnitude:0.5", quantize=f"dq:sqnr=30,states={states}", backend=backend)
    decoded = nncodec.decode(blob)["a"]
    kept = np.abs(w["a"]) > np.quantile(np.abs(w["a"]), 0.5)
    pruned = np.where(kept, w["a"], 0).astype(np.float64)
    assert not np.any(decoded[~kept])
    assert 29.9 <= sqnr_db({"a": pruned}, {"a": decoded}) <= 30.6


@pytest.mark.parametrize("states", STATE_COUNTS)
def test_trellis_levels_decode_to_what_the_trellis_chose(states, enc_backend, dec_backend):
    """The container holds the trellis's levels and the decoder rebuilds exactly the quantizer's reconstruction."""
    w = RNG.laplace(0, 0.05, size=(24, 40)).astype(np.float32)
    quantized = parse_quantizer(f"dq:step=0.01,states={states}").quantize(w.astype(np.float64))
    assert quantized.states == states
    blob = nncodec.encode({"w": w}, quantize=f"dq:step=0.01,states={states}", keep_small=0, backend=enc_backend)
    decoded = nncodec.decode(blob, backend=dec_backend)["w"]
    assert decoded.tobytes() == quantized.reconstruct().astype(np.float32).tobytes()
    multiples = spec_multiples(quantized.levels, states).reshape(w.shape)  # the levels the trellis chose, as spec 4.5
    assert decoded.tobytes() == (multiples * np.float64(np.float32(0.01))).astype(np.float32).tobytes()


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=3, max_side=12),
                  elements=st.floats(-4, 4, width=32)),
       st.sampled_from(STATE_COUNTS), st.sampled_from(["raw", "cabac", "huffman"]), st.sampled_from([0.0, 0.2]))
def test_random_tensors_round_trip_on_both_backends(w, states, entropy, lam):
    spec = f"dq:step=0.125,lam={lam},states={states}"
    blob = check_identical_bytes({"w": w}, quantize=spec, entropy=entropy, keep_small=0, no_larger_than_raw=False)
    expected = parse_quantizer(spec).quantize(w.astype(np.float64)).reconstruct().astype(np.float32)
    for backend in nncodec.available_backends():
        assert nncodec.decode(blob, backend=backend)["w"].tobytes() == expected.tobytes()
    if lam == 0:  # each weight lies within two steps of its reconstruction (the bracketing points of a quantizer)
        err = np.abs(expected.astype(np.float64) - w.astype(np.float64))
        assert np.all(err <= 2 * 0.125 + 1e-6 * np.abs(w))


def test_round_trip_with_per_channel_steps(enc_backend, dec_backend):
    w = {"w": RNG.laplace(0, 0.05, size=(16, 3, 3, 3)).astype(np.float32)}
    check_roundtrip(w, enc_backend, dec_backend, atol=0.05, quantize="dq:sqnr=25,axis=0,states=16",
                    keep_small=0)


def test_more_states_give_lower_distortion_at_the_same_step():
    """The point of the larger machines (spec 4.5): on 40 000 Laplacian weights, equal step and lam 0, the
    trellis's distortion falls as the states grow (the granular gain of trellis-coded quantization)."""
    w = {"w": RNG.laplace(0, 1, size=(200, 200)).astype(np.float32)}
    sqnr = [sqnr_db(w, nncodec.decode(nncodec.encode(w, quantize=f"dq:step=0.1,lam=0,states={s}")))
            for s in STATE_COUNTS]
    assert sqnr == sorted(sqnr) and sqnr[-1] - sqnr[0] > 0.15, sqnr


LEVELS = np.array([[1, -1, 0, 2], [3, -2, 1, 1]], dtype=np.int8)


def _dq_container(params):
    """A container with one float32 tensor: dense int8 LEVELS, then a dq stage with these raw ``params``."""
    record, streams = dense_tensor("w", "float32", LEVELS.shape, LEVELS.tobytes(), elem_type="int8")
    chain = replace(record.node.body, stages=(Stage(1), Stage(19, params)))
    return craft([(replace(record, node=replace(record.node, body=chain)), streams)])


def _params(states=None, step=STEP):
    """dq params: Out_Type float32, one step for the tensor, then State_Count when given."""
    return bytes((12, 255, 1)) + step.tobytes() + (b"" if states is None else bytes((states,)))


@pytest.mark.parametrize("states", STATE_COUNTS)
def test_state_count_is_written_only_for_more_than_four_states(states):
    from spec.format import parse_container
    w = {"w": RNG.laplace(0, 0.05, size=(8, 8)).astype(np.float32)}
    blob = nncodec.encode(w, quantize=f"dq:step=0.01,states={states}", keep_small=0)
    params = parse_container(blob).directory.tensor_record[0].node.body.stage[-1].params
    assert params == _params(None if states == 4 else states, np.float32(0.01))


@pytest.mark.parametrize("states", STATE_COUNTS)
def test_state_count_selects_the_machine(states, backend):
    blob = _dq_container(_params(None if states == 4 else states))
    expected = (spec_multiples(LEVELS, states) * np.float64(STEP)).astype(np.float32).reshape(LEVELS.shape)
    assert_same_array(expected, nncodec.decode(blob, backend=backend)["w"])


@pytest.mark.parametrize("value", [0, 1, 4, 7, 9, 64, 255])
def test_bad_state_count_is_format_error(value, backend):
    error = check_rejects(_dq_container(_params(value)), FormatError, backend)
    assert "R4.5-b" in str(error)


@pytest.mark.parametrize("tail", [bytes((8, 0)), bytes((16, 16))])
def test_bytes_after_state_count_are_format_error(tail, backend):
    error = check_rejects(_dq_container(_params() + tail), FormatError, backend)
    assert "R4.2-d" in str(error)


def test_truncations_and_bit_flips_of_an_eight_state_container(backend):
    blob = _dq_container(_params(8))
    check_prefixes(blob, backend)
    check_bitflips(blob, backend, count=100)


def test_bad_states_option_is_encode_error():
    for spec in ("dq:step=0.01,states=5", "dq:step=0.01,states=64", "dq:step=0.01,states=x"):
        with pytest.raises(EncodeError):
            parse_quantizer(spec)
    assert parse_quantizer("dq:step=0.01,states=8").config() == "dq:step=0.01,lam=0.1,states=8"
    assert parse_quantizer("dq:step=0.01").states == 16  # the default (fewer bytes at equal SQNR)
    assert parse_quantizer("dq:step=0.01").config() == "dq:step=0.01,lam=0.1"
    assert parse_quantizer(parse_quantizer("dq:sqnr=30,states=32").config()).states == 32


@pytest.mark.parametrize("kernel", ["uniform", "dependent"])
def test_reference_dequantization_holds_a_chunk_of_temporaries(kernel):
    """The reference kernels convert CHUNK levels at a time into the output: their binary64 and int64 temporaries
    are a chunk's, not the tensor's (a 1 GiB float64 dq tensor needed 4 GiB before)."""
    import tracemalloc
    from nncodec.kernels.reference import dequant
    levels = np.ones(4 * dequant.CHUNK, np.int8)
    extra = (8,) if kernel == "dependent" else ()
    tracemalloc.start()
    try:
        out = getattr(dequant, kernel)(levels, np.array([0.5], np.float32), None, np.float64, *extra)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert set(np.unique(out).tolist()) <= ({0.5, 1.0} if kernel == "dependent" else {0.5})  # 2k - 1 or 2k steps
    assert peak <= out.nbytes + 48 * dequant.CHUNK
