"""Hugging Face checkpoint directories (nncodec.io.checkpoint): sharded safetensors in, through a container, and
back out exactly, through the CLI and the Python API; hostile index files; loading the result with safetensors and
transformers when they are installed."""

import json
import os

import numpy as np
import pytest

import nncodec
from nncodec.cli import main
from nncodec.errors import (DecodeError, EncodeError, FormatError, InconsistentError, LimitExceededError,
                            NNCodecError, TruncatedError)
from nncodec.format.dtypes import BFLOAT16, numpy_dtype
from nncodec.io import decode_checkpoint, encode_checkpoint, open_checkpoint, read_weights
from nncodec.io.checkpoint import (INDEX_METADATA_KEY, INDEX_NAME, MAX_INDEX_BYTES, METADATA_KEY, SINGLE_NAME,
                                   parse_size)
from nncodec.io.safetensors import read_safetensors, write_safetensors
from skips import optional

BF16 = numpy_dtype(BFLOAT16)
META = {"format": "pt", "note": "kept"}


def _tensors():
    rng = np.random.default_rng(11)
    embed = rng.standard_normal((300, 32)).astype(BF16)
    return {
        "model.embed_tokens.weight": embed,
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((32, 32)).astype(BF16),
        "model.layers.0.input_layernorm.weight": (1 + rng.standard_normal(32) / 8).astype(np.float16),
        "model.layers.0.mlp.up_proj.weight": rng.standard_normal((64, 32)).astype(np.float32),
        "model.layers.0.mlp.up_proj.bias": np.zeros(64, np.float32),
        "model.position_ids": np.arange(64, dtype=np.int64)[None],
        "lm_head.weight": embed.copy(),  # tied names: the same values under a second name, stored in another shard
        "model.scale": np.array(0.5, np.float32),
    }


def make_checkpoint(directory, tensors=None, shards=3, index_metadata=None):
    """A sharded checkpoint as transformers writes it: ``shards`` files, an index, ``__metadata__`` in each."""
    tensors = _tensors() if tensors is None else tensors
    directory.mkdir(exist_ok=True)
    names = list(tensors)
    weight_map = {}
    for k in range(shards):
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[k::shards]}
        write_safetensors(directory / file, part, META)
        weight_map.update(dict.fromkeys(part, file))
    total = sum(a.nbytes for a in tensors.values())
    index = {"metadata": {"total_size": total, **(index_metadata or {})}, "weight_map": dict(sorted(weight_map.items()))}
    (directory / INDEX_NAME).write_text(json.dumps(index, indent=2))
    return tensors


def assert_checkpoint_equals(directory, tensors, metadata=META):
    with open_checkpoint(directory) as checkpoint:
        assert sorted(checkpoint) == sorted(tensors)
        for name, array in checkpoint.tensors():
            assert array.dtype == tensors[name].dtype and array.shape == tensors[name].shape, name
            assert array.tobytes() == tensors[name].tobytes(), name
        assert checkpoint.metadata == metadata


def test_cli_round_trip_of_a_sharded_checkpoint_is_exact(tmp_path, capsys):
    tensors = make_checkpoint(tmp_path / "in", index_metadata={"total_parameters": 1234})
    assert main(["encode", str(tmp_path / "in"), "-o", str(tmp_path / "m.nnc"), "--compress", "auto", "-q"]) == 0
    with nncodec.open(tmp_path / "m.nnc") as reader:
        assert json.loads(reader.metadata[METADATA_KEY]) == META
        assert json.loads(reader.metadata[INDEX_METADATA_KEY]) == {"total_parameters": 1234}
        assert reader["model.embed_tokens.weight"].dtype == BF16
    assert main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "out"), "--shard-size", "20KB"]) == 0
    out = capsys.readouterr().out
    # transformers' rule over the container's order (input shards, file order): [embed 19200 B] [up_proj 8192 B]
    # [lm_head 19200 B] [q_proj, bias, scale, norm, position_ids 2884 B]: 4 shards of at most 20 kB + the index
    assert "in 5 files" in out
    index = json.loads((tmp_path / "out" / INDEX_NAME).read_text())
    assert index["metadata"] == {"total_parameters": 1234, "total_size": sum(a.nbytes for a in tensors.values())}
    assert sorted(index["weight_map"]) == sorted(tensors)
    files = sorted(set(index["weight_map"].values()))
    assert files == [f"model-{k:05d}-of-00004.safetensors" for k in (1, 2, 3, 4)]
    for file in files:
        arrays, metadata = read_safetensors(tmp_path / "out" / file)
        assert metadata == META
        assert sum(a.nbytes for a in arrays.values()) <= 20_000 or len(arrays) == 1
    assert_checkpoint_equals(tmp_path / "out", tensors)
    assert main(["diff", str(tmp_path / "in"), str(tmp_path / "out"), "-q"]) == 0


