"""Fuzz target: the lazy decode of sparse layouts (spec 4.6 to 4.9), differential over the backends.

    python fuzz/fuzz_layouts_decode.py -max_total_time=120 -artifact_prefix=fuzz/crashes/ /tmp/nnc-corpus \
        fuzz/corpus/decode

Input: container bytes (``fuzz/corpus/decode/seed-layouts.nnc`` and the spec's layout vectors are good seeds).
A bug is any exception other than a :class:`nncodec.errors.DecodeError`, a lazy decode
(``materialize=False``) that disagrees with the materialized one (a different error class, or a structure whose
``todense()`` differs from the array), or backends that disagree. Checked on the bytes and on ``reseal(bytes)``.
"""

import pathlib
import warnings

from _harness import BACKENDS, LIMITS, ROOT, error_id, fuzz, outcome

import nncodec
from crafting import reseal
from nncodec.errors import DecodeError


def _lazy(data, backend):
    """The lazy decode as ("ok", {name: (dtype, shape, bytes)}) or ("error", class name and rule id)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = nncodec.decode(data, limits=LIMITS, backend=backend, materialize=False)
            result = result if isinstance(result, dict) else {"": result}
            dense = {n: v if hasattr(v, "tobytes") else v.todense() for n, v in result.items()}
    except DecodeError as exc:
        return "error", error_id(exc)
    except Exception as exc:
        raise AssertionError(f"{backend} lazy decode let {type(exc).__name__} escape: {exc}") from exc
    return "ok", {n: (a.dtype.str, a.shape, a.tobytes()) for n, a in dense.items()}


def _check(data):
    results = []
    for backend in BACKENDS:
        whole = outcome(data, backend)[0]
        lazy = _lazy(data, backend)
        if whole != lazy:
            raise AssertionError(f"{backend}: materialized {whole[0]} {whole[1] if whole[0] == 'error' else ''}, "
                                 f"lazy {lazy[0]} {lazy[1] if lazy[0] == 'error' else ''}")
        results.append(lazy)
    if any(r != results[0] for r in results):
        raise AssertionError(f"backends disagree on {data[:64].hex()}")


def TestOneInput(data):
    data = bytes(data)
    _check(data)
    sealed = reseal(data)
    if sealed != data:
        _check(sealed)


def seeds():
    """The layout vectors of spec/vectors/valid (050-059) and the decode corpus' layout seed."""
    paths = sorted((ROOT / "spec" / "vectors" / "valid").glob("05?-*.nnc"))
    paths.append(ROOT / "fuzz" / "corpus" / "decode" / "seed-layouts.nnc")
    return [pathlib.Path(p).read_bytes() for p in paths]


def main():
    fuzz(TestOneInput)


if __name__ == "__main__":
    main()
