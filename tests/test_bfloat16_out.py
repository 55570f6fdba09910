"""Transforms with bfloat16 output (spec 4): binary64 results rounded once to bfloat16, nearest even, checked against
an exact rational oracle on both backends; the lossy front end keeps bfloat16 and float16 inputs in their dtype."""

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

import nncodec
from nncodec import kernels

BF16 = np.dtype(ml_dtypes.bfloat16)
# (significand bits, exponent of the smallest subnormal, exponent of the overflow bound 2**e): spec 3.7's types
FORMATS = {BF16: (8, -133, 128), np.dtype(np.float16): (11, -24, 16)}


def oracle(x, dtype):
    """float64 ``x`` rounded to ``dtype`` to nearest, ties to even, in exact rational arithmetic: a Python float
    (inf past the overflow bound), NaN for NaN."""
    if math.isnan(x) or math.isinf(x) or x == 0:
        return x
    digits, tiny, top = FORMATS[np.dtype(dtype)]
    a = Fraction(abs(x))
    exponent = math.frexp(abs(x))[1]  # 2**(exponent-1) <= |x| < 2**exponent
    quantum = Fraction(2) ** max(exponent - digits, tiny)
    n, rest = divmod(a, quantum)
    if rest * 2 > quantum or (rest * 2 == quantum and n % 2 == 1):
        n += 1
    value = n * quantum
    if value >= Fraction(2) ** top:
        return math.copysign(math.inf, x)
    return math.copysign(float(value), x)


def oracle_bits(values):
    """bfloat16 bit patterns of the oracle's roundings (NaN: the quiet NaN 0x7FC0 with its sign)."""
    out = []
    for x in np.asarray(values, dtype=np.float64).tolist():
        if math.isnan(x):
            out.append(0x7FC0 | (0x8000 if math.copysign(1, x) < 0 else 0))
        else:
            out.append(int(np.array(oracle(x, BF16), dtype=np.float32).view(np.uint32)) >> 16)
    return np.array(out, dtype=np.uint16)


TWO = 2.0
SPECIAL = [
    1 + TWO ** -8 + TWO ** -30,       # just above a tie, exact in binary64: rounding via binary32 twice gives 1.0
    1 + 3 * TWO ** -8 - TWO ** -30,   # just below a tie: twice gives the even neighbour above
    1 + TWO ** -8, 1 + 3 * TWO ** -8,  # exact ties: to even
    -(1 + TWO ** -8 + TWO ** -30),
    TWO ** -134 + TWO ** -160,        # just above half the smallest subnormal (twice: 0)
    TWO ** -134, 3 * TWO ** -134, TWO ** -133, TWO ** -126 - TWO ** -134, TWO ** -126 - TWO ** -135,
    TWO ** -150, TWO ** -1074, -TWO ** -1074, 5e-324, TWO ** -127 + TWO ** -140,
    (2 - TWO ** -7) * TWO ** 127,     # the largest finite bfloat16
    (2 - TWO ** -8) * TWO ** 127,     # the overflow threshold (a tie): inf
    (2 - TWO ** -8) * TWO ** 127 - TWO ** 87,  # just below it (twice: inf)
    float(np.finfo(np.float32).max), TWO ** 128, 1e300, np.finfo(np.float64).max, -np.finfo(np.float64).max,
    0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 1.0, -1.0, 0.1, -3.14159,
]


def _random_doubles(count, seed):
    """Random binary64 bit patterns with exponents around bfloat16's range, and as many within a few units in the
    last place of a bfloat16 tie (7 random mantissa bits, then the half bit, then -3..3 in the last bits)."""
    rng = np.random.default_rng(seed)
    signs = rng.integers(0, 2, size=2 * count, dtype=np.uint64) << np.uint64(63)
    exponents = rng.integers(1023 - 140, 1023 + 130, size=2 * count, dtype=np.uint64) << np.uint64(52)
    anywhere = rng.integers(0, 2 ** 52, size=count, dtype=np.uint64)
    near_tie = ((rng.integers(0, 2 ** 7, size=count) << 45) + (1 << 44) + rng.integers(-3, 4, size=count))
    mantissas = np.concatenate([anywhere, near_tie.astype(np.uint64)])
    return (signs | exponents | mantissas).view(np.float64)


