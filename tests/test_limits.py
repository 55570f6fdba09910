"""Decoder limits (spec section 6): each limit the container v1 reader enforces, exactly at its boundary, on both
backends; tiny files declaring huge tensors are refused before anything is allocated.

max_alphabet and max_bins_per_element belong to the Huffman and CABAC stream decoders and are tested there.
"""

import tracemalloc

import numpy as np
import pytest

import nncodec
from nncodec.errors import FormatError, InconsistentError, LimitExceededError

import crafting
from checkers import check_limit, check_rejects


def _open(blob, backend):
    return lambda limits: nncodec.open(blob, limits=limits, backend=backend)


def test_max_input_bytes(backend):
    blob = nncodec.encode({"a": np.arange(10, dtype=np.float32)})
    check_limit(blob, "max_input_bytes", len(blob), backend)


def test_max_input_bytes_uses_the_declared_size(backend):
    """The declared total is checked before the bytes are counted: a truncated file over the limit is a limit
    breach, not a truncation."""
    blob = nncodec.encode({"a": np.arange(10, dtype=np.float32)})
    err = check_rejects(blob[:40], LimitExceededError, backend, limits=nncodec.DecodeLimits(max_input_bytes=39))
    assert err.declared == len(blob)


def test_max_directory_bytes(backend):
    blob = nncodec.encode({"a": np.zeros(3), "longer name": np.ones(2)}, metadata={"k": "v" * 30})
    check_limit(blob, "max_directory_bytes", crafting.header(blob)["directory_length"], backend)


def test_max_tensors(backend):
    blob = nncodec.encode({"a": np.zeros(1), "b": np.zeros(2), "c": np.zeros(0)})
    check_limit(blob, "max_tensors", 3, backend)
    assert nncodec.decode(nncodec.encode({}), limits=nncodec.DecodeLimits(max_tensors=0), backend=backend) == {}


def test_max_metadata_bytes(backend):
    meta = {"ké": "vä", "x": "", "": "yz"}  # UTF-8 bytes: 3 + 3 + 1 + 0 + 0 + 2
    blob = nncodec.encode({"a": np.zeros(1)}, metadata=meta)
    check_limit(blob, "max_metadata_bytes", 9, backend)
    check_limit(blob, "max_metadata_bytes", 9, backend, accept=_open(blob, backend))


def test_max_params_bytes(backend):
    """Checked while the directory is parsed, before the stage looks at the params (dense wants none)."""
    blob = crafting.craft([crafting.dense_tensor("p", "int8", (3,), b"\1\2\3", params=b"12345")])
    check_limit(blob, "max_params_bytes", 5, backend, accept=_open(blob, backend))
    check_rejects(blob, FormatError, backend, limits=nncodec.DecodeLimits(max_params_bytes=5))
    valid = nncodec.encode({"a": np.zeros(3)})
    nncodec.decode(valid, limits=nncodec.DecodeLimits(max_params_bytes=0), backend=backend)


@pytest.mark.parametrize("options", [{}, {"compress": "zstd"}, {"chunk_elements": 4}])
def test_max_elements(options, backend):
    blob = nncodec.encode({"a": np.arange(15, dtype=np.int16).reshape(3, 5), "b": np.zeros(7, np.uint8)}, **options)
    check_limit(blob, "max_elements", 15, backend)


def test_max_elements_counts_streams(backend):
    """A stream's Element_Count is limited too, even when its node is small."""
    blob = crafting.craft([crafting.dense_tensor("s", "int8", (2,), b"\1\2", count=100)])
    check_limit(blob, "max_elements", 100, backend, accept=_open(blob, backend))
    check_rejects(blob, InconsistentError, backend, limits=nncodec.DecodeLimits(max_elements=100))


@pytest.mark.parametrize("shape", [(0, 2 ** 63), (2 ** 64 - 1, 0), (0, 2 ** 40, 2 ** 40), (3, 0, 2 ** 35)])
def test_max_elements_bounds_empty_shapes(shape, backend):
    """An empty tensor may not declare extents whose product no array could have (spec 6)."""
    blob = crafting.craft([crafting.dense_tensor("e", "float32", shape, b"")])
    err = check_rejects(blob, LimitExceededError, backend)
    assert err.limit == "max_elements"
    assert err.declared == int(np.prod([e for e in shape if e], dtype=object))


