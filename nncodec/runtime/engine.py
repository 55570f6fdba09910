"""A small inference engine for sequential models whose architecture is stored in the container's metadata.

``load(path_or_bytes)`` reads the description (spec/runtime-architecture.md) and the weights, prepares each
linear/conv weight as an operator in the chosen layout, and returns a :class:`Model`; ``model(batch)`` runs a
float32 batch of shape (B, *input_shape). Convolutions are im2col followed by one sparse (or dense) product.
"""


import numpy as np

from ..format.dtypes import is_number_dtype
from ..errors import FormatError, InconsistentError
from .architecture import METADATA_KEY, Architecture, architecture_json, output_shapes, parse_architecture
from .choose import choose_layout
from ..sparse.convert import LAYOUTS, prepare
from ..sparse.matrices import LowRankMatrix, SparsePlusLowRank

__all__ = ["Model", "load", "architecture_metadata"]


def architecture_metadata(architecture):
    """``{"nncodec.architecture": json}`` for ``nncodec.encode(..., metadata=...)``, validated first."""
    return {METADATA_KEY: architecture_json(architecture)}


def im2col(h, kh, kw, stride, padding):
    """(C*kh*kw, B*Ho*Wo) float32 matrix of the windows of h (B, C, H, W); rows ordered (c, i, j) as PyTorch's
    (out, in, kh, kw) weights flatten."""
    if padding:
        h = np.pad(h, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(h, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    b, c, ho, wo = windows.shape[:4]
    return np.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, b * ho * wo))


