"""What cabac could gain from magnitude contexts that look further back than the two previous levels.

    python bench/cabac_contexts.py [--bits 5 8] [--npz PATH] [--designs NAME ...]

For every tensor of bench/levels.py (>= 1000 weights), the levels are walked once per context design with the
binarization of spec/cabac.md 5.3.2.5 (signed mode, K = 4) and the exact estimator of 5.3.2.4 (the reference's
``_Context``, default rates); the figure is the adaptive code length, the sum of -log2 P(bin) over the
context-coded bins plus one bit per bypass bin, without headers or termination (within 0.01% of the coded
size). Designs: the ``mag`` class of 5.3.2.6 (context set 0, from 2|p1| + |p2|), or ``mag`` taken from a running
scale of |level|: a row EMA (scan order), or the mean of a row EMA and a column EMA over the tensor's matrix view
(rows = axis 0). EMAs are fixed point (units of 2**-8 of a level, |level| clipped at 63) with a count-based
warm-up: ``e = e - (e >> k) + (m << (8 - k))``, ``k = min(K, bitlen(n))`` where n counts the values seen (row: 6,
column: 8); the row EMA restarts at each row; ``mag = class(3 * scale >> 8)``.

Neighbour designs add one more previous level to the sum that gives ``mag``, class(2|p1| + |p2| + |n|), where n is
the level one kernel row up in the same 2-D kernel ("kernel row above", convolutions; 0 in the kernel's first row),
the level at the same kernel position of the previous input channel ("previous channel", convolutions; 0 for the
first input channel), or the
level in the same column of the previous row of the matrix view ("previous row", 2-D tensors). "kernel position"
keeps set 0's ``mag`` and gives every kernel position (index mod kh*kw) its own sig and gt contexts. A design that
does not apply to a tensor codes it as set 0. The last row, "best per tensor", takes each tensor's smallest design
(an oracle: an encoder would have to signal its choice). Pure Python: about 40 s per design and setting.
"""

import argparse
import math
import sys

import numpy as np

from _common import ROOT, SHARED_NPZ, machine
from levels import quantized_levels

sys.path.append(str(ROOT))  # an installed nncodec wins; else the checkout

from nncodec.kernels.reference import cabac as ref  # noqa: E402

K = 4
ROW_SHIFT, COLUMN_SHIFT = 6, 8
CLIP = 63


def ema_update(value, magnitude, count, shift_cap):
    """One fixed-point EMA step with the count-based warm-up described in the module docstring."""
    shift = min(shift_cap, count.bit_length())
    return value - (value >> shift) + (min(magnitude, CLIP) << (8 - shift))


NEIGHBOUR_DESIGNS = ("kernel row above", "previous channel", "previous row")
DESIGNS = ("set 0", "row EMA", "row+column EMA", "kernel position") + NEIGHBOUR_DESIGNS


def applies(design, shape):
    """Whether ``design`` differs from set 0 on a tensor of this shape."""
    if design in ("kernel row above", "previous channel", "kernel position"):
        return len(shape) == 4 and shape[2] * shape[3] > 1
    if design == "previous row":
        return len(shape) == 2
    return True


def neighbour_offset(design, shape, index):
    """How far back the extra neighbour of a neighbour design is from ``index``, or 0 where it has none."""
    if design == "kernel row above":
        return shape[3] if (index // shape[3]) % shape[2] else 0
    if design == "previous channel":
        kernel = shape[2] * shape[3]
        return kernel if (index // kernel) % shape[1] else 0
    return shape[1]                                     # previous row


def code_length(levels, shape, design):
    """Adaptive code length in bits of ``levels`` (1-D int64, a tensor of ``shape``) under one context design."""
    ctx = ref._new_contexts(bytes([(8 << 4) | 12] * 5))
    extra = {}                                          # the per-position sig and gt contexts of "kernel position"
    bits = 0.0
    row_length = levels.size // shape[0]
    kernel = shape[2] * shape[3] if len(shape) == 4 else 1
    values = levels.tolist()

    def code(model, bin):
        nonlocal bits
        p = model.probability() / 32768
        bits -= math.log2(p if bin == 0 else 1 - p)
        model.adapt(bin)

    def context(index, position):
        if design != "kernel position":
            return ctx[index]
        return extra.setdefault((index, position), ref._Context((8 << 4) | 12))

    rows = row_length if design == "row+column EMA" else 0
    column_ema = [0] * rows
    row_ema = row = column = 0
    p1 = p2 = 0
    for i, x in enumerate(values):
        if rows and column == rows:
            row, column, row_ema = row + 1, 0, 0
        m, negative = abs(x), x < 0
        mag, sig, sign = ref._neighbourhood(p1, p2)
        if design in ("row EMA", "row+column EMA"):
            scale = row_ema if not rows or row == 0 else (row_ema + column_ema[column]) >> 1
            mag = ref._mag_class(3 * scale >> 8)
            sig = ref.OFF_SIG + mag * 3 + ref._sign_class(p1)
        elif design in NEIGHBOUR_DESIGNS:
            back = neighbour_offset(design, shape, i)
            n = abs(values[i - back]) if back and i >= back else 0
            mag = ref._mag_class(min(2 * abs(p1) + abs(p2) + n, 1 << 18))
            sig = ref.OFF_SIG + mag * 3 + ref._sign_class(p1)
        position = i % kernel
        code(context(sig, position), int(m != 0))
        if m:
            code(ctx[sign], int(negative))
            gt_base = ref.OFF_GT + mag * 3 + ref._relation(p1, negative)
            for k in range(1, K + 1):
                code(context(gt_base + (k - 1) * ref.MAG_CLASSES * 3, position), int(m > k))
                if m == k:
                    break
            if m > K:
                t = m - K                               # r + 1
                length = t.bit_length() - 1             # levels here stay far below the escape
                for j in range(length + 1):
                    code(ctx[ref.OFF_PREFIX + j * ref.MAG_CLASSES + mag], int(j < length))
                if length:
                    code(ctx[ref.OFF_SUFFIX + length - 1], (t >> (length - 1)) & 1)
                    bits += length - 1
        row_ema = ema_update(row_ema, m, column, ROW_SHIFT)
        if rows:
            column_ema[column] = ema_update(column_ema[column], m, row, COLUMN_SHIFT)
        column += 1
        p2, p1 = p1, x
    return bits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[5, 8])
    parser.add_argument("--npz", default=str(SHARED_NPZ))
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS),
                        help="set 0 is always measured: it is the base")
    args = parser.parse_args()
    print(machine())
    print("| setting | design | adaptive code length b/w | / set 0 |")
    print("|---|---|---:|---:|")
    with np.load(args.npz, allow_pickle=False) as z:
        shapes = {name: z[name].shape for name in z.files}
    designs = ["set 0"] + [d for d in args.designs if d != "set 0"]
    for bits in args.bits:
        levels = quantized_levels(args.npz, bits)
        n = sum(a.size for a in levels.values())
        lengths = {}        # (design, tensor) -> bits
        for design in designs:
            for name, a in levels.items():
                lengths[design, name] = (code_length(a, shapes[name], design) if applies(design, shapes[name])
                                         else lengths["set 0", name])
        base = sum(lengths["set 0", name] for name in levels)
        rows = [(design, sum(lengths[design, name] for name in levels)) for design in designs]
        rows.append(("best per tensor", sum(min(lengths[d, name] for d in designs) for name in levels)))
        for design, total in rows:
            print(f"| Q{bits} | {design} | {total / n:.5f} | {total / base:.5f} |")


if __name__ == "__main__":
    main()
