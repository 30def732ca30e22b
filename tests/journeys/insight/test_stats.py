"""journeys.insight.stats against published worked examples, and at its edges (no customers, nobody
or everybody converting).

Sources of the expected values:

- Wilson intervals: Newcombe RG (1998a), "Two-sided confidence intervals for the single
  proportion: comparison of seven methods", Statistics in Medicine 17:857-872, Table I, method 3
  (the score interval without continuity correction), to four decimals.
- Differences: Newcombe RG (1998b), "Interval estimation for the difference between independent
  proportions: comparison of eleven methods", Statistics in Medicine 17:873-890, Table II,
  method 10 (the hybrid score interval), examples (a) to (h), to four decimals. Examples (a) and
  (b) are also asserted by the R package propint (m-Py/propint, tests/testthat).
- The z-test: statsmodels' ``proportions_ztest`` docstring example (5/83 against 12/99,
  p = 0.159), whose test suite pins z = -1.4078304151258787, p = 0.15918129181156992 (GH 2969).
- The ratio: SciPy's ``scipy.stats.contingency.relative_risk`` docstring example (10/75 against
  12/225: RR 2.5, Katz interval 1.1261564003469628 to 5.549850800541033), and Fagerland MW,
  Lydersen S, Laake P (2015), "Recommended confidence intervals for two independent binomial
  proportions", Stat Methods Med Res 24:224-254, Table 5: the Katz log interval for 7/34
  against 1/34 is 0.91 to 54.
"""

from __future__ import annotations

import math

import pytest

from journeys.insight.stats import (
    MIN_PER_ARM,
    Interval,
    compare,
    newcombe_interval,
    proportion,
    relative_lift_interval,
    too_small_reason,
    two_proportion_p_value,
    wilson_interval,
    z_value,
)


def rounded(interval: Interval | None, places: int = 4) -> tuple[float, float]:
    assert interval is not None
    return round(interval.low, places), round(interval.high, places)


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0000, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
    ],
)
def test_wilson_interval_matches_newcombe_1998a_table_1(
    successes: int, trials: int, expected: tuple[float, float]
) -> None:
    assert rounded(wilson_interval(successes, trials)) == expected


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((56, 70, 48, 80), (0.0524, 0.3339)),  # (a)
        ((9, 10, 3, 10), (0.1705, 0.8090)),  # (b)
        ((6, 7, 2, 7), (0.0582, 0.8062)),  # (c)
        ((5, 56, 0, 29), (-0.0381, 0.1926)),  # (d)
        ((0, 10, 0, 20), (-0.1611, 0.2775)),  # (e)
        ((0, 10, 0, 10), (-0.2775, 0.2775)),  # (f)
        ((10, 10, 0, 20), (0.6791, 1.0000)),  # (g)
        ((10, 10, 0, 10), (0.6075, 1.0000)),  # (h)
    ],
)
def test_difference_interval_matches_newcombe_1998b_table_2_method_10(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    assert rounded(newcombe_interval(*counts)) == expected


def test_p_value_matches_the_statsmodels_worked_example() -> None:
    p = two_proportion_p_value(5, 83, 12, 99)
    assert p is not None and math.isclose(p, 0.15918129181156992, rel_tol=1e-9)
    # The same test with the arms swapped is two-sided: the same p.
    assert two_proportion_p_value(12, 99, 5, 83) == pytest.approx(p)


def test_relative_lift_interval_is_the_katz_interval_minus_one() -> None:
    scipy_example = relative_lift_interval(10, 75, 12, 225)
    assert scipy_example is not None
    assert scipy_example.low == pytest.approx(1.1261564003469628 - 1, rel=1e-9)
    assert scipy_example.high == pytest.approx(5.549850800541033 - 1, rel=1e-9)
    fagerland = relative_lift_interval(7, 34, 1, 34)
    assert fagerland is not None
    assert round(fagerland.low + 1, 2) == 0.91 and round(fagerland.high + 1) == 54


def test_z_value_is_the_two_sided_normal_quantile() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.99) == pytest.approx(2.575829, abs=1e-6)
    with pytest.raises(ValueError, match="confidence"):
        z_value(1.0)


def test_no_trials_is_unknown_not_zero() -> None:
    empty = proportion(0, 0)
    assert (empty.rate, empty.interval) == (None, None)
    assert newcombe_interval(0, 0, 3, 40) is None
    assert two_proportion_p_value(0, 0, 3, 40) is None
    result = compare(0, 0, 0, 0)
    assert result.difference is None and result.difference_interval is None
    assert result.too_small and not result.conclusive
    assert result.caveat is not None and "treatment has 0 customers" in result.caveat


def test_everyone_or_no_one_converting_stays_inside_zero_and_one() -> None:
    everyone = proportion(40, 40)
    assert everyone.rate == 1.0 and everyone.interval is not None
    assert everyone.interval.high == 1.0 and 0.9 < everyone.interval.low < 1.0
    no_one = proportion(0, 40)
    assert no_one.interval is not None and no_one.interval.low == 0.0
    # Nobody converting on either side: no variance, so no test, and nothing to conclude.
    assert two_proportion_p_value(0, 50, 0, 50) is None
    assert two_proportion_p_value(50, 50, 50, 50) is None
    nobody = compare(0, 50, 0, 50)
    assert nobody.too_small and nobody.caveat == "nobody converted in either arm yet"
    assert nobody.relative_lift is None and nobody.relative_lift_interval is None


def test_a_control_that_never_converts_has_no_relative_lift_but_a_difference() -> None:
    result = compare(12, 60, 0, 60)
    assert result.relative_lift is None and result.relative_lift_interval is None
    assert result.difference == pytest.approx(0.2)
    assert result.difference_interval is not None and result.difference_interval.low > 0
    assert result.conclusive and not result.too_small and result.caveat is None


def test_small_arms_are_flagged_whatever_the_interval_says() -> None:
    # Newcombe's example (b): the interval excludes zero, but ten per arm is too few.
    result = compare(9, 10, 3, 10)
    assert result.difference_interval is not None and result.difference_interval.low > 0
    assert result.too_small and not result.conclusive
    assert result.caveat == (
        f"treatment has 10 customers and control has 10 customers; at least {MIN_PER_ARM} "
        "per arm are needed"
    )
    assert too_small_reason(9, 30, 3, 29) == (
        f"control has 29 customers; at least {MIN_PER_ARM} per arm are needed"
    )


def test_a_large_enough_comparison_says_whether_it_concludes() -> None:
    # Newcombe's example (a): 70 and 80 customers, interval 0.0524 to 0.3339, above zero.
    shown = compare(56, 70, 48, 80)
    assert shown.conclusive and not shown.too_small and shown.caveat is None
    assert shown.difference == pytest.approx(0.2)
    assert shown.relative_lift == pytest.approx((56 / 70) / (48 / 80) - 1)
    assert shown.p_value is not None and shown.p_value < 0.05
    # Two equal rates: large enough, but nothing shown.
    same = compare(10, 100, 10, 100)
    assert not same.too_small and not same.conclusive
    assert same.difference == 0 and same.p_value == pytest.approx(1.0)
    assert same.caveat == "the 95% interval of the difference includes zero: no difference shown"
    # A journey that hurts is conclusive too, with a negative difference.
    hurts = compare(48, 80, 56, 70)
    assert hurts.conclusive and hurts.difference is not None and hurts.difference < 0


def test_counts_that_are_not_proportions_are_refused() -> None:
    with pytest.raises(ValueError, match="not a proportion"):
        proportion(5, 4)
    with pytest.raises(ValueError, match="not a proportion"):
        wilson_interval(-1, 4)
