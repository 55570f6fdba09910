#!/usr/bin/env python3
"""Fuzz target: the runtime architecture JSON (spec/runtime-architecture.md, nncodec/runtime/architecture.py).

    python fuzz/fuzz_architecture.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/arch fuzz/corpus/architecture

Input: the JSON text. A bug is any exception other than a DecodeError (or a warning) from ``parse_architecture``;
an accepted description whose canonical JSON (``architecture_json``) does not parse back to the same description;
or a non-DecodeError from ``output_shapes`` with weight shapes that fit each layer's input (derived layer by
layer, so that the shape arithmetic of every layer type runs, not only the first mismatch).
"""

from _harness import _guard, fuzz, import_instrumented

from nncodec.errors import DecodeError

_architecture = import_instrumented("nncodec.runtime.architecture")  # coverage-guided
Architecture, output_shapes = _architecture.Architecture, _architecture.output_shapes
architecture_json, parse_architecture = _architecture.architecture_json, _architecture.parse_architecture


def _fitting_shapes(architecture):
    """name -> shape for every weight and bias, chosen to fit the input each layer receives (a name used twice
    keeps its first shape). Stops at the first layer whose input is not valid."""
    shapes = {}
    for i, layer in enumerate(architecture.layers):
        try:
            before = output_shapes(Architecture(architecture.input_shape, architecture.layers[:i]), shapes)
        except DecodeError:
            break
        current = before[-1] if before else architecture.input_shape
        out = 1 + len(layer.get("weight") or "") % 5
        if layer["type"] == "linear" and len(current) == 1:
            shapes.setdefault(layer["weight"], (out, current[0]))
        elif layer["type"] == "conv2d" and len(current) == 3:
            kernel = 1 + len(layer["weight"]) % 3
            shapes.setdefault(layer["weight"], (out, current[0], kernel, kernel))
        if layer.get("bias") is not None and layer.get("weight") in shapes:
            shapes.setdefault(layer["bias"], (shapes[layer["weight"]][0],))
    return shapes


def _check(data):
    architecture = parse_architecture(data)
    again = parse_architecture(architecture_json(architecture))
    if again != architecture:
        raise AssertionError(f"canonical JSON does not round-trip: {architecture} -> {again}")
    return output_shapes(architecture, _fitting_shapes(architecture))


def TestOneInput(data):
    _guard("runtime", "parse_architecture", lambda: _check(bytes(data)))


def seeds():
    """A LeNet-like stack (every layer type), a linear model with biases, and a minimal one."""
    lenet = ('{"format":"nncodec.sequential/1","input_shape":[1,12,12],"layers":['
             '{"type":"conv2d","weight":"c1.w","bias":"c1.b","stride":1,"padding":1},{"type":"relu"},'
             '{"type":"maxpool2d","kernel":2},{"type":"avgpool2d","kernel":2,"stride":1},{"type":"flatten"},'
             '{"type":"linear","weight":"fc.w","bias":"fc.b"},{"type":"softmax"}]}')
    mlp = ('{"format":"nncodec.sequential/1","input_shape":[8],"layers":[{"type":"linear","weight":"a","bias":"ab"},'
           '{"type":"relu"},{"type":"linear","weight":"b"}]}')
    tiny = '{"format":"nncodec.sequential/1","input_shape":[1],"layers":[{"type":"softmax"}]}'
    return [text.encode() for text in (lenet, mlp, tiny)]


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