def test_api_round_trip_and_jobs_do_not_change_bytes(tmp_path):
    tensors = make_checkpoint(tmp_path / "in")
    seen = []
    size = encode_checkpoint(tmp_path / "in", tmp_path / "a.nnc", compress="auto", jobs=2, chunk_elements=1000,
                             progress=lambda name, nbytes: seen.append((name, nbytes)))
    assert size == os.path.getsize(tmp_path / "a.nnc")
    assert sorted(seen) == sorted((n, a.nbytes) for n, a in tensors.items())
    encode_checkpoint(tmp_path / "in", tmp_path / "b.nnc", compress="auto", jobs=1, chunk_elements=1000)
    assert (tmp_path / "a.nnc").read_bytes() == (tmp_path / "b.nnc").read_bytes()
    with nncodec.open(tmp_path / "a.nnc") as reader:  # large tensors are coded in chunks (decoded in parallel)
        assert "concat" in next(r for r in reader.info() if r["name"] == "model.embed_tokens.weight")["chain"]
    files = decode_checkpoint(tmp_path / "a.nnc", tmp_path / "out", shard_size=10_000, jobs=2)
    assert files[-1] == str(tmp_path / "out" / INDEX_NAME) and len(files) > 3
    assert_checkpoint_equals(tmp_path / "out", tensors)
    assert {n: a.tobytes() for n, a in read_weights(tmp_path / "out").items()} == \
        {n: a.tobytes() for n, a in tensors.items()}


def test_single_file_checkpoints_keep_their_metadata(tmp_path, capsys):
    tensors = _tensors()
    (tmp_path / "dir").mkdir()
    write_safetensors(tmp_path / "dir" / SINGLE_NAME, tensors, META)
    write_safetensors(tmp_path / "w.safetensors", tensors, META)
    # a directory with model.safetensors, streamed; one .safetensors file, read whole (no --stream) and streamed
    assert main(["encode", str(tmp_path / "dir"), "-o", str(tmp_path / "d.nnc"), "-q"]) == 0
    assert main(["encode", str(tmp_path / "w.safetensors"), "-o", str(tmp_path / "w.nnc"), "-q"]) == 0
    assert main(["encode", str(tmp_path / "w.safetensors"), "-o", str(tmp_path / "s.nnc"), "--stream", "-q"]) == 0
    assert (tmp_path / "w.nnc").read_bytes() == (tmp_path / "s.nnc").read_bytes()
    for name in ("d", "w"):
        assert main(["decode", str(tmp_path / f"{name}.nnc"), "-o", str(tmp_path / f"{name}.safetensors"), "-q"]) == 0
        arrays, metadata = read_safetensors(tmp_path / f"{name}.safetensors")
        assert metadata == META and {n: a.tobytes() for n, a in arrays.items()} == \
            {n: a.tobytes() for n, a in tensors.items()}
    # everything fits one 5GB shard: model.safetensors, no index, as transformers writes it
    assert decode_checkpoint(tmp_path / "w.nnc", tmp_path / "one") == [str(tmp_path / "one" / SINGLE_NAME)]
    assert_checkpoint_equals(tmp_path / "one", tensors)


def test_containers_without_recorded_metadata_write_their_user_metadata(tmp_path):
    w = {"a": np.arange(6, dtype=np.float32)}
    nncodec.save(tmp_path / "m.nnc", w, metadata={"model": "demo", "nncodec.preset": "{}"})
    decode_checkpoint(tmp_path / "m.nnc", tmp_path / "m.safetensors")
    assert read_safetensors(tmp_path / "m.safetensors")[1] == {"model": "demo"}
    decode_checkpoint(tmp_path / "m.nnc", tmp_path / "dir")  # a directory gets the format transformers requires
    assert read_safetensors(tmp_path / "dir" / SINGLE_NAME)[1] == {"model": "demo", "format": "pt"}