def test_empty_shapes_within_limits_decode(backend):
    blob = crafting.craft([crafting.dense_tensor("e", "float32", (0, 2 ** 20, 3), b"")])
    check_limit(blob, "max_elements", 3 * 2 ** 20, backend)
    assert nncodec.decode(blob, backend=backend)["e"].shape == (0, 2 ** 20, 3)


def test_max_output_bytes(backend):
    weights = {"a": np.zeros(4, np.float32), "b": np.zeros(3, np.int16), "c": np.zeros((0, 9), np.float64)}
    blob = nncodec.encode(weights, compress="auto")
    check_limit(blob, "max_output_bytes", 22, backend)
    check_limit(blob, "max_output_bytes", 22, backend, accept=lambda limits: nncodec.open(
        blob, limits=limits, backend=backend).decode_all())


def test_max_output_bytes_per_tensor_in_reader(backend):
    blob = nncodec.encode({"a": np.zeros(4, np.float32), "b": np.zeros(3, np.int16)})

    def read_a(limits):
        return nncodec.open(blob, limits=limits, backend=backend)["a"]
    check_limit(blob, "max_output_bytes", 16, backend, accept=read_a)
    reader = nncodec.open(blob, limits=nncodec.DecodeLimits(max_output_bytes=16), backend=backend)
    assert reader["b"].shape == (3,)  # each tensor fits; the whole decode does not
    with pytest.raises(LimitExceededError):
        reader.decode_all()


def test_expansion_zstd(backend):
    blob = nncodec.encode({"z": np.zeros(4096, np.float32)}, compress="zstd")
    stored = nncodec.open(blob).info()[0]["stored_bytes"]
    decoded = 4096 * 4
    factor = decoded // stored
    assert factor > 1
    slack = decoded - factor * stored  # allowed = factor * stored + slack == decoded exactly
    check_limit(blob, "expansion_slack", slack, backend, reported="max_expansion", declared=decoded,
                maximum=decoded - 1, max_expansion=factor)
    check_limit(blob, "expansion_slack", decoded, backend, reported="max_expansion", declared=decoded,
                maximum=decoded - 1, max_expansion=0)
    # one step less of max_expansion, and the slack no longer covers it
    check_limit(blob, "max_expansion", factor, backend, declared=decoded, maximum=decoded - stored,
                expansion_slack=slack)


def test_expansion_raw(backend):
    blob = nncodec.encode({"r": np.arange(6, dtype=np.int32)})
    check_limit(blob, "max_expansion", 1, backend, declared=24, maximum=0, expansion_slack=0)
    check_limit(blob, "expansion_slack", 24, backend, reported="max_expansion", declared=24, maximum=23,
                max_expansion=0)


def test_default_limits_accept_ordinary_containers(backend):
    weights = {"w": np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32),
               "z": np.zeros((256, 256), np.float16)}
    blob = nncodec.encode(weights, compress="auto", metadata={"m": "x" * 1000})
    out = nncodec.decode(blob, limits=nncodec.DecodeLimits(), backend=backend)
    assert list(out) == ["w", "z"] and out["z"].shape == (256, 256)


# -- tiny files declaring huge tensors -------------------------------------------------------------------------

ZSTD_10GB = (bytes.fromhex("28b52ffd") + bytes([0xE0]) + (10 ** 10).to_bytes(8, "little")
             + bytes([0x01, 0x00, 0x00]))  # frame header: single segment, content size 10 GB; one empty raw block


def _peak_while(fn):
    """Peak traced allocation (bytes) while fn() runs; fn is expected to raise LimitExceededError."""
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError) as info:
            fn()
        return tracemalloc.get_traced_memory()[1], info.value
    finally:
        tracemalloc.stop()


