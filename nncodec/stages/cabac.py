"""cabac stream coding (spec 3.8 code 3, defined in spec/cabac.md): context-adaptive binary arithmetic coding of
integer levels with DeepCABAC's binarization."""

from .integer import IntegerCoding


class CabacCoding(IntegerCoding):
    """Context-adaptive binary arithmetic coding of an integer stream (spec/cabac.md).

    Parameters (encoder only, see spec/cabac.md §5.3.2.8): ``gt_flags`` (0..32, default 4), ``rates`` (five
    (fast, slow) estimator shifts), ``row_length`` (0: none), ``bounded`` (None: automatic, False, "one-sided",
    "two-sided"), ``max_magnitude`` and ``segments`` (default: 2 from 2**17 elements on).
    """

    coding_id = 3
    name = "cabac"
    kernel = "cabac"
