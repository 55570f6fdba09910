#!/usr/bin/env python3
"""Fuzz target: the safetensors header reader (nncodec/io/safetensors.py), which parses untrusted files for
``nncodec encode``.

    python fuzz/fuzz_safetensors.py -max_total_time=60 -artifact_prefix=fuzz/crashes/ /tmp/st fuzz/corpus/safetensors

Input: a whole .safetensors file. A bug is any exception other than a DecodeError (or a warning) from
``parse_safetensors``, or an accepted header whose entries do not give in-bounds arrays of their shape, as
``read_safetensors`` builds them.
"""

import json

import numpy as np

from _harness import _guard, fuzz, import_instrumented

parse_safetensors = import_instrumented("nncodec.io.safetensors").parse_safetensors  # coverage-guided


def _arrays(data):
    view = memoryview(data)
    metadata, entries, start = parse_safetensors(view)
    if not start + sum(end - begin for _, _, _, begin, end in entries) <= len(data):
        raise AssertionError(f"accepted entries reach past the {len(data)}-byte input")
    shapes = []
    for _, dtype, shape, begin, end in entries:
        array = np.frombuffer(view[start + begin:start + end], dtype=dtype).reshape(shape)
        shapes.append(array.shape)
    return metadata, shapes


def TestOneInput(data):
    _guard("io", "parse_safetensors", lambda: _arrays(bytes(data)))


def _file(header, data=b""):
    text = json.dumps(header, separators=(",", ":")).encode()
    return len(text).to_bytes(8, "little") + text + data


def seeds():
    """Valid files (two tensors and metadata, BF16, a 0-d and an empty tensor) and a file with no tensors."""
    f32 = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    i8 = {"dtype": "I8", "shape": [3], "data_offsets": [16, 19]}
    return [_file({"__metadata__": {"format": "pt"}, "w": f32, "b": i8}, bytes(19)),
            _file({"x": {"dtype": "BF16", "shape": [], "data_offsets": [0, 2]},
                   "e": {"dtype": "U64", "shape": [0, 5], "data_offsets": [2, 2]}}, b"\x80\x3f"),
            _file({})]


if __name__ == "__main__":
    fuzz(TestOneInput, seeds)
