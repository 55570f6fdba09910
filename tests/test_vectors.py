"""Golden vectors (spec/vectors/manifest.toml): every decoder must decode the valid ones to the recorded arrays and
reject the invalid ones with the recorded error class and rule; the encoder must reproduce the valid ones."""

import hashlib
import pathlib
import re

import numpy as np
import pytest
import zstandard

import nncodec
from nncodec import errors
from nncodec.format.dtypes import DTYPE_CODES, numpy_dtype
from spec.vectors import VECTORS_DIR, load_manifest, vector_bytes
from spec.vectors.worked_example import dumped_vectors

from checkers import assert_same_array, check_rejects
from skips import skip

MANIFEST = load_manifest()
ENTRIES = MANIFEST["vector"]
VALID = [e for e in ENTRIES if e["expect"] == "ok"]
INVALID = [e for e in ENTRIES if e["expect"] != "ok"]
WORKED_EXAMPLE = VECTORS_DIR.parent / "worked-example.md"

# Rules (section 7, huffman.md, cabac.md) no container v1 vector can trigger, each with the reason. Keep it short.
UNTRIGGERABLE_RULES = {}  # every rule can be triggered by a vector


def _stem(entry):
    return pathlib.PurePath(entry["file"]).stem


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _names(row):
    """The tensor names a manifest row stands for: its own, then its aliases' (they decode to the same array)."""
    return [row["name"], *row.get("aliases", ())]


def expected_arrays(entry):
    """``{tensor name: array}`` from the vector's .npz, in directory order (bfloat16 as nncodec.BFloat16, float8
    viewed as its ml_dtypes type: the .npz holds their unsigned bits)."""
    path = VECTORS_DIR / entry["file"].replace(".nnc", ".npz")
    out = {}
    with np.load(path, allow_pickle=False) as stored:
        for row in entry["arrays"]:
            values = stored[row["key"]]
            if row["dtype"] == "bfloat16":
                values = nncodec.BFloat16(values)
            elif row["dtype"].startswith("float8"):
                values = values.view(numpy_dtype(DTYPE_CODES[row["dtype"]]))
            out.update(dict.fromkeys(_names(row), values))
    return out


def _decoded(blob, backend):
    result = nncodec.decode(blob, backend=backend)
    return result if isinstance(result, dict) else {"": result}


@pytest.mark.parametrize("entry", ENTRIES, ids=_stem)
def test_file_matches_manifest(entry):
    assert _sha256(vector_bytes(entry)) == entry["sha256"], f"{entry['file']} changed; rerun make_vectors.py"


def test_manifest_lists_every_file():
    listed = {e["file"] for e in ENTRIES}
    listed |= {e["file"].replace(".nnc", ".npz") for e in VALID}
    present = {str(p.relative_to(VECTORS_DIR)) for folder in ("valid", "invalid")
               for p in (VECTORS_DIR / folder).iterdir()}
    assert present == listed


@pytest.mark.parametrize("entry", VALID, ids=_stem)
def test_valid_vector_decodes(entry, backend):
    decoded = _decoded(vector_bytes(entry), backend)
    expected = expected_arrays(entry)
    assert list(decoded) == [name for row in entry["arrays"] for name in _names(row)]
    for row in entry["arrays"]:
        for name in _names(row):
            got = decoded[name]
            assert list(got.shape) == row["shape"]
            assert _sha256(np.ascontiguousarray(got).tobytes()) == row["sha256"], name
            want = expected[name]
            if isinstance(want, nncodec.BFloat16):
                assert np.array_equal(np.ascontiguousarray(got).view(np.uint16), want.bits)
            else:
                assert_same_array(want, got)


@pytest.mark.parametrize("entry", INVALID, ids=_stem)
def test_invalid_vector_rejected(entry, backend):
    check_rejects(vector_bytes(entry), getattr(errors, entry["expect"]), backend, rule=entry["rule"])


def _uses_zstd(entry):
    return any("zstd" in str(value) for key, value in entry["encode"].items() if key in ("compress", "entropy"))


@pytest.mark.parametrize("entry", [e for e in VALID if e["encoder"] == "nncodec.encode"], ids=_stem)
def test_encoder_reproduces_vector(entry, backend):
    if _uses_zstd(entry) and ".".join(map(str, zstandard.ZSTD_VERSION)) != MANIFEST["zstd_version"]:
        skip("zstd-version", MANIFEST["zstd_version"])
    options = dict(entry["encode"])
    arrays = expected_arrays(entry)
    weights = next(iter(arrays.values())) if options.pop("single_array", False) else arrays
    assert nncodec.encode(weights, backend=backend, **options) == vector_bytes(entry)


def _rule_table(document, start, end=None):
    """The rule ids of the rejection-rule table between the headings ``start`` and ``end`` of ``document``."""
    text = (VECTORS_DIR.parent / document).read_text(encoding="utf-8")
    section = text[text.index(start):text.index(end) if end else None]
    return set(re.findall(r"^\| (R[0-9][0-9.]*(?:-[a-z])?) \|", section, re.M))


def _rejection_rules():
    """Every rule of section 7 and of the coding documents' rule tables (huffman.md, cabac.md)."""
    return (_rule_table("nncodec-format.md", "## 7. Rejection rules", "## 8.")
            | _rule_table("huffman.md", "## 5.3.1.9", "## 5.3.1.10")
            | _rule_table("cabac.md", "## 5.3.2.9", "## 5.3.2.10"))


def test_every_rule_has_an_invalid_vector():
    rules = _rejection_rules()
    assert len(rules) >= 70
    covered = {e["rule"] for e in INVALID}
    assert not (covered - rules), f"vectors name rules no rule table lists: {covered - rules}"
    assert not (set(UNTRIGGERABLE_RULES) & covered), "a rule listed as untriggerable has a vector: unlist it"
    missing = rules - covered - set(UNTRIGGERABLE_RULES)
    assert not missing, f"rules without an invalid vector: {sorted(missing)}"


def test_worked_example_matches_vectors():
    dumps = dumped_vectors(WORKED_EXAMPLE.read_text(encoding="utf-8"))
    assert set(dumps) == {"valid/001-empty.nnc", "valid/030-worked-example.nnc"}
    for file, data in dumps.items():
        assert data == (VECTORS_DIR / file).read_bytes(), f"worked-example.md disagrees with {file}"
