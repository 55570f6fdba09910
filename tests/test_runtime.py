"""nncodec.runtime: sparse products on every layout and both backends, the layout pick, and the inference engine
(against an independent dense NumPy forward pass), plus hostile architecture descriptions."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import nncodec
from nncodec import runtime
from nncodec.errors import (DecodeError, FormatError, InconsistentError, LimitExceededError,
                            UnsupportedFeatureError)
from nncodec import sparse
from nncodec.sparse import cer_from_dense, cser_from_dense, csr_from_dense, relidx_from_dense
from tests.checkers import check_product
from skips import skip


@st.composite
def sparse_matrices(draw):
    """A float32 matrix with few distinct values: any shape up to 12 x 40, 1 x N and N x 1 up to 300, very long
    rows, empty rows, all-zero, a single distinct value (zero or not)."""
    kind = draw(st.sampled_from(["any", "row", "column", "long-rows"]))
    m, n = {"any": (draw(st.integers(1, 12)), draw(st.integers(1, 40))),
            "row": (1, draw(st.integers(1, 300))),
            "column": (draw(st.integers(1, 300)), 1),
            "long-rows": (draw(st.integers(1, 3)), draw(st.integers(500, 3000)))}[kind]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    distinct = draw(st.integers(1, 8))
    table = np.round(rng.standard_normal(distinct) * 4, 2).astype(np.float32)
    a = table[rng.integers(0, distinct, size=(m, n))]
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.9, 1.0]))
    a[rng.random((m, n)) >= density] = 0
    if draw(st.booleans()):
        a[rng.random(m) < 0.3] = 0  # empty rows
    return a


FIXTURES_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


@settings(suppress_health_check=FIXTURES_OK)
@given(a=sparse_matrices(), batch=st.sampled_from([0, 1, 2, 3, 17, 256]), seed=st.integers(0, 2 ** 32 - 1))
def test_products_match_dense(backend, a, batch, seed):
    x = np.random.default_rng(seed).standard_normal((a.shape[1], batch) if batch else a.shape[1])
    results = check_product(a, x.astype(np.float32), backend)
    if batch:  # against NumPy's own float32 product: both within the summation bound, so within twice it
        x32 = x.astype(np.float32)
        bound = 2 * (a.shape[1] + 2) * 2.0 ** -23 * (np.abs(a).astype(np.float64) @ np.abs(x32).astype(np.float64))
        assert np.all(np.abs(results["csr"].astype(np.float64) - (a @ x32)) <= bound + 1e-30)


@pytest.mark.parametrize("a", [np.zeros((3, 5), np.float32), np.full((4, 6), 2.5, np.float32),
                               np.full((1, 9), -1.0, np.float32), np.zeros((0, 4), np.float32),
                               np.zeros((4, 0), np.float32)], ids=["zeros", "one-value", "row", "no-rows", "no-cols"])
def test_products_edge_matrices(backend, a):
    check_product(a, np.ones((a.shape[1], 3), np.float32), backend)


def test_backends_agree_on_one_thread():
    """Both backends give the same products up to summation order (one thread, batch 1)."""
    if "cython" not in nncodec.available_backends():
        skip("cython-missing")
    rng = np.random.default_rng(1)
    a = rng.choice(np.float32([0, 0, 0, 1.5, -2]), size=(30, 50))
    x = rng.standard_normal(50).astype(np.float32)
    for layout in ("csr", "cer", "cser", "relidx"):
        op = runtime.prepare(a, layout)
        ref, cy = op.matmul(x, backend="reference", threads=1), op.matmul(x, backend="cython", threads=1)
        assert np.allclose(ref, cy, rtol=1e-5, atol=1e-5), layout


def test_structures_used_as_given(backend):
    """A decoded structure is prepared in its own layout; ``A @ x`` on the structure goes through the runtime."""
    rng = np.random.default_rng(2)
    a = rng.choice(np.float32([0, 0, 0.5, -1.25]), size=(7, 300))
    x = rng.standard_normal((300, 4)).astype(np.float32)
    for structure in (csr_from_dense(a), cer_from_dense(a), cser_from_dense(a), relidx_from_dense(a, 3)):
        op = runtime.prepare(structure)
        assert op.layout == sparse.layout_of(structure)
        assert np.allclose(op.matmul(x, backend=backend), a @ x, atol=1e-4)
        assert np.allclose(structure @ x[:, 0], a @ x[:, 0], atol=1e-4)
        assert np.allclose(runtime.prepare(structure, "csr").matmul(x, backend=backend), a @ x, atol=1e-4)


def test_compact_index_types():
    a = np.eye(5, dtype=np.float32)
    assert runtime.prepare(a, "csr").col_idx.dtype == np.uint16
    assert runtime.prepare(a, "cer").omega_ptr.dtype == np.int32
    wide = csr_from_dense(np.zeros((1, 70000), np.float32))
    assert runtime.prepare(wide).col_idx.dtype == np.int32


def test_conv_weight_uses_its_matrix_view(backend):
    w = np.random.default_rng(3).standard_normal((4, 3, 2, 2)).astype(np.float32)
    x = np.ones((12, 2), np.float32)
    for layout in runtime.LAYOUTS:
        assert np.allclose(runtime.prepare(w, layout).matmul(x, backend=backend), w.reshape(4, 12) @ x, atol=1e-5)


def test_bad_x_shapes():
    op = runtime.prepare(np.ones((2, 3), np.float32), "csr")
    for x in (np.ones(4), np.ones((2, 3)), np.ones((3, 1, 1)), np.float32(1)):
        with pytest.raises(ValueError, match="expected x"):
            op.matmul(x)


FIELDS = {"csr": ("row_ptr", "col_idx", "values"), "cer": ("omega", "row_ptr", "omega_ptr", "col_idx"),
          "cser": ("omega", "row_ptr", "omega_idx", "omega_ptr", "col_idx"), "relidx": ("gap_bits", "gaps", "values")}


def _corrupt(structure, **arrays):
    """The structure's class built from its arrays with ``arrays`` replaced (construction validates them)."""
    args = [arrays.get(name, getattr(structure, name)) for name in FIELDS[structure.layout]]
    return type(structure)(structure.shape, *args)