def test_zstd_frame_claiming_10gb(backend):
    elements = 10 ** 10 // 4
    blob = crafting.craft([crafting.dense_tensor("huge", "float32", (elements,), ZSTD_10GB, coding=1,
                                                 align_log2=0)])
    assert len(blob) < 100
    peak, err = _peak_while(lambda: nncodec.decode(blob, backend=backend))
    assert err.limit == "max_expansion" and err.declared == 10 ** 10
    assert peak < 1 << 20, peak
    # with the expansion limit lifted, the output limit still refuses it before decompression
    limits = nncodec.DecodeLimits(max_expansion=2 ** 40, max_output_bytes=2 ** 30)
    peak, err = _peak_while(lambda: nncodec.open(blob, limits=limits, backend=backend)["huge"])
    assert err.limit == "max_output_bytes" and err.declared == 10 ** 10
    assert peak < 1 << 20, peak


@pytest.mark.parametrize("shape", [(2 ** 40,), (2 ** 20, 2 ** 20), (2 ** 64 - 1,), (2 ** 32,) * 3])
def test_raw_stream_declaring_huge_shape(shape, backend):
    count = int(np.prod(shape, dtype=object))
    cap = 2 ** 64 - 1  # the stream's own fields are varints
    blob = crafting.craft([crafting.dense_tensor("huge", "float32", shape, b"\0" * 8, count=min(count, cap),
                                                 length=min(4 * count, cap))])
    assert len(blob) < 200
    peak, err = _peak_while(lambda: nncodec.decode(blob, backend=backend))
    assert err.limit == "max_elements" and err.declared == count
    assert peak < 1 << 20, peak


@pytest.mark.parametrize("coding", [2, 3])  # huffman, cabac: streams that can spend less than a bit per element
def test_tiny_entropy_stream_declaring_1e9_elements(coding, backend):
    """Spec 8.2: a 4-byte stream declaring 10**9 int8 elements is refused by the default limits before any work,
    and with the expansion limit lifted the output limit refuses it before the stream is decoded."""
    stream = b"\x01\x02\x00\x00"  # huffman Mode 1 (constant 1); for cabac a header that is never reached
    blob = crafting.craft([crafting.dense_tensor("w", "int8", (10 ** 9,), stream, coding=coding, align_log2=0)])
    peak, err = _peak_while(lambda: nncodec.decode(blob, backend=backend))
    assert err.limit == "max_expansion" and err.declared == 10 ** 9
    assert peak < 1 << 20, peak
    limits = nncodec.DecodeLimits(max_expansion=2 ** 40, max_output_bytes=10 ** 9 - 1)
    peak, err = _peak_while(lambda: nncodec.decode(blob, limits=limits, backend=backend))
    assert err.limit == "max_output_bytes" and err.declared == 10 ** 9
    assert peak < 1 << 20, peak


def test_huge_stream_within_element_limit_runs_past_end(backend):
    """Within max_elements, a raw stream longer than the file is an InconsistentError, found before allocating."""
    shape = (2 ** 33,)
    blob = crafting.craft([crafting.dense_tensor("huge", "float32", shape, b"", length=4 * 2 ** 33)])
    tracemalloc.start()
    try:
        check_rejects(blob, InconsistentError, backend)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak


# -- DecodeLimits itself ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [-1, -(2 ** 70), 1.0, 2.5, "10", None, True, False, [1]])
@pytest.mark.parametrize("field", ["max_input_bytes", "max_elements", "max_expansion", "expansion_slack"])
def test_decode_limits_reject_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        nncodec.DecodeLimits(**{field: value})


def test_decode_limits_defaults_match_spec():
    limits = nncodec.DecodeLimits()
    assert (limits.max_input_bytes, limits.max_directory_bytes, limits.max_tensors, limits.max_metadata_bytes,
            limits.max_params_bytes, limits.max_elements, limits.max_output_bytes, limits.max_expansion,
            limits.expansion_slack, limits.max_alphabet, limits.max_bins_per_element) == (
        2 ** 40, 2 ** 26, 2 ** 20, 2 ** 24, 2 ** 20, 2 ** 34, 2 ** 36, 1024, 2 ** 24, 2 ** 16, 128)
    assert (limits.max_product_macs, limits.max_zstd_window) == (2 ** 36, 2 ** 27)
    assert nncodec.DecodeLimits(max_elements=0).max_elements == 0
    assert nncodec.DecodeLimits(max_elements=2 ** 56).max_elements == 2 ** 56
    with pytest.raises(ValueError):
        nncodec.DecodeLimits(max_elements=2 ** 56 + 1)  # sizes stay far from int64 and NumPy bounds


