"""scope=model: one step shared by every tensor a uniform or dq SQNR quantizer applies to, for a target over all of
them together (issue 4's measure). Reached SQNR, the single stored step, bytes against per-tensor targets, option
errors, determinism and backend parity."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nncodec
from nncodec import kernels
from nncodec.errors import EncodeError
from nncodec.quant import parse_quantizer, sqnr_db
from nncodec.quant.model_scope import MODEL_SAMPLE, sample_plan
from nncodec.quant.prune import magnitude_masks

from checkers import check_identical_bytes

RNG = np.random.default_rng(11)
SCALED_MODEL = {  # tensors of very different scales: per-tensor targets spend bytes on the small ones
    "conv.weight": RNG.laplace(0, 0.05, size=(16, 8, 3, 3)).astype(np.float32),
    "fc1.weight": RNG.laplace(0, 0.5, size=(64, 48)).astype(np.float32),
    "fc2.weight": RNG.normal(0, 0.002, size=(32, 64)).astype(np.float32),
}


def stored_steps(blob):
    """{name: (stage name, float32 steps)} of every tensor's dequantization stage, read from the container."""
    from spec.format import parse_container
    out = {}
    for record in parse_container(blob).directory.tensor_record:
        stage = record.node.body.stage[-1]
        params = bytes(stage.params)
        assert params[1] == 255, "a per-tensor step (Axis 255)"
        out[record.name] = np.frombuffer(params[3:3 + 4 * params[2]], dtype="<f4")
    return out


models = st.lists(
    st.tuples(st.integers(8, 40), st.integers(8, 40), st.floats(1e-3, 1e2), st.sampled_from(["normal", "laplace"])),
    min_size=1, max_size=3)


@settings(max_examples=12)
@given(models, st.floats(15, 40), st.sampled_from(["uniform", "dq"]), st.integers(0, 2 ** 32 - 1))
def test_reached_total_sqnr_is_at_least_the_target_and_close(shapes, target, kind, seed):
    rng = np.random.default_rng(seed)
    weights = {f"t{i}": getattr(rng, law)(0, scale, size=(rows, cols)).astype(np.float32)
               for i, (rows, cols, scale, law) in enumerate(shapes)}
    blob = nncodec.encode(weights, quantize=f"{kind}:sqnr={target},scope=model", keep_small=0)
    reached = sqnr_db(weights, nncodec.decode(blob))
    assert target <= reached <= target + 0.5
    assert len({float(s[0]) for s in stored_steps(blob).values()}) == 1


@pytest.mark.parametrize("kind", ["uniform", "dq"])
def test_one_step_is_shared_and_beats_per_tensor_targets(kind):
    model_blob = nncodec.encode(SCALED_MODEL, quantize=f"{kind}:sqnr=30,scope=model", entropy="cabac")
    tensor_blob = nncodec.encode(SCALED_MODEL, quantize=f"{kind}:sqnr=30", entropy="cabac")
    steps = stored_steps(model_blob)
    assert list(steps) == list(SCALED_MODEL)
    assert len({float(s[0]) for s in steps.values()}) == 1
    model_sqnr = sqnr_db(SCALED_MODEL, nncodec.decode(model_blob))
    tensor_sqnr = sqnr_db(SCALED_MODEL, nncodec.decode(tensor_blob))
    assert 30 <= model_sqnr and 30 <= tensor_sqnr
    assert len(model_blob) <= len(tensor_blob)
    assert model_sqnr >= tensor_sqnr - 0.05  # equal targets: the shared step reaches the same total SQNR


def test_different_model_quantizers_resolve_over_their_own_tensors():
    quantize = {"conv.*": "dq:sqnr=25,scope=model", "*": "uniform:sqnr=35,scope=model"}
    blob = nncodec.encode(SCALED_MODEL, quantize=quantize)
    steps = stored_steps(blob)
    assert steps["fc1.weight"][0] == steps["fc2.weight"][0] != steps["conv.weight"][0]
    decoded = nncodec.decode(blob)
    fc = [name for name in SCALED_MODEL if name.startswith("fc")]
    assert sqnr_db({n: SCALED_MODEL[n] for n in fc}, {n: decoded[n] for n in fc}) >= 35
    assert sqnr_db(SCALED_MODEL["conv.weight"], decoded["conv.weight"]) >= 25