def _base():
    return np.array([[0, 1.5, 0, -2], [1.5, 0, 0, 0], [0, 0, 0, 0]], np.float32)


@pytest.mark.parametrize("make", [
    lambda: _corrupt(csr_from_dense(_base()), col_idx=[1, 4, 0]),
    lambda: _corrupt(csr_from_dense(_base()), row_ptr=[0, 2, 1, 3]),
    lambda: _corrupt(csr_from_dense(_base()), row_ptr=[0, 2, 3]),
    lambda: _corrupt(csr_from_dense(_base()), values=[1.0]),
    lambda: _corrupt(cer_from_dense(_base()), omega_ptr=[0, 2, 1, 3]),
    lambda: _corrupt(cer_from_dense(_base()), row_ptr=[0, 2, 9, 9]),
    lambda: _corrupt(cer_from_dense(_base()), omega=np.float32([0, 1.5])),
    lambda: _corrupt(cser_from_dense(_base()), omega_idx=[1, 3, 1]),
    lambda: _corrupt(cser_from_dense(_base()), omega_idx=[1, 0, 1]),
    lambda: _corrupt(relidx_from_dense(_base(), 2), gaps=[1, 4, 1]),
    lambda: _corrupt(relidx_from_dense(_base(), 2), gaps=[1, -1, 1]),
], ids=["csr-col", "csr-ptr-order", "csr-ptr-count", "csr-values", "cer-omega-ptr", "cer-row-ptr",
        "cer-too-many-groups", "cser-idx-high", "cser-idx-zero", "relidx-wide-gap", "relidx-negative-gap"])