def _pool(h, kernel, stride, reduce):
    """Pool (B, C, H, W) over kernel x kernel windows every ``stride`` (no padding; a partial window is dropped)."""
    if stride == kernel:  # non-overlapping windows: one reshape, no window view
        b, c, hh, ww = h.shape
        ho, wo = hh // kernel, ww // kernel
        blocks = h[:, :, :ho * kernel, :wo * kernel].reshape(b, c, ho, kernel, wo, kernel)
        return reduce(blocks, axis=(3, 5)).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(h, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    return reduce(windows, axis=(4, 5)).astype(np.float32)


class _Layer:
    """One step of the model: ``forward(h)`` maps a float32 batch to the next."""

    operator = None

    def __init__(self, spec, bias):
        self.spec = spec
        self.bias = bias


class _Linear(_Layer):
    def forward(self, h):
        y = self.operator.matmul(np.ascontiguousarray(h.T), **self.run_options).T
        return y + self.bias if self.bias is not None else y


class _Conv2d(_Layer):
    def forward(self, h):
        _, kh, kw = self.kernel_shape
        cols = im2col(h, kh, kw, self.spec["stride"], self.spec["padding"])
        y = self.operator.matmul(cols, **self.run_options)
        ho = (h.shape[2] + 2 * self.spec["padding"] - kh) // self.spec["stride"] + 1
        y = y.reshape(y.shape[0], h.shape[0], ho, -1).transpose(1, 0, 2, 3)
        return np.ascontiguousarray(y + self.bias[None, :, None, None] if self.bias is not None else y)


class _ReLU(_Layer):
    def forward(self, h):
        return np.maximum(h, np.float32(0))


class _MaxPool2d(_Layer):
    def forward(self, h):
        return _pool(h, self.spec["kernel"], self.spec["stride"], np.max)


class _AvgPool2d(_Layer):
    def forward(self, h):
        return _pool(h, self.spec["kernel"], self.spec["stride"], np.mean)


class _Flatten(_Layer):
    def forward(self, h):
        return h.reshape(h.shape[0], -1)


class _Softmax(_Layer):
    def forward(self, h):
        e = np.exp(h - h.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


_LAYERS = {"linear": _Linear, "conv2d": _Conv2d, "relu": _ReLU, "maxpool2d": _MaxPool2d,
           "avgpool2d": _AvgPool2d, "flatten": _Flatten, "softmax": _Softmax}


def _tensor_shape(weight):
    return tuple(getattr(weight, "tensor_shape", None) or np.shape(weight))


class Model:
    """A sequential model ready to run: ``model(batch)`` -> float32 (B, *output_shape).

    ``layouts()`` lists, per weight, the layout used and the operator's bytes.
    """

    def __init__(self, architecture, layers, output_shape):
        self.architecture = architecture
        self.input_shape = architecture.input_shape
        self.output_shape = output_shape
        self._layers = layers

    @classmethod
    def from_arrays(cls, architecture, weights, *, layout="auto", batch=1, backend=None, threads=None):
        """Build from a description (dict, JSON text) and ``{name: array or sparse structure}``.

        ``layout`` is "auto" (the measured pick of :func:`choose_layout` at ``batch``; its trial builds every
        candidate, densifying a sparse structure once; factored weights stay factored, see ``_auto_operator``),
        "stored" (each weight computed on as given: a sparse or factored structure is used directly, never
        densified; an array stays dense) or one of ``LAYOUTS`` (factored weights are then densified);
        ``backend``/``threads`` apply to every product.
        """
        if layout not in ("auto", "stored") and layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}: use auto, stored or one of {', '.join(LAYOUTS)}")
        arch = architecture if isinstance(architecture, Architecture) else parse_architecture(architecture)
        shapes = output_shapes(arch, {name: _tensor_shape(weights[name]) for name in arch.weight_names()
                                      if name in weights})
        layers = []
        prepared = {}  # a weight or bias several layers name is prepared once and shared

        def once(key, make):
            if key not in prepared:
                prepared[key] = make()
            return prepared[key]

        for spec in arch.layers:
            bias = None
            if spec.get("bias") is not None:
                bias = once(("bias", spec["bias"]), lambda: _dense_float32(weights[spec["bias"]], spec["bias"]))
            layer = _LAYERS[spec["type"]](spec, bias)
            if "weight" in spec:
                weight = weights[spec["weight"]]
                layer.kernel_shape = _tensor_shape(weight)[1:]
                if layout == "auto":
                    columns = _columns(spec, batch, shapes[len(layers)])
                    layer.operator = once((spec["weight"], columns),
                                          lambda: _auto_operator(weight, columns, backend, threads))
                else:
                    layer.operator = once(spec["weight"],
                                          lambda: prepare(weight, None if layout == "stored" else layout))
                layer.run_options = {"backend": backend, "threads": threads}
            layers.append(layer)
        return cls(arch, layers, shapes[-1])

    def __call__(self, batch):
        h = np.asarray(batch)
        if h.ndim != 1 + len(self.input_shape) or h.shape[1:] != self.input_shape:
            raise ValueError(f"expected a batch of shape (B, {', '.join(map(str, self.input_shape))}), "
                             f"got {h.shape}")
        h = np.ascontiguousarray(h, dtype=np.float32)
        for layer in self._layers:
            h = layer.forward(h)
        return h

    def layouts(self):
        """[(weight name, layout, operator bytes)] in layer order."""
        return [(layer.spec["weight"], layer.operator.layout, layer.operator.nbytes)
                for layer in self._layers if layer.operator is not None]


def _auto_operator(weight, columns, backend, threads):
    """``layout="auto"``: a factored weight stays factored (the sparse part of sparse + low-rank gets the measured
    pick of :func:`choose_layout`); any other weight gets the measured pick."""
    if isinstance(weight, LowRankMatrix):
        return prepare(weight)
    if isinstance(weight, SparsePlusLowRank):
        sparse = choose_layout(weight.S, columns, backend=backend, threads=threads).operator
        op = SparsePlusLowRank(sparse, weight.lowrank, tensor_shape=weight.tensor_shape)
        op.threads = sparse.threads
        return op
    return choose_layout(weight, columns, backend=backend, threads=threads).operator


def _columns(spec, batch, out_shape):
    """Columns of the product a layer runs for ``batch`` samples (a conv multiplies every output position)."""
    return batch * out_shape[1] * out_shape[2] if spec["type"] == "conv2d" else batch


def _dense_float32(value, name):
    if hasattr(value, "todense"):
        value = value.todense()
    value = np.asarray(value)
    if not is_number_dtype(value.dtype):
        raise InconsistentError(f"tensor {name!r} has dtype {value.dtype}, not a number type")
    return np.array(value, dtype=np.float32)


def _weights(reader, names):
    """The tensors ``names`` as decoded structures (dense ones as float32 copies), in one decoding call."""
    missing = [name for name in names if name not in reader]
    if missing:
        raise InconsistentError(f"tensor {missing[0]!r} named by the architecture is not in the container")
    values = reader.decode_tensors(names, materialize=False)
    # dense ones are copied: the model must not keep the file's memory map alive
    return {name: _dense_float32(value, name) if isinstance(value, np.ndarray) else value
            for name, value in values.items()}


def load(source, *, layout="stored", batch=1, backend=None, threads=None, limits=None):
    """The :class:`Model` stored in a container (path, bytes-like or file object; see ``nncodec.open``).

    Weights are read in one decoding call (its limits bound the whole load; a weight several layers name is decoded
    once) with ``materialize=False``: stored sparse layouts arrive as structures; each is prepared in ``layout`` (see
    :meth:`Model.from_arrays`). The default, "stored", computes on the stored layouts as decoded: a container
    written with ``layout="cer"`` runs on CER without ever holding a dense copy of its weights.
    """
    from .. import api
    with api.open(source, limits=limits, backend=backend) as reader:
        text = reader.metadata.get(METADATA_KEY)
        if text is None:
            raise FormatError(f"the container has no {METADATA_KEY!r} metadata")
        arch = parse_architecture(text)
        weights = _weights(reader, arch.weight_names())
    return Model.from_arrays(arch, weights, layout=layout, batch=batch, backend=backend, threads=threads)
