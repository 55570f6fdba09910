"""The spec's construct declaration (spec/format.py) and nncodec.decoder.container agree (construct's ``common()`` idea,
applied to spec versus code): on accept/reject and the rule broken, on every parsed field, and
``build(parse(b)) == b`` for every valid container."""


import pytest
from construct import ConstructError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncodec
from nncodec.decoder.container import Container
from nncodec.errors import DecodeError
from nncodec.format.records import Alias, Chain, Composite, Directory, Node, Stage, Stream, TensorRecord, iter_streams
from nncodec.format.records import serialize_directory
from spec import format as spec_format
from spec.vectors import load_manifest, vector_bytes

from checkers import rule_of
import crafting
import strategies

ENTRIES = load_manifest()["vector"]

# Invalid vectors whose broken rule construct cannot see although it declares the rule for other streams.
CONSTRUCT_BLIND = {
    "invalid/139-bool-byte-zstd.nnc": "R3.7-a inside a zstd frame: construct does not decompress",
    "invalid/186-huffman-varint.nnc": "R2-a inside a huffman stream: construct does not decode entropy streams",
    "invalid/317-cabac-varint.nnc": "R2-a inside a cabac stream: construct does not decode entropy streams",
}
# Rules construct declares only in part (see spec/format.py), so a mutation may break them unseen.
PARTLY_DECLARED = {"R3.7-a"}


def construct_verdict(blob):
    """``(parsed or None, rule or None)`` from the construct declaration; any other exception is a bug in it."""
    try:
        return spec_format.parse_container(blob), None
    except ConstructError as exc:
        rule = spec_format.violated_rule(exc)
        assert rule is not None, f"construct raised {type(exc).__name__} that names no rule: {exc}"
        return None, rule


def nncodec_verdict(blob, backend):
    """``(container or None, rule or None)``: the container is built and every tensor decoded (verify_all)."""
    try:
        container = Container(blob, backend=backend)
        container.verify_all()
    except DecodeError as exc:
        return None, rule_of(exc)
    return container, None


def as_directory(parsed):
    """The construct parse as an ``nncodec.format.records.Directory`` (offsets left unset)."""
    def node(n):
        if n.node_type == spec_format.ALIAS:
            body = Alias(n.body.target)
        elif n.node_type == spec_format.CHAIN:
            streams = tuple(Stream(s.coding, s.elem_type, s.align_log2, s.element_count, s.stored_length,
                                   s.stream_crc32) for s in n.body.stream_descriptor)
            body = Chain(streams, tuple(Stage(s.stage_id, bytes(s.params)) for s in n.body.stage))
        else:
            body = Composite(n.body.combine, tuple(node(c) for c in n.body.child))
        return Node(n.dtype, tuple(n.shape), body)

    directory = parsed.directory
    return Directory(tuple((e.key, e.value) for e in directory.metadata_entry),
                     tuple(TensorRecord(t.name, node(t.node)) for t in directory.tensor_record))


def check_fields_agree(parsed, container):
    """Every field construct parsed equals nncodec's: directory, header lengths, stream layout and bytes."""
    header = parsed.header
    assert as_directory(parsed) == container.directory
    assert container.metadata == {e.key: e.value for e in parsed.directory.metadata_entry}
    assert header.directory_length == len(serialize_directory(container.directory))
    assert (header.format_major, header.header_flags) == (1, 0)
    layout, _ = spec_format.stream_layout(parsed.directory, header.directory_length)
    ours = [s for record in container.directory.tensors for s in iter_streams(record.node)]
    assert [(offset, padding) for offset, padding, _ in layout] == [(s.offset, s.padding) for s in ours]
    assert [bytes(s.stored_bytes) for s in parsed.payload.stream] == [bytes(container.stream_bytes(s)) for s in ours]


def check_agreement(blob, backend, blind=False):
    """The exact oracle for a container that breaks at most one rule."""
    parsed, construct_rule = construct_verdict(blob)
    container, nncodec_rule = nncodec_verdict(blob, backend)
    if nncodec_rule is None:
        assert construct_rule is None, f"nncodec accepts, construct says {construct_rule}"
        check_fields_agree(parsed, container)
        assert spec_format.build_container(parsed) == blob
    elif nncodec_rule in spec_format.DECLARED_RULES and not blind:
        assert construct_rule == nncodec_rule
    else:
        assert construct_rule is None, f"construct says {construct_rule}, nncodec {nncodec_rule} (undeclared)"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["file"].split("/")[1][:-4])
def test_vector(entry, backend):
    check_agreement(vector_bytes(entry), backend, blind=entry["file"] in CONSTRUCT_BLIND)


def test_blind_list_is_current():
    files = {e["file"] for e in ENTRIES}
    assert set(CONSTRUCT_BLIND) <= files


def test_build_computes_lengths_and_crcs():
    """build_container fills counts, lengths, padding and CRCs when they are left out."""
    blob = next(vector_bytes(e) for e in ENTRIES if e["file"].endswith("030-worked-example.nnc"))
    parsed = spec_format.parse_container(blob)
    header = {k: v for k, v in parsed.header.items() if k in ("magic", "format_major", "format_minor", "header_flags")}
    obj = {"header": header, "directory": parsed.directory,
           "payload": {"stream": [{"stored_bytes": s.stored_bytes} for s in parsed.payload.stream]}}
    assert spec_format.build_container(obj) == blob


def test_build_refuses_a_broken_rule():
    blob = nncodec.encode({"w": [1.0, 2.0]})
    parsed = spec_format.parse_container(blob)
    parsed.directory.tensor_record[0].node.dtype = 16
    with pytest.raises(spec_format.RuleError) as info:
        spec_format.build_container(parsed)
    assert info.value.rule == "R3.5-a"


# ``backend`` is a plain string, so sharing it between examples is safe
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=_QUIET)


@_SETTINGS
@given(case=strategies.encode_cases(max_size=3))
def test_encoded_containers(case, backend):
    weights, options = case
    check_agreement(nncodec.encode(weights, **options), backend)


@_SETTINGS
@given(blob=strategies.record_containers())
def test_record_containers(blob, backend):
    check_agreement(blob, backend)


@settings(max_examples=150, deadline=None, suppress_health_check=_QUIET)
@given(blob=strategies.record_containers(max_tensors=2), data=st.data())
def test_mutated_containers(blob, data, backend):
    """One header or directory byte changed and every CRC recomputed, so the change reaches the structural rules.

    Such a container may break several rules and the two parsers may meet them in different orders, so only
    the verdicts are compared: a rejection by either for a rule construct declares is a rejection by both.
    """
    end = min(len(blob), 32 + crafting.header(blob)["directory_length"])
    at = data.draw(st.integers(8, end - 1), label="offset")
    mutated = bytearray(blob)
    mutated[at] = data.draw(st.integers(0, 255).filter(lambda b: b != blob[at]), label="byte")
    mutated = crafting.reseal(bytes(mutated))
    _, construct_rule = construct_verdict(mutated)
    _, nncodec_rule = nncodec_verdict(mutated, backend)
    if construct_rule is not None:
        assert nncodec_rule is not None, f"construct rejects ({construct_rule}), nncodec accepts"
    if nncodec_rule in spec_format.DECLARED_RULES - PARTLY_DECLARED:
        assert construct_rule is not None, f"nncodec rejects ({nncodec_rule}), construct accepts"