def test_inconsistent_structures_rejected(make):
    """Validation happens once, when a structure is built, before any kernel runs without bounds checks."""
    with pytest.raises(InconsistentError):
        make()


def test_choose_layout_reports_every_candidate(backend):
    a = np.random.default_rng(4).choice(np.float32([0] * 9 + [1.0]), size=(64, 64))
    choice = runtime.choose_layout(a, batch=4, repeats=2, backend=backend)
    assert set(choice.seconds) == {"dense", "csr", "csr8", "cer", "cser"} == set(choice.nbytes)
    assert choice.layout in choice.seconds and choice.operator.layout == choice.layout
    assert choice.seconds[choice.layout] <= min(choice.seconds.values()) * 1.03
    assert choice.nbytes["cer"] < choice.nbytes["dense"]
    assert choice.threads in (1, sparse.available_threads())
    assert choice.operator.threads == choice.threads
    fixed = runtime.choose_layout(a, batch=4, repeats=1, backend=backend, threads=1)
    assert fixed.threads == 1 and fixed.operator.threads == 1


def test_csr8_needs_at_most_256_values(backend):
    """csr8 refuses a matrix with 257 distinct values; choose_layout then leaves it out of the trial."""
    a = np.arange(1, 258, dtype=np.float32).reshape(1, 257)
    with pytest.raises(ValueError, match="at most 256"):
        runtime.prepare(a, "csr8")
    assert "csr8" not in runtime.choose_layout(a, repeats=1, backend=backend).seconds
    b = np.tile(np.arange(256, dtype=np.float32), 8).reshape(16, 128)  # 255 distinct non-zero values: fits
    op = runtime.prepare(b, "csr8")
    assert op.codes.dtype == np.uint8 and op.nbytes < runtime.prepare(b, "csr").nbytes
    check_product(b, np.ones((128, 2), np.float32), backend, layouts=["csr8"])


def test_info():
    assert runtime.info("reference") == {"backend": "reference", "parallel": False, "threads": 1}
    info = runtime.info()
    assert info["backend"] == nncodec.backend and info["threads"] >= 1


# -- the engine ---------------------------------------------------------------------------------------------------