def test_a_tensor_named_like_the_metadata_entry_is_refused(tmp_path):
    nncodec.save(tmp_path / "m.nnc", {"__metadata__": np.zeros(2, np.float32)})
    with pytest.raises(EncodeError, match="__metadata__"):
        decode_checkpoint(tmp_path / "m.nnc", tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("value", ["[1]", "{\"a\": 1}", "not json", "[" * 100_000])
def test_malformed_recorded_metadata_is_a_decode_error(tmp_path, value):
    nncodec.save(tmp_path / "m.nnc", {"a": np.zeros(2, np.float32)}, metadata={METADATA_KEY: value})
    with pytest.raises(FormatError, match=METADATA_KEY):
        decode_checkpoint(tmp_path / "m.nnc", tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_whole_decode_is_checked_against_the_limits_before_writing(tmp_path, capsys):
    tensors = make_checkpoint(tmp_path / "in")
    encode_checkpoint(tmp_path / "in", tmp_path / "m.nnc")
    total = sum(a.nbytes for a in tensors.values())
    limits = nncodec.DecodeLimits(max_output_bytes=total - 1)  # every tensor alone fits, the whole does not
    with pytest.raises(LimitExceededError):
        decode_checkpoint(tmp_path / "m.nnc", tmp_path / "out", limits=limits)
    assert not (tmp_path / "out").exists()
    assert main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "out"), "--max-output-bytes",
                 str(total - 1)]) == 1
    assert main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "out"), "--max-output-bytes", str(total),
                 "-q"]) == 0
    assert_checkpoint_equals(tmp_path / "out", tensors)


def test_output_directory_holding_a_checkpoint_is_refused(tmp_path, capsys):
    make_checkpoint(tmp_path / "in")
    encode_checkpoint(tmp_path / "in", tmp_path / "m.nnc")
    with pytest.raises(EncodeError, match="already holds a checkpoint"):
        decode_checkpoint(tmp_path / "m.nnc", tmp_path / "in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "config.json").write_text("{}")  # other files are welcome
    decode_checkpoint(tmp_path / "m.nnc", tmp_path / "out", shard_size="1KB")
    assert main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "out")]) == 2
    assert "remove it or choose another directory" in capsys.readouterr().err
    assert not [n for n in os.listdir(tmp_path / "out") if n.endswith(".tmp")]


@pytest.mark.parametrize("text, expected", [("5GB", 5 * 10**9), ("500MB", 5 * 10**8), ("2GiB", 2 * 2**30),
                                            ("1K", 1024), ("1.5kB", 1500), (123, 123), ("7", 7),
                                            ("9" * 400 + "GB", int("9" * 400) * 10**9)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["5XB", "0", "-1", "", "GB", "1e9", 0, True])
def test_parse_size_refuses(text, capsys):
    with pytest.raises(EncodeError):
        parse_size(text)


def test_shard_size_option_is_checked(tmp_path, capsys):
    nncodec.save(tmp_path / "m.nnc", {"a": np.zeros(2, np.float32)})
    with pytest.raises(SystemExit) as exc:
        main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "out"), "--shard-size", "5XB"])
    assert exc.value.code == 2 and "not a size" in capsys.readouterr().err
    assert main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "m.safetensors"), "--shard-size", "1GB"]) == 2
    assert "--shard-size applies to a checkpoint directory" in capsys.readouterr().err


def test_decode_output_is_a_directory_only_when_unambiguous(tmp_path, capsys):
    nncodec.save(tmp_path / "m.nnc", {"a": np.arange(4, dtype=np.float32)})
    decode = ["decode", str(tmp_path / "m.nnc"), "-q", "-o"]
    assert main([*decode, str(tmp_path / "Llama-3.1-8B")]) == 2  # a suffix ".1-8B": file or directory?
    assert "a path ending in /, or give --shard-size" in capsys.readouterr().err
    for output, extra in (("Llama-3.1-8B/", []), ("v.2", ["--shard-size", "1GB"]), ("plain", [])):
        assert main([*decode, f"{tmp_path}/{output}", *extra]) == 0
        assert read_weights(tmp_path / output)["a"].tolist() == [0, 1, 2, 3]


# -- hostile index files ---------------------------------------------------------------------------------------

def _with_index(tmp_path, index):
    """The 3-shard checkpoint (made unless ``index`` came from :func:`_index`) with ``index`` (an object, or raw
    bytes) as its index file."""
    if not (tmp_path / "ck").exists():
        make_checkpoint(tmp_path / "ck")
    data = index if isinstance(index, bytes) else json.dumps(index).encode()
    (tmp_path / "ck" / INDEX_NAME).write_bytes(data)
    return tmp_path / "ck"