@pytest.mark.parametrize("values", [np.array(SPECIAL), _random_doubles(3000, 1)], ids=["special", "random"])
def test_to_bfloat16_is_one_rounding(backend, values):
    got = kernels.module("dequant", backend).to_bfloat16(values)
    assert got.dtype == BF16
    assert np.array_equal(got.view(np.uint16), oracle_bits(values))


def test_double_rounding_cases_differ_from_rounding_twice():
    """The special values include cases where rounding to nearest twice is wrong (the test above would catch it)."""
    values = np.array(SPECIAL[:2] + [TWO ** -134 + TWO ** -160, (2 - TWO ** -8) * TWO ** 127 - TWO ** 87])
    twice = values.astype(np.float32).astype(BF16).view(np.uint16)
    assert not np.any(twice == oracle_bits(values))


def test_kernels_round_to_bfloat16(backend):
    """uniform, dq and codebook with bfloat16 output give the oracle's rounding of their binary64 results."""
    dequant = kernels.module("dequant", backend)
    levels = np.arange(-300, 300, dtype=np.int16).reshape(20, 30)
    steps = np.array([1 + 2 ** -8 + 2 ** -20, 0.1], dtype=np.float32)[np.arange(20) % 2]
    got = dequant.uniform(levels, steps, 0, BF16)
    exact = levels.astype(np.float64) * steps.astype(np.float64)[:, None]
    assert got.dtype == BF16 and np.array_equal(got.view(np.uint16).reshape(-1), oracle_bits(exact.reshape(-1)))
    wide = dequant.dependent(levels, steps, 0, np.float64, 16)
    got = dequant.dependent(levels, steps, 0, BF16, 16)
    assert np.array_equal(got.view(np.uint16).reshape(-1), oracle_bits(wide.reshape(-1)))
    entries = np.array([0.1, -2.5, 1 + 2 ** -8 + 2 ** -20, 3e38], dtype=np.float32)
    indices = (np.arange(50) % 4).astype(np.uint8).reshape(5, 10)
    got = dequant.codebook(indices, entries, BF16)
    assert np.array_equal(got.view(np.uint16).reshape(-1), oracle_bits(entries.astype(np.float64)[indices.reshape(-1)]))


QUANTIZERS = ["uniform:bits=6", "uniform:sqnr=30,axis=0", "rdoq:bits=5,lam=0.1", "dq:sqnr=30", "dq:sqnr=25,states=8",
              "kmeans:k=16", "log:bits=4", "binary", "ternary"]


@pytest.mark.parametrize("quantize", QUANTIZERS)
@pytest.mark.parametrize("dtype", [BF16, np.dtype(np.float16)], ids=["bf16", "f16"])
def test_quantized_narrow_floats_decode_to_their_dtype(backend, quantize, dtype):
    """bfloat16 and float16 inputs decode to their own dtype; each value is the binary64 reconstruction (the same
    quantization of the same values as float64) rounded once by the oracle."""
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((40, 32)) * 0.05).astype(np.float32).astype(dtype)
    blob = nncodec.encode({"w": w}, quantize=quantize, entropy="cabac", backend=backend)
    got = nncodec.decode(blob, backend=backend)["w"]
    wide = nncodec.decode(nncodec.encode({"w": w.astype(np.float64)}, quantize=quantize, entropy="cabac",
                                         backend=backend), backend=backend)["w"]
    assert got.dtype == dtype and got.shape == w.shape
    assert not np.array_equal(wide, w.astype(np.float64))  # quantized, not stored losslessly
    expected = np.array([oracle(x, dtype) for x in wide.reshape(-1).tolist()], dtype=dtype)
    assert np.array_equal(got.reshape(-1).astype(np.float64), expected.astype(np.float64))


@pytest.mark.parametrize("quantize", [None, "uniform:bits=8"])
def test_factored_bfloat16_decodes_to_bfloat16(backend, quantize):
    """Low-rank factors of a bfloat16 tensor are bfloat16 chains (quantized or not), so the tensor stays bfloat16."""
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((64, 4)) @ rng.standard_normal((4, 48))).astype(BF16)
    blob = nncodec.encode({"w": w}, factorize="svd:rank=4", quantize=quantize, backend=backend)
    got = nncodec.decode(blob, backend=backend)["w"]
    assert got.dtype == BF16
    error = got.astype(np.float64) - w.astype(np.float64)
    assert np.sum(error ** 2) < 1e-3 * np.sum(w.astype(np.float64) ** 2)
