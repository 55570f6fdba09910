"""Whole-call budgets (spec 6, 8.2): every limit bounds one call, summed over all the tensors it touches, and is
checked before any of them is decoded; an alias target is decoded once per call."""

import numpy as np
import pytest

import nncodec
import nncodec.sparse.matrices
import crafting
from nncodec import cli, runtime
from nncodec.format.budget import BUILD_FACTOR
from nncodec.decoder.container import Container
from nncodec.format.assemble import PendingStream, write_container
from nncodec.errors import LimitExceededError, UnsupportedFeatureError
from nncodec.format.header import crc32
from nncodec.format.records import PRODUCT, SUM, Alias, Chain, Composite, Node, Stage, Stream, TensorRecord

FLOAT32, UINT8 = 12, 3


def zeros_node(shape):
    """A float32 node of ``shape`` stored as an empty relidx chain: all zeros from two empty streams."""
    empty = Stream(0, UINT8, 0, 0, 0, crc32(b"")), Stream(0, FLOAT32, 0, 0, 0, crc32(b""))
    return Node(FLOAT32, tuple(shape), Chain(empty, (Stage(2, bytes((4,))),)))


def composite(combine, shape, children):
    return Node(FLOAT32, tuple(shape), Composite(combine, tuple(children)))


def product(m, k, n):
    return composite(PRODUCT, (m, n), (zeros_node((m, k)), zeros_node((k, n))))


def pending(node):
    """The (empty) PendingStreams of ``node``'s streams."""
    if isinstance(node.body, Chain):
        return [PendingStream(s.coding, s.elem_type, s.align_log2, s.count, b"") for s in node.body.streams]
    if isinstance(node.body, Alias):
        return []
    return [p for child in node.body.children for p in pending(child)]


def container(*tensors):
    """Container bytes of ``(name, node)`` pairs; an alias node is ``("name", index)``."""
    records = []
    for name, node in tensors:
        if isinstance(node, int):
            target = records[node][0].node
            node = Node(target.dtype, target.shape, Alias(node))
        records.append((TensorRecord(name, node), pending(node)))
    return write_container(records)


def count_chain_decodes(monkeypatch):
    calls = []
    original = Container._decode_chain

    def spy(self, node, name):
        calls.append(name)
        return original(self, node, name)
    monkeypatch.setattr(Container, "_decode_chain", spy)
    return calls


def test_alias_target_is_decoded_once_per_call(monkeypatch, backend):
    aliases = [(f"alias{i}", 0) for i in range(4096)]
    blob = container(("w", product(8, 4, 8)), *aliases)
    calls = count_chain_decodes(monkeypatch)
    limits = nncodec.DecodeLimits(max_product_macs=8 * 4 * 8)  # one product's worth: the aliases add nothing
    decoded = nncodec.decode(blob, backend=backend, limits=limits)
    assert len(decoded) == 4097 and calls == ["w", "w"]  # the two factors, once
    assert all(decoded[name] is decoded["w"] for name, _ in aliases)
    calls.clear()
    structures = nncodec.decode(blob, backend=backend, limits=limits, materialize=False)
    assert calls == ["w", "w"] and structures["alias4095"] is structures["w"]


def test_product_macs_are_counted_per_call(backend):
    blob = container(("a", product(8, 4, 8)), ("b", product(8, 4, 8)))
    limits = nncodec.DecodeLimits(max_product_macs=2 * 8 * 4 * 8)
    assert set(nncodec.decode(blob, backend=backend, limits=limits)) == {"a", "b"}
    limits = nncodec.DecodeLimits(max_product_macs=2 * 8 * 4 * 8 - 1)
    with pytest.raises(LimitExceededError, match="max_product_macs"):
        nncodec.decode(blob, backend=backend, limits=limits)
    with nncodec.open(blob, backend=backend, limits=limits) as reader:  # each access is a call of its own
        assert reader["a"].shape == reader["b"].shape == (8, 8)
        with pytest.raises(LimitExceededError):
            reader.decode_tensors(["a", "b"])
        with pytest.raises(LimitExceededError):
            reader.verify_all()