def dense_forward(arch, weights, x):
    """Independent dense NumPy forward pass (direct convolution sums, no im2col) for the tests."""
    h = x.astype(np.float64)
    for layer in arch["layers"]:
        kind = layer["type"]
        w = weights.get(layer.get("weight"))
        b = weights[layer["bias"]] if layer.get("bias") else None
        if kind == "linear":
            h = h @ w.T.astype(np.float64) + (b if b is not None else 0)
        elif kind == "conv2d":
            s, p = layer.get("stride", 1), layer.get("padding", 0)
            h = np.pad(h, ((0, 0), (0, 0), (p, p), (p, p)))
            o, _, kh, kw = w.shape
            ho, wo = (h.shape[2] - kh) // s + 1, (h.shape[3] - kw) // s + 1
            out = np.zeros((h.shape[0], o, ho, wo))
            for i in range(kh):
                for j in range(kw):
                    patch = h[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
                    out += np.einsum("bchw,oc->bohw", patch, w[:, :, i, j])
            h = out + (b[None, :, None, None] if b is not None else 0)
        elif kind == "relu":
            h = np.maximum(h, 0)
        elif kind in ("maxpool2d", "avgpool2d"):
            k, s = layer["kernel"], layer.get("stride", layer["kernel"])
            ho, wo = (h.shape[2] - k) // s + 1, (h.shape[3] - k) // s + 1
            windows = np.stack([h[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
                                for i in range(k) for j in range(k)])
            h = windows.max(axis=0) if kind == "maxpool2d" else windows.mean(axis=0)
        elif kind == "flatten":
            h = h.reshape(h.shape[0], -1)
        elif kind == "softmax":
            e = np.exp(h - h.max(axis=1, keepdims=True))
            h = e / e.sum(axis=1, keepdims=True)
    return h


def _pruned(rng, shape, keep=0.3, values=(-0.5, -0.25, 0.25, 0.5)):
    w = rng.choice(np.float32(values), size=shape)
    w[rng.random(shape) > keep] = 0
    return w


MLP = {"format": "nncodec.sequential/1", "input_shape": [20],
       "layers": [{"type": "linear", "weight": "fc1.weight", "bias": "fc1.bias"}, {"type": "relu"},
                  {"type": "linear", "weight": "fc2.weight"}, {"type": "softmax"}]}
CNN = {"format": "nncodec.sequential/1", "input_shape": [2, 12, 12],
       "layers": [{"type": "conv2d", "weight": "c1.weight", "bias": "c1.bias", "padding": 1},
                  {"type": "relu"}, {"type": "maxpool2d", "kernel": 2},
                  {"type": "conv2d", "weight": "c2.weight", "stride": 2},
                  {"type": "relu"}, {"type": "avgpool2d", "kernel": 2, "stride": 1},
                  {"type": "flatten"}, {"type": "linear", "weight": "fc.weight", "bias": "fc.bias"},
                  {"type": "softmax"}]}


def _mlp_weights(rng):
    return {"fc1.weight": _pruned(rng, (30, 20)), "fc1.bias": rng.standard_normal(30).astype(np.float32),
            "fc2.weight": _pruned(rng, (5, 30))}


def _cnn_weights(rng):
    # 12x12 -conv3 pad1-> 12x12 -pool2-> 6x6 -conv3 stride2-> 2x2 -avgpool2 stride1-> 1x1: 4 features
    return {"c1.weight": _pruned(rng, (3, 2, 3, 3), keep=0.6), "c1.bias": np.float32([0.1, -0.2, 0.3]),
            "c2.weight": _pruned(rng, (4, 3, 3, 3), keep=0.6), "fc.weight": _pruned(rng, (6, 4), keep=0.8),
            "fc.bias": np.zeros(6, np.float32)}


@pytest.mark.parametrize("arch, make", [(MLP, _mlp_weights), (CNN, _cnn_weights)], ids=["mlp", "cnn"])
@pytest.mark.parametrize("layout", ["auto"] + list(runtime.LAYOUTS))
def test_engine_matches_dense_forward(backend, arch, make, layout):
    rng = np.random.default_rng(5)
    weights = make(rng)
    x = rng.standard_normal((9,) + tuple(arch["input_shape"])).astype(np.float32)
    model = runtime.Model.from_arrays(arch, weights, layout=layout, batch=9, backend=backend)
    y = model(x)
    assert y.dtype == np.float32 and y.shape == (9,) + model.output_shape
    assert np.allclose(y, dense_forward(arch, weights, x), rtol=1e-4, atol=1e-5)
    assert np.allclose(model(x[:1]), y[:1], rtol=1e-4, atol=1e-6)  # batch 1 gives the same answer
    assert all(layout in ("auto", got) for _, got, _ in model.layouts())


def test_load_from_container(backend, tmp_path):
    rng = np.random.default_rng(6)
    weights = _cnn_weights(rng)
    path = tmp_path / "cnn.nnc"
    nncodec.save(path, weights, metadata=runtime.architecture_metadata(CNN), prune="magnitude:0.5",
                 quantize="kmeans:k=8", lossless=["*.bias"])
    decoded = nncodec.load(path)
    x = rng.standard_normal((3, 2, 12, 12)).astype(np.float32)
    expected = dense_forward(CNN, decoded, x)
    for source in (path, str(path), path.read_bytes()):
        model = runtime.load(source, layout="cer", backend=backend)
        assert np.allclose(model(x), expected, rtol=1e-4, atol=1e-5)
        assert [name for name, _, _ in model.layouts()] == ["c1.weight", "c2.weight", "fc.weight"]
    with pytest.raises(ValueError, match="expected a batch"):
        model(x[:, :1])


def test_load_needs_architecture():
    with pytest.raises(FormatError, match="nncodec.architecture"):
        runtime.load(nncodec.encode({"w": np.ones((2, 2), np.float32)}))


def _with(arch, **changes):
    arch = json.loads(json.dumps(arch))
    for path, value in changes.items():
        target, *keys = path.split("__")
        obj = arch if target == "top" else arch["layers"][int(target[1:])]
        if value is KeyError:
            del obj[keys[0]]
        else:
            obj[keys[0]] = value
    return json.dumps(arch)


BAD_ARCHITECTURES = [
    ("{", FormatError), (b"\xff\xfe", FormatError), ("[]", FormatError), ("null", FormatError),
    ('{"format": "nncodec.sequential/1", "format": "x", "input_shape": [1], "layers": []}', FormatError),
    (_with(MLP, top__format="nncodec.sequential/2"), UnsupportedFeatureError),
    (_with(MLP, top__extra=1), FormatError),
    (_with(MLP, top__layers=[]), FormatError),
    (_with(MLP, top__input_shape=[]), FormatError),
    (_with(MLP, top__input_shape=[0]), FormatError),
    (_with(MLP, top__input_shape=[True]), FormatError),
    (_with(MLP, top__input_shape=[1, 2, 3, 4]), FormatError),
    (_with(MLP, top__input_shape=[4096, 4096, 8]), LimitExceededError),
    (_with(MLP, top__input_shape="20"), FormatError),
    (_with(MLP, l1__type="gelu"), UnsupportedFeatureError),
    (_with(MLP, l1__type=["relu"]), UnsupportedFeatureError),
    (_with(MLP, l1__kernel=2), FormatError),
    (_with(MLP, l0__weight=KeyError), FormatError),
    (_with(MLP, l0__weight=7), FormatError),
    (_with(MLP, l0__weight=None), FormatError),
    (_with(MLP, l0__bias=None), None),  # valid: null is the default of an optional name
    (_with(MLP, l0__weight="missing"), InconsistentError),
    (_with(MLP, top__input_shape=[21]), InconsistentError),
    (_with(MLP, l0__bias="fc1.weight"), InconsistentError),
    (_with(MLP, l3__type="flatten"), None),  # valid: checks the helper builds valid variants
    (_with(CNN, l0__padding=-1), FormatError),
    (_with(CNN, l0__stride=0), FormatError),
    (_with(CNN, l0__stride=2.0), FormatError),
    (_with(CNN, l0__stride=None), FormatError),
    (_with(CNN, l2__kernel=None), FormatError),
    (_with(CNN, l2__stride=None), None),  # valid: a pooling stride of null is the kernel
    (_with(CNN, l0__padding=900000), LimitExceededError),
    (_with(CNN, l2__kernel=20), InconsistentError),
    (_with(CNN, l6__type="relu"), InconsistentError),
    (_with(CNN, l7__weight="c2.weight"), InconsistentError),
    ('{"format": "nncodec.sequential/1", "input_shape": [NaN], "layers": [{"type": "relu"}]}', FormatError),
    ("[" * 100000 + "]" * 100000, FormatError),
    ('{"format": "nncodec.sequential/1", "input_shape": [1], "layers": [{"type": "relu"}], "pad": "'
     + "x" * (1 << 20) + '"}', LimitExceededError),
]


@pytest.mark.parametrize("text, error", BAD_ARCHITECTURES, ids=[f"case{i}" for i in range(len(BAD_ARCHITECTURES))])
def test_bad_architectures(text, error):
    """Hostile descriptions raise the named DecodeError subclass, at parse or when weights are bound."""
    rng = np.random.default_rng(7)
    weights = {**_mlp_weights(rng), **_cnn_weights(rng)}
    if error is None:
        runtime.Model.from_arrays(text, weights, layout="csr")
        return
    with pytest.raises(error) as info:
        runtime.Model.from_arrays(text, weights, layout="csr")
    assert isinstance(info.value, DecodeError)


def test_bad_architecture_in_container():
    blob = nncodec.encode({"w": np.ones((2, 2), np.float32)}, metadata={runtime.METADATA_KEY: "{not json"})
    with pytest.raises(FormatError, match="not valid JSON"):
        runtime.load(blob)


@st.composite
def sequential_models(draw):
    """A valid description and its weights: a (C, H, W) input through a conv2d, then conv2d, relu and pooling layers
    (any kernel, stride and padding that fit) and flatten, or a flat input; then linear layers (biases optional, a relu between)
    and maybe a softmax. Weights are pruned, so the sparse layouts see empty rows and repeated values."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    weights, layers = {}, []

    def named(name, shape, bias):
        weights[name + ".weight"] = _pruned(rng, shape, keep=0.5)
        layer = {"weight": name + ".weight"}
        if bias:
            weights[name + ".bias"] = rng.standard_normal(shape[0]).astype(np.float32)
            layer["bias"] = name + ".bias"
        return layer

    if draw(st.booleans()):
        shape = input_shape = (draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
        for i in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["conv2d", "relu", "maxpool2d", "avgpool2d"])) if i else "conv2d"
            c, h, w = shape
            padding = draw(st.integers(0, 2)) if kind == "conv2d" else 0
            kh, kw = draw(st.integers(1, h + 2 * padding)), draw(st.integers(1, w + 2 * padding))
            stride = draw(st.integers(1, 3))
            out_h, out_w = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
            if kind == "conv2d":
                out = draw(st.integers(1, 4))
                layers.append({"type": "conv2d", "stride": stride, "padding": padding,
                               **named(f"conv{i}", (out, c, kh, kw), draw(st.booleans()))})
                shape = (out, out_h, out_w)
            elif kind == "relu":
                layers.append({"type": "relu"})
            elif kh == kw:  # pools take square windows
                layers.append({"type": kind, "kernel": kh, "stride": stride})
                shape = (c, out_h, out_w)
        layers.append({"type": "flatten"})
        features = int(np.prod(shape))
    else:
        features = draw(st.integers(1, 12))
        input_shape = (features,)
    for i in range(draw(st.integers(1, 3))):
        if i:
            layers.append({"type": "relu"})
        out = draw(st.integers(1, 8))
        layers.append({"type": "linear", **named(f"fc{i}", (out, features), draw(st.booleans()))})
        features = out
    if draw(st.booleans()):
        layers.append({"type": "softmax"})
    return {"format": "nncodec.sequential/1", "input_shape": list(input_shape), "layers": layers}, weights


_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=False, width=32),
                          st.sampled_from(["fc0.weight", "fc0.bias", "conv0.weight", "relu", ""]),
                          st.sampled_from(list(runtime.architecture.LAYER_TYPES)))
_FIELDS = st.sampled_from(["type", "weight", "bias", "stride", "padding", "kernel", "extra"])


@settings(suppress_health_check=FIXTURES_OK, deadline=None)
@given(model=sequential_models(), layout=st.sampled_from(runtime.LAYOUTS),
       edit=st.none() | st.tuples(st.integers(0, 20), _FIELDS, _JSON_SCALARS))
def test_random_models_match_dense_forward(backend, model, layout, edit):
    """A generated model builds and computes the dense forward pass. With one field of one layer set to any JSON
    value, the description either still builds and computes its own dense forward pass, or raises a DecodeError
    subclass: nothing else escapes."""
    arch, weights = model
    if edit is not None:
        at, field, value = edit
        arch["layers"][at % len(arch["layers"])][field] = value
    try:
        built = runtime.Model.from_arrays(arch, weights, layout=layout, backend=backend)
    except DecodeError:
        assert edit is not None, "a valid description was refused"
        return
    x = np.random.default_rng(0).standard_normal((2,) + tuple(arch["input_shape"])).astype(np.float32)
    y = built(x)
    assert y.shape == (2,) + built.output_shape
    assert np.allclose(y, dense_forward(arch, weights, x), rtol=1e-4, atol=1e-5)