def _product_container(m, k, n):
    """A float32 ``product`` composite of an m x k and a k x n raw factor (spec 3.5.2)."""
    from nncodec.format.assemble import write_container
    from nncodec.format.records import PRODUCT, Composite, Node, TensorRecord
    factors = []
    for shape in ((m, k), (k, n)):
        record, pending = crafting.dense_tensor("", "float32", shape, np.ones(shape, "<f4").tobytes())
        factors.append((record.node, pending))
    node = Node(12, (m, n), Composite(PRODUCT, tuple(f[0] for f in factors)))
    return write_container([(TensorRecord("w", node), [p for f in factors for p in f[1]])])


def test_max_product_macs(backend):
    """[R6] at N and N+1: a 3x5 by 5x4 product costs 60 multiply-adds."""
    blob = _product_container(3, 5, 4)
    check_limit(blob, "max_product_macs", 60, backend)
    assert nncodec.decode(blob, backend=backend)["w"].tolist() == [[5.0] * 4] * 3


def test_product_time_bomb_is_refused_before_decoding(backend):
    """Factors of 2**13 x 2**12 and 2**12 x 2**13 from a ~100 KiB file fit every memory limit (each zstd frame
    carries 48 KiB of noise to pass max_expansion) but ask for 2**38 multiply-adds: minutes of work."""
    from nncodec.format.assemble import write_container
    from nncodec.format.records import PRODUCT, Composite, Node, TensorRecord
    import zstandard
    noise = np.random.default_rng(0).bytes(3 << 14)
    children, pending = [], []
    for shape in ((2 ** 13, 2 ** 12), (2 ** 12, 2 ** 13)):
        frame = zstandard.ZstdCompressor(level=1).compress(noise + bytes(2 * shape[0] * shape[1] - len(noise)))
        record, streams = crafting.dense_tensor("", "float16", shape, frame, coding=1, align_log2=0)
        children.append(record.node)
        pending += streams
    blob = write_container([(TensorRecord("w", Node(10, (2 ** 13, 2 ** 13), Composite(PRODUCT, tuple(children)))),
                             pending)])
    assert len(blob) < 120_000
    with pytest.raises(LimitExceededError, match="max_product_macs"):
        nncodec.decode(blob, backend=backend)


def _zstd_frame_with_window(window_log, content):
    """A hand-made zstd frame (RFC 8878): one RLE block of ``content`` zero bytes, Window_Size 2**window_log."""
    descriptor = (window_log - 10) << 3  # Exponent in the high 5 bits, Mantissa 0
    header = bytes((0x40, descriptor)) + (content - 256).to_bytes(2, "little")  # 2-byte Frame_Content_Size
    block = (1 | 1 << 1 | content << 3).to_bytes(3, "little") + b"\0"  # last block, RLE, Block_Size = content
    return b"\x28\xb5\x2f\xfd" + header + block


@pytest.mark.parametrize("window_log", [12, 28])
def test_max_zstd_window(window_log, backend):
    """[R6] at N and N+1 on the frame's declared Window_Size, before decompressing; 2**28 is above the default."""
    frame = _zstd_frame_with_window(window_log, 1000)
    blob = crafting.craft([crafting.dense_tensor("z", "uint8", (1000,), frame, coding=1, align_log2=0)])
    check_limit(blob, "max_zstd_window", 2 ** window_log, backend)
    if window_log > 27:
        with pytest.raises(LimitExceededError, match="max_zstd_window"):
            nncodec.decode(blob, backend=backend)
    else:
        assert nncodec.decode(blob, backend=backend)["z"].tolist() == [0] * 1000
