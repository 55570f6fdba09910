"""The error hierarchy (spec section 7, nncodec/errors.py): classes, bases, pickling."""

import pathlib
import pickle
import re

import pytest

import nncodec
from nncodec import errors

from checkers import check_rejects

SPEC = pathlib.Path(__file__).resolve().parents[1] / "spec" / "nncodec-format.md"

DECODE_ERRORS = ("FormatError", "UnsupportedVersionError", "UnsupportedFeatureError", "TruncatedError",
                 "TrailingDataError", "InconsistentError", "ChecksumError", "LimitExceededError")
ALL_CLASSES = [getattr(errors, name) for name in errors.__all__]


def test_every_class_is_exported():
    assert set(errors.__all__) == {"NNCodecError", "EncodeError", "DecodeError", "UnknownStageError",
                                   "BackendUnavailableError", *DECODE_ERRORS}
    for cls in ALL_CLASSES:
        assert getattr(nncodec, cls.__name__) is cls
        assert issubclass(cls, errors.NNCodecError)


def test_decode_errors_are_value_errors():
    assert issubclass(errors.DecodeError, ValueError)
    assert issubclass(errors.EncodeError, ValueError)
    assert not issubclass(errors.EncodeError, errors.DecodeError)
    for name in DECODE_ERRORS:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.DecodeError) and issubclass(cls, ValueError), name
    assert issubclass(errors.UnsupportedVersionError, errors.FormatError)
    assert issubclass(errors.UnknownStageError, KeyError)
    assert issubclass(errors.BackendUnavailableError, ImportError)


def test_decode_error_subclasses_are_exactly_the_spec_list():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    assert {c.__name__ for c in subclasses(errors.DecodeError)} >= set(DECODE_ERRORS)
    assert {c.__name__ for c in subclasses(errors.DecodeError) if c.__module__ == errors.__name__} \
        == set(DECODE_ERRORS)


def test_spec_rule_table_names_existing_classes():
    """Every error class named in the spec's rejection table (section 7) is a DecodeError of nncodec.errors."""
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("## 7. Rejection rules"):text.index("## 8.")]
    named = set()
    for row in re.findall(r"^\| (R[\d.]+(?:-[a-z])?|R6) \|.*\| ([^|]+) \|$", section, flags=re.M):
        named.update(re.findall(r"[A-Z][A-Za-z]+Error", row[1]))
    assert len(named) >= 6, named
    for name in named:
        assert issubclass(getattr(errors, name), errors.DecodeError), name


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_round_trip(cls, protocol):
    message = "[R3.2-a] bad magic: expected 89 4e, found ü"
    err = cls(message)
    back = pickle.loads(pickle.dumps(err, protocol=protocol))
    assert type(back) is cls
    assert str(back) == str(err) and message in str(back)
    assert back.args == err.args


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_limit_exceeded_keeps_attributes_through_pickle(protocol):
    err = errors.LimitExceededError("[R6] max_elements: declared 5 exceeds the limit 4", limit="max_elements",
                                    declared=5, maximum=4)
    back = pickle.loads(pickle.dumps(err, protocol=protocol))
    assert (type(back), back.limit, back.declared, back.maximum, str(back)) == (
        errors.LimitExceededError, "max_elements", 5, 4, str(err))
    bare = pickle.loads(pickle.dumps(errors.LimitExceededError("x"), protocol=protocol))
    assert (bare.limit, bare.declared, bare.maximum) == (None, None, None)


def test_raised_limit_error_pickles(backend):
    blob = nncodec.encode({"a": [1, 2, 3]})
    err = check_rejects(blob, errors.LimitExceededError, backend, limits=nncodec.DecodeLimits(max_elements=2))
    back = pickle.loads(pickle.dumps(err))
    assert (back.limit, back.declared, back.maximum, str(back)) == ("max_elements", 3, 2, str(err))


def test_decode_errors_catchable_as_value_error(backend):
    with pytest.raises(ValueError):
        nncodec.decode(b"not a container at all, but long enough", backend=backend)
    err = check_rejects(b"\x89NNC", errors.TruncatedError, backend)
    assert "[R3.1-c]" in str(err)


def test_unknown_stage_error_message_is_plain():
    """KeyError would repr() its message; UnknownStageError shows it as written."""
    assert str(errors.UnknownStageError("unknown coding 'x'")) == "unknown coding 'x'"
    assert str(errors.UnknownStageError()) == ""