@pytest.mark.parametrize("kind", ["uniform", "dq"])
def test_pruned_weights_stay_zero_and_count_for_nothing(kind):
    masks = magnitude_masks(SCALED_MODEL, 0.5)
    blob = nncodec.encode(SCALED_MODEL, quantize=f"{kind}:sqnr=30,scope=model", prune="magnitude:0.5")
    decoded = nncodec.decode(blob)
    assert all(np.all(decoded[n][~masks[n]] == 0) for n in SCALED_MODEL)
    kept = {n: np.where(masks[n], SCALED_MODEL[n], 0) for n in SCALED_MODEL}
    assert 30 <= sqnr_db(kept, decoded) <= 30.5


@pytest.mark.parametrize("spec", ["dq:sqnr=40,scope=model", "uniform:sqnr=40,scope=model",
                                  "dq:sqnr=30,lam=0.2,states=8,scope=model", "dq:sqnr=30,scope=tensor"])
def test_config_round_trips(spec):
    quantizer = parse_quantizer(spec)
    assert parse_quantizer(quantizer.config()) == quantizer
    assert ("scope=model" in quantizer.config()) == ("scope=model" in spec)


@pytest.mark.parametrize("spec", ["dq:sqnr=40,axis=0,scope=model", "uniform:bits=8,scope=model",
                                  "dq:step=0.01,scope=model", "uniform:sqnr=30,scope=global",
                                  "rdoq:sqnr=30,scope=model"])
def test_bad_option_combinations_are_encode_errors(spec):
    with pytest.raises(EncodeError, match="scope"):
        nncodec.encode(SCALED_MODEL, quantize=spec)


def test_non_finite_weights_are_encode_errors():
    bad = dict(SCALED_MODEL, **{"fc2.weight": np.full((32, 64), np.nan, np.float32)})
    with pytest.raises(EncodeError, match="finite"):
        nncodec.encode(bad, quantize="dq:sqnr=30,scope=model")


def test_one_tensor_quantized_directly_is_a_model_of_one():
    w = SCALED_MODEL["fc1.weight"].astype(np.float64)
    quantized = parse_quantizer("uniform:sqnr=30,scope=model").quantize(w)
    assert 30 <= sqnr_db(w, quantized.reconstruct()) <= 30.5


def test_sample_takes_every_stride_th_position_of_the_concatenation():
    sizes = [MODEL_SAMPLE, 3, MODEL_SAMPLE + 5]
    stride, starts = sample_plan(sizes)
    offsets = np.cumsum([0] + sizes[:-1])
    positions = np.concatenate([o + np.arange(s, n, stride) for o, s, n in zip(offsets, starts, sizes)])
    assert np.array_equal(positions, np.arange(0, sum(sizes), stride))
    assert positions.size <= MODEL_SAMPLE


def test_deterministic_and_identical_across_backends(backend, monkeypatch):
    """The step search and quantization on each backend's trellis give the reference backend's bytes."""
    options = dict(quantize="dq:sqnr=30,scope=model", entropy="cabac")
    monkeypatch.setattr(kernels, "default_backend", "reference")
    reference = check_identical_bytes(SCALED_MODEL, **options)
    monkeypatch.setattr(kernels, "default_backend", backend)
    assert check_identical_bytes(SCALED_MODEL, **options) == reference


def test_streaming_writer_takes_steps_resolved_over_the_whole_model(tmp_path):
    from nncodec.encoder.writer import Writer, resolved_quantize
    weights = {f"blocks[{i}].{name}": w for i, (name, w) in enumerate(SCALED_MODEL.items())}  # fnmatch specials
    options = dict(quantize="dq:sqnr=30,scope=model", entropy="cabac")
    with pytest.raises(EncodeError, match="scope=model"):
        Writer(tmp_path / "refused.nnc", **options)
    path = tmp_path / "streamed.nnc"
    with Writer(path, entropy="cabac", quantize=resolved_quantize(weights, quantize=options["quantize"])) as writer:
        for name, array in weights.items():
            writer.add(name, array)
    assert path.read_bytes() == nncodec.encode(weights, **options)