def _index(tmp_path):
    make_checkpoint(tmp_path / "ck")
    return json.loads((tmp_path / "ck" / INDEX_NAME).read_text())


def _moved(tmp_path, name, shard):
    index = _index(tmp_path)
    index["weight_map"][name] = shard
    return index


def _in_two_shards(tmp_path):
    """The second shard's header also holds lm_head.weight, which the index (and the first shard) has."""
    index = _index(tmp_path)
    second = tmp_path / "ck" / "model-00002-of-00003.safetensors"
    arrays, metadata = read_safetensors(second)
    write_safetensors(second, {**arrays, "lm_head.weight": _tensors()["lm_head.weight"]}, metadata)
    return index


SHARD = "model-00001-of-00003.safetensors"


@pytest.mark.parametrize("change, error, message", [
    (lambda p: _moved(p, "lm_head.weight", "../x.safetensors"), FormatError, "plain"),
    (lambda p: _moved(p, "lm_head.weight", "/etc/x.safetensors"), FormatError, "plain"),
    (lambda p: _moved(p, "lm_head.weight", "sub/x.safetensors"), FormatError, "plain"),
    (lambda p: _moved(p, "lm_head.weight", "..\\x.safetensors"), FormatError, "plain"),
    (lambda p: _moved(p, "lm_head.weight", "config.json"), FormatError, "plain"),
    (lambda p: _moved(p, "lm_head.weight", ".safetensors"), FormatError, "plain"),
    (lambda p: _moved(p, "lm_head.weight", 7), FormatError, "not a file name"),
    (lambda p: _moved(p, "lm_head.weight", "model-00009-of-00009.safetensors"), InconsistentError, "missing"),
    (lambda p: _moved(p, "no.such.tensor", SHARD), InconsistentError, "lacks 'no.such.tensor'"),
    (lambda p: _in_two_shards(p), InconsistentError, "holds 'lm_head.weight', which the index puts in another"),
    (lambda p: {**_index(p), "weight_map": {k: v for k, v in list(_index(p)["weight_map"].items())[1:]}},
     InconsistentError, "holds"),  # a tensor a shard holds but the index puts nowhere
    (lambda p: (b'{"weight_map": {"model.scale": "%s", "model.scale": "%s"}}' % (SHARD.encode(), SHARD.encode())),
     InconsistentError, "twice"),  # duplicate key: the same tensor listed twice
    (lambda p: b'{"weight_map": {%s, "t0": "a.safetensors"}}' % b",".join(
        b'"t%d": "a.safetensors"' % i for i in range(200_000)), InconsistentError, "twice"),  # found in linear time
    (lambda p: b"\xff\xfe{}", FormatError, "not UTF-8 JSON"),
    (lambda p: b'{"weight_map": {', FormatError, "not UTF-8 JSON"),
    (lambda p: b"[" * 100_000 + b"]" * 100_000, FormatError, "nested too deeply"),
    (lambda p: [1, 2], FormatError, "weight_map"),
    (lambda p: {"weight_map": ["a"]}, FormatError, "weight_map"),
    (lambda p: {"metadata": [], "weight_map": {}}, FormatError, "metadata"),
])
def test_hostile_index_files_raise_decode_errors(tmp_path, capsys, change, error, message):
    directory = _with_index(tmp_path, change(tmp_path))
    with pytest.raises(error, match=message):
        open_checkpoint(directory)
    assert main(["encode", str(directory), "-o", str(tmp_path / "x.nnc")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nncodec: invalid input:") and message.split("'")[0] in err
    assert not (tmp_path / "x.nnc").exists()


def test_index_size_limit_at_n_and_n_plus_1(tmp_path):
    directory = _with_index(tmp_path, b"")
    with open(directory / INDEX_NAME, "r+b") as f:  # sparse: no disk, no memory until read
        f.truncate(MAX_INDEX_BYTES + 1)
    with pytest.raises(LimitExceededError, match="exceeds") as exc:
        open_checkpoint(directory)
    assert exc.value.limit == "checkpoint_index" and exc.value.declared == MAX_INDEX_BYTES + 1
    with open(directory / INDEX_NAME, "r+b") as f:
        f.truncate(MAX_INDEX_BYTES)
    with pytest.raises(FormatError, match="not UTF-8 JSON"):  # read and parsed, not refused for its size
        open_checkpoint(directory)


def test_hostile_shard_headers_name_the_shard(tmp_path):
    directory = _with_index(tmp_path, _index(tmp_path))
    data = (directory / SHARD).read_bytes()
    (directory / SHARD).write_bytes(data[:-1])
    with pytest.raises(DecodeError, match=SHARD):
        open_checkpoint(directory)
    (directory / SHARD).write_bytes(b"")
    with pytest.raises(TruncatedError, match=SHARD):
        open_checkpoint(directory)


def test_directory_without_a_checkpoint_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NNCodecError, match="neither model.safetensors nor") as exc:
        open_checkpoint(tmp_path / "empty")
    assert not isinstance(exc.value, DecodeError)
    assert main(["encode", str(tmp_path / "empty"), "-o", str(tmp_path / "x.nnc")]) == 2


def test_streaming_reads_views_and_releases_pages(tmp_path):
    tensors = make_checkpoint(tmp_path / "in")
    with open_checkpoint(tmp_path / "in") as checkpoint:
        for name, array in checkpoint.tensors():
            assert not array.flags.owndata and not array.flags.writeable  # a view of the shard's memory map
            assert array.tobytes() == tensors[name].tobytes()


def test_reader_releases_exactly_the_pages_of_each_decoded_chunk(tmp_path, monkeypatch):
    import zlib
    from nncodec.bundle import append_container
    from nncodec.decoder import reader as reader_module
    from nncodec.format.records import iter_streams
    host = tmp_path / "app.bin"
    host.write_bytes(b"host" * 1000)  # the container starts 4000 bytes into the mapped file
    array = np.random.default_rng(2).standard_normal((64, 50)).astype(np.float32)
    append_container(host, nncodec.encode({"w": array}, compress="zstd", chunk_elements=500))
    released = []
    monkeypatch.setattr(reader_module, "drop_pages", lambda mm, start, length: released.append((start, length)))
    with nncodec.open(host) as reader:
        reader.release_read_pages = True
        assert reader["w"].tobytes() == array.tobytes()
        streams = list(iter_streams(reader.record("w").node))
    data = host.read_bytes()
    assert len(released) == len(streams) == 7
    for (start, length), stream in zip(sorted(released), streams):
        assert zlib.crc32(data[start + stream.padding:start + length]) == stream.crc32 and start >= 4000


# -- the result loads with the safetensors package and with transformers ------------------------------------------

def test_written_shards_load_with_the_safetensors_package(tmp_path):
    safetensors = optional("safetensors.numpy", "safetensors")
    tensors = make_checkpoint(tmp_path / "in")
    encode_checkpoint(tmp_path / "in", tmp_path / "m.nnc", compress="auto")
    decode_checkpoint(tmp_path / "m.nnc", tmp_path / "out", shard_size="10KB")
    index = json.loads((tmp_path / "out" / INDEX_NAME).read_text())
    loaded = {}
    for file in sorted(set(index["weight_map"].values())):
        loaded.update(safetensors.load_file(str(tmp_path / "out" / file)))
    assert sorted(loaded) == sorted(tensors)
    for name, array in tensors.items():
        assert loaded[name].dtype == array.dtype and loaded[name].tobytes() == array.tobytes(), name


def test_transformers_loads_the_decoded_checkpoint(tmp_path):
    torch = optional("torch", "torch")
    transformers = optional("transformers", "transformers")
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                      tie_word_embeddings=True)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(tmp_path / "in", max_shard_size="20KB")  # sharded, tied lm_head left out, __metadata__
    assert (tmp_path / "in" / INDEX_NAME).exists()
    assert main(["encode", str(tmp_path / "in"), "-o", str(tmp_path / "m.nnc"), "--compress", "auto", "-q"]) == 0
    assert main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "out"), "--shard-size", "30KB", "-q"]) == 0
    (tmp_path / "out" / "config.json").write_bytes((tmp_path / "in" / "config.json").read_bytes())
    again = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "out", dtype=torch.bfloat16)
    before, after = model.state_dict(), again.state_dict()
    assert before.keys() == after.keys()
    for name in before:
        assert after[name].dtype == torch.bfloat16 and torch.equal(before[name], after[name]), name
    assert again.lm_head.weight.data_ptr() == again.model.embed_tokens.weight.data_ptr()  # still tied