def test_sum_children_count_as_built_bytes(monkeypatch, backend):
    child = (1 << 16,)  # 256 KiB of float32 zeros from 0 stored bytes
    blob = container(("s", composite(SUM, child, [zeros_node(child) for _ in range(4096)])))
    calls = count_chain_decodes(monkeypatch)
    with pytest.raises(LimitExceededError, match="max_output_bytes"):  # 1 GiB of children for a 256 KiB output
        nncodec.decode(blob, backend=backend, limits=nncodec.DecodeLimits(max_output_bytes=2**26))
    assert calls == []  # refused before any child was decoded
    # N and N + 1: the output plus its 4 children fit BUILD_FACTOR x the limit exactly
    blob = container(("s", composite(SUM, child, [zeros_node(child) for _ in range(4)])))
    exact = nncodec.DecodeLimits(max_output_bytes=5 * 4 * (1 << 16) // BUILD_FACTOR, expansion_slack=0)
    assert nncodec.decode(blob, backend=backend, limits=exact)["s"].shape == child
    with pytest.raises(LimitExceededError):
        nncodec.decode(blob, backend=backend, limits=nncodec.DecodeLimits(
            max_output_bytes=exact.max_output_bytes - 1, expansion_slack=0))


def test_product_factors_count_as_built_bytes(backend):
    blob = container(("p", product(1, 1 << 28, 1)))  # a 4-byte output from two 1 GiB factors
    with pytest.raises(LimitExceededError, match="max_output_bytes"):
        nncodec.decode(blob, backend=backend, limits=nncodec.DecodeLimits(max_output_bytes=2**26))
    with pytest.raises(LimitExceededError, match="max_output_bytes"):
        nncodec.decode(blob, backend=backend, materialize=False, limits=nncodec.DecodeLimits(max_output_bytes=2**26))


def test_every_tensor_is_checked_before_any_is_decoded(monkeypatch, backend):
    bad = Node(FLOAT32, (4,), Chain(zeros_node((4,)).body.streams, (Stage(99, b""),)))
    blob = container(("big", zeros_node((1 << 20,))), ("bad", bad))
    calls = count_chain_decodes(monkeypatch)
    with pytest.raises(UnsupportedFeatureError, match="R4-a"):
        nncodec.decode(blob, backend=backend)
    with pytest.raises(UnsupportedFeatureError, match="R4-a"):
        with nncodec.open(blob, backend=backend) as reader:
            reader.verify_all(materialize=False)
    assert calls == []


def test_stream_expansion_slack_is_per_call(backend):
    frame = nncodec.stages.coding_by_name("zstd").encode(np.zeros(1 << 20, np.float32))  # 4 MiB from a few bytes
    stream = Stream(1, FLOAT32, 0, 1 << 20, len(frame), crc32(frame))
    node = Node(FLOAT32, (1 << 20,), Chain((stream,), (Stage(1, b""),)))
    records = [(TensorRecord(f"t{i}", node), [PendingStream(1, FLOAT32, 0, 1 << 20, frame)]) for i in range(8)]
    blob = write_container(records)
    stored, decoded = 8 * len(frame), 8 * 4 << 20
    exact = nncodec.DecodeLimits(max_expansion=1, expansion_slack=decoded - stored)
    assert len(nncodec.decode(blob, backend=backend, limits=exact)) == 8
    over = nncodec.DecodeLimits(max_expansion=1, expansion_slack=decoded - stored - 1)
    with nncodec.open(blob, backend=backend, limits=over) as reader:
        assert reader["t0"].shape == (1 << 20,)  # one stream alone is within the slack
        with pytest.raises(LimitExceededError, match="max_expansion"):
            reader.decode_all()
        with pytest.raises(LimitExceededError, match="max_expansion"):
            reader.verify_all(materialize=False)


def test_runtime_load_decodes_a_shared_weight_once(monkeypatch, backend):
    w = np.eye(16, dtype=np.float32)
    arch = {"format": "nncodec.sequential/1", "input_shape": [16],
            "layers": [{"type": "linear", "weight": "w"}, {"type": "linear", "weight": "w"}]}
    blob = nncodec.encode({"w": w}, compress="zstd", metadata=runtime.architecture_metadata(arch))
    calls = count_chain_decodes(monkeypatch)
    model = runtime.load(blob, backend=backend)
    assert calls == ["w"]
    first, second = (layer.operator for layer in model._layers)
    assert first is second  # prepared once too: 64 layers naming one low-rank weight made 64 float32 copies
    np.testing.assert_array_equal(model(np.ones((1, 16), np.float32)), np.ones((1, 16), np.float32))


def test_cli_decode_and_verify_refuse_the_call_total(tmp_path, monkeypatch):
    # three products of 2**35 multiply-adds each: each alone is within the default 2**36, the file's total is not
    blob = container(*((f"p{i}", product(1 << 12, 1 << 11, 1 << 12)) for i in range(3)))
    path = tmp_path / "m.nnc"
    path.write_bytes(blob)
    calls = count_chain_decodes(monkeypatch)
    assert cli.main(["-q", "decode", str(path), "-o", str(tmp_path / "out.npz")]) == 1
    assert cli.main(["-q", "verify", str(path)]) == 1
    # the streaming outputs decode one tensor per call, after checking the whole decode as one call (check_call)
    assert cli.main(["-q", "decode", str(path), "-o", str(tmp_path / "out.safetensors")]) == 1
    assert cli.main(["-q", "decode", str(path), "-o", str(tmp_path / "outdir"), "--shard-size", "1GB"]) == 1
    assert calls == [] and not (tmp_path / "out.npz").exists()
    assert not (tmp_path / "out.safetensors").exists() and not (tmp_path / "outdir").exists()


def test_lazy_structures_densify_under_the_call_limits(backend):
    w = np.zeros((64, 64), np.float32)
    w[3, 5] = 1.0
    limits = nncodec.DecodeLimits(max_output_bytes=64 * 64 * 4 - 1)
    lazy = nncodec.decode(nncodec.encode({"w": w}, layout="csr"), materialize=False, backend=backend,
                          limits=limits)["w"]
    with pytest.raises(LimitExceededError, match="max_output_bytes"):  # one byte short of the dense matrix
        lazy.todense()
    blob = container(("p", product(8, 4, 8)))
    factored = nncodec.decode(blob, materialize=False, backend=backend,
                              limits=nncodec.DecodeLimits(max_product_macs=8 * 4 * 8 - 1))["p"]
    with pytest.raises(LimitExceededError, match="max_product_macs"):  # the factors decode; their product is over
        factored.todense()
    exact = nncodec.decode(blob, materialize=False, backend=backend,
                           limits=nncodec.DecodeLimits(max_product_macs=8 * 4 * 8))["p"]
    assert not exact.todense().any()


def zstd_zeros(rle_blocks, raw_blocks):
    """A zstd frame of zero bytes: 128 KiB RLE blocks (4 bytes each), then 128 KiB raw blocks (RFC 8878)."""
    blocks = rle_blocks + raw_blocks
    out = bytearray(b"\x28\xb5\x2f\xfd\xc0\x88") + (blocks << 17).to_bytes(8, "little")  # 2^27 window, 8-byte size
    for i in range(blocks):
        rle = i < rle_blocks
        out += ((1 << 20) | (2 if rle else 0) | (i == blocks - 1)).to_bytes(3, "little")
        out += bytes(1 if rle else 1 << 17)
    return bytes(out)


def test_decoded_streams_count_as_built_bytes(backend):
    # an empty csr tensor of 2^28 + 2^18 rows: its Row_Counts stream (zero bytes from a 264 KiB zstd frame) is within
    # the expansion rule, but decoding it and widening it to int64 builds 2.3 GiB for an empty output
    rows = (2048 + 2) << 17
    streams = [crafting.stream("uint8", data=zstd_zeros(2048, 2), coding=1, count=rows, align_log2=0),
               crafting.stream("uint8"), crafting.stream("float32")]
    blob = crafting.craft([crafting.chain_tensor("w", "float32", (rows, 0), streams, ((3, b""),))])
    limits = nncodec.DecodeLimits(max_output_bytes=2**30)
    for materialize in (True, False):
        with pytest.raises(LimitExceededError, match="max_output_bytes: the call builds"):
            nncodec.decode(blob, backend=backend, materialize=materialize, limits=limits)
    with pytest.raises(LimitExceededError, match="max_output_bytes: the call builds"):
        with nncodec.open(blob, backend=backend, limits=limits) as reader:
            reader.verify_all(materialize=False)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, "bfloat16"])
