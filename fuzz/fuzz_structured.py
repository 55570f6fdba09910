#!/usr/bin/env python3
"""Fuzz target: structure-aware mutation. Valid containers from ``tests/strategies.record_containers`` get one to
three field edits (lengths, counts, Align_Log2, enum values, shapes, stage ids and params, names, the first bytes
of a stream where the Huffman code-length table and the CABAC header live), then are re-sealed (every CRC
recomputed) and go through the differential decode check (``_harness.run_decode``). The fuzzer's bytes choose
hypothesis' draws, so the mutations land behind the magic and checksum checks, in the parser and stage decoders.

    python fuzz/fuzz_structured.py -max_total_time=300 -artifact_prefix=fuzz/crashes/ /tmp/nnc-structured
"""

import sys
from dataclasses import replace

from hypothesis import HealthCheck, given, settings, strategies as st

from _harness import atheris, run_decode

import strategies
from crafting import header, reseal, with_header
from nncodec.format.header import HEADER_SIZE
from nncodec.format.limits import DecodeLimits
from nncodec.format.records import Alias, Chain, Composite, Directory, TensorRecord, serialize_directory
from nncodec.kernels.reference.directory import parse_directory

U64 = (1 << 64) - 1
# values that sit on the bounds the decoder checks: spec 3.5's structural caps, dtype codes, limits, word sizes
EDGES = (0, 1, 2, 3, 7, 8, 9, 12, 13, 14, 16, 17, 19, 20, 32, 33, 63, 64, 65, 127, 128, 255, 4096, 4097, 65536,
         65537, 1 << 20, (1 << 20) + 1, 1 << 31, (1 << 32) - 1, 1 << 32, 1 << 56, 1 << 62, 1 << 63, U64)


def _value(draw, current, maximum):
    """A replacement for an integer field: an edge value, a neighbour of the current one, or anything."""
    value = draw(st.one_of(st.sampled_from(EDGES), st.sampled_from((current - 1, current + 1, 2 * current)),
                           st.integers(0, maximum)))
    return min(max(value, 0), maximum)


def _visit(node, visit):
    """``node`` rebuilt with ``visit(kind, obj)`` applied to every node, stream and stage, depth first."""
    node = visit("node", node)
    if isinstance(node.body, Chain):
        body = Chain(tuple(visit("stream", s) for s in node.body.streams),
                     tuple(visit("stage", s) for s in node.body.stages))
    elif isinstance(node.body, Alias):
        body = visit("alias", node.body)
    else:
        body = Composite(node.body.combine, tuple(_visit(c, visit) for c in node.body.children))
    return replace(node, body=body)


def _edit_params(draw, params):
    params = bytearray(params)
    how = draw(st.sampled_from(("set", "truncate", "extend")))
    if how == "set" and params:
        params[draw(st.integers(0, len(params) - 1))] = draw(st.sampled_from(EDGES[:22]) | st.integers(0, 255))
    elif how == "truncate":
        del params[draw(st.integers(0, len(params))):]
    else:
        params += draw(st.binary(min_size=1, max_size=8))
    return bytes(params)


def _edit(draw, kind, obj):
    """One field of ``obj`` (a node, stream or stage) replaced."""
    if kind == "stream":
        name = draw(st.sampled_from(("coding", "elem_type", "align_log2", "count", "length")))
        return replace(obj, **{name: _value(draw, getattr(obj, name), 255 if name in ("coding", "elem_type",
                                                                                        "align_log2") else U64)})
    if kind == "alias":  # §3.5.4: an index that may point at itself, later records, other aliases or nowhere
        return Alias(_value(draw, obj.target, U64))
    if kind == "stage":
        if draw(st.booleans()):
            return replace(obj, stage_id=_value(draw, obj.stage_id, 255))
        return replace(obj, params=_edit_params(draw, obj.params))
    what = draw(st.sampled_from(("dtype", "shape", "combine") if isinstance(obj.body, Composite) else
                                ("dtype", "shape")))
    if what == "dtype":
        return replace(obj, dtype=_value(draw, obj.dtype, 255))
    if what == "combine":
        return replace(obj, body=Composite(_value(draw, obj.body.combine, 255), obj.body.children))
    shape = list(obj.shape)
    if shape and draw(st.booleans()):
        i = draw(st.integers(0, len(shape) - 1))
        shape[i] = _value(draw, shape[i], U64)
    elif shape and draw(st.booleans()):
        del shape[draw(st.integers(0, len(shape) - 1))]
    else:
        shape.insert(draw(st.integers(0, len(shape))), _value(draw, 1, U64))
    return replace(obj, shape=tuple(shape))


def mutate(blob, draw):
    """``blob`` (a valid container) with 1 to 3 structural edits, re-serialized and re-sealed."""
    dir_len = header(blob)["directory_length"]
    directory, _ = parse_directory(blob[HEADER_SIZE:HEADER_SIZE + dir_len], HEADER_SIZE + dir_len, len(blob),
                                   DecodeLimits())
    payload = bytearray(blob[HEADER_SIZE + dir_len:])
    metadata, tensors = list(directory.metadata), list(directory.tensors)
    for _ in range(draw(st.integers(1, 3))):
        sites = []
        for t in tensors:
            _visit(t.node, lambda kind, obj: sites.append(kind) or obj)
        streams = [obj for t in tensors for obj in _collect(t.node)]
        choice = draw(st.sampled_from(("site", "stream-bytes", "name", "metadata", "lengths")))
        if choice == "site" and sites:
            target, seen = draw(st.integers(0, len(sites) - 1)), []

            def visit(kind, obj):
                seen.append(kind)
                return _edit(draw, kind, obj) if len(seen) - 1 == target else obj
            tensors = [TensorRecord(t.name, _visit(t.node, visit)) for t in tensors]
        elif choice == "stream-bytes" and streams:  # code-length tables, cabac headers, zstd frame headers
            s = draw(st.sampled_from(streams))
            at = s.offset - HEADER_SIZE - dir_len + draw(st.integers(0, 23))
            if at < len(payload):
                payload[at] = draw(st.sampled_from((0, 1, 0x7F, 0x80, 0xFF)) | st.integers(0, 255))
        elif choice == "name" and len(tensors) > 1:  # a duplicate name [R3.3-c]
            tensors[1] = TensorRecord(tensors[0].name, tensors[1].node)
        elif choice == "metadata" and metadata:  # a duplicate key [R3.3-a]
            metadata.append(metadata[0])
    out = serialize_directory(Directory(tuple(metadata), tuple(tensors)))
    blob = with_header(blob[:HEADER_SIZE] + out + bytes(payload), directory_length=len(out),
                       payload_length=len(payload))
    blob = reseal(blob)
    if draw(st.integers(0, 9)) == 0:  # now and then a lying header length on top
        field = draw(st.sampled_from(("directory_length", "payload_length")))
        blob = with_header(blob, **{field: _value(draw, header(blob)[field], U64)})
    return blob


def _collect(node):
    if isinstance(node.body, Chain):
        return list(node.body.streams)
    if isinstance(node.body, Alias):
        return []
    return [s for c in node.body.children for s in _collect(c)]


@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(blob=strategies.record_containers(max_tensors=3), data=st.data())
def test_structured(blob, data):
    run_decode(mutate(blob, data.draw))


def TestOneInput(data):
    """One fuzzer input as hypothesis' draws (what tests/test_fuzz_regressions.py replays)."""
    test_structured.hypothesis.fuzz_one_input(data)


def main():
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (see fuzz/README.md)")
    atheris.Setup(sys.argv, atheris.instrument_func(TestOneInput))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