def test_products_in_blocks_of_rows_equal_the_whole_product(monkeypatch, dtype, backend):
    import ml_dtypes
    import nncodec.sparse
    dtype = np.dtype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((30, 20)).astype(dtype)
    kernel = rng.standard_normal((6, 5, 3, 3)).astype(dtype)
    blob = nncodec.encode({"w": w, "wide": w.T.copy(), "k": kernel},
                          factorize={"w": "svd:rank=4", "wide": "svd:rank=12", "k": "separable:rank=2"})
    whole = nncodec.decode(blob, backend=backend)
    monkeypatch.setattr(nncodec.sparse.matrices, "PRODUCT_BLOCK", 7)  # tiles of one row or column, then several
    blocked = nncodec.decode(blob, backend=backend)
    # the binary64 summation order is not fixed (spec 3.5.2), so a float64 result may differ in its last bit
    for name in ("w", "wide", "k"):  # inner extents 4 and 12, below and above the block
        assert blocked[name].dtype == whole[name].dtype and blocked[name].shape == whole[name].shape
        if whole[name].dtype == np.float64:
            np.testing.assert_allclose(blocked[name], whole[name], rtol=1e-12, atol=1e-15)
        else:
            assert blocked[name].tobytes() == whole[name].tobytes()


@pytest.mark.parametrize("verb", ["decode", "verify"])
def test_cli_max_output_bytes(tmp_path, verb):
    path = tmp_path / "m.nnc"
    path.write_bytes(nncodec.encode({"w": np.ones(256, np.float32)}))  # 1 KiB
    extra = ["-o", str(tmp_path / "out.npz")] if verb == "decode" else []
    assert cli.main(["-q", verb, str(path), *extra, "--max-output-bytes", "1K"]) == 0
    assert cli.main(["-q", verb, str(path), *extra, "--max-output-bytes", "1023"]) == 1
    with pytest.raises(SystemExit) as exit_info:  # argparse's usage error
        cli.main(["-q", verb, str(path), *extra, "--max-output-bytes", "lots"])
    assert exit_info.value.code == 2


def test_lazy_tensor_densified_to_lay_it_out_again_must_fit_max_output_bytes(backend):
    w = np.zeros((4, 1024), np.float32)
    w[:, ::7] = 1.0
    blob = nncodec.encode({"w": w}, layout="csr", quantize={"w": "uniform:bits=8,axis=0"}, entropy="raw")
    dense = w.nbytes
    lazy = nncodec.decode(blob, materialize=False, backend=backend, limits=nncodec.DecodeLimits(max_output_bytes=dense))
    assert lazy["w"].todense().shape == w.shape
    with pytest.raises(LimitExceededError, match="max_output_bytes"):  # the structure alone would fit
        nncodec.decode(blob, materialize=False, backend=backend, limits=nncodec.DecodeLimits(max_output_bytes=dense - 1))


@pytest.mark.parametrize("entropy", ["huffman", "cabac"])
def test_entropy_coded_streams_count_their_int64_decode(entropy, backend):
    n = 1 << 20
    blob = nncodec.encode({"w": np.zeros(n, np.int8)}, entropy=entropy)  # a few bytes for 1 MiB of int8
    built = n + n + 8 * n  # the returned tensor, the decoded stream, its int64 integers before they are narrowed
    slack = 1 << 20  # the stream's expansion needs a slack; the built bytes may use it too
    exact = nncodec.DecodeLimits(max_output_bytes=(built - slack) // BUILD_FACTOR, expansion_slack=slack)
    assert nncodec.decode(blob, backend=backend, limits=exact)["w"].shape == (n,)
    with pytest.raises(LimitExceededError, match="the call builds"):
        nncodec.decode(blob, backend=backend, limits=nncodec.DecodeLimits(
            max_output_bytes=(built - slack) // BUILD_FACTOR - 1, expansion_slack=slack))
