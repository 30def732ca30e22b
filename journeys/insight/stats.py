"""The statistics behind journey analytics: does a journey (or one A/B variant) convert more
customers than its control group, and how sure can we be?

Every function is pure and takes plain counts, so the numbers the API shows can be checked by
hand against published worked examples (tests/journeys/insight/test_stats.py cites them).

Why these methods:

- A conversion rate's interval is Wilson's score interval (Wilson 1927). The textbook
  ``p ± z·√(p(1-p)/n)`` (Wald) collapses to a zero-width interval at 0 or n conversions and
  covers far less often than it claims at the small counts a new journey has; Wilson's stays
  inside [0, 1] and keeps close to its nominal coverage (Newcombe 1998a, Brown, Cai and
  DasGupta 2001).
- The difference of two rates (treatment - holdout) uses Newcombe's hybrid score interval
  (Newcombe 1998b, method 10), built from the two Wilson intervals: it behaves at 0 and at n
  conversions, where the Wald interval for a difference is meaningless.
- The relative lift (treatment / holdout - 1) uses the Katz log interval for a ratio of
  proportions (Katz et al. 1978), undefined when either arm has no conversion.
- The p-value is the pooled two-proportion z-test (equal to Pearson's chi-square test of the
  2x2 table without continuity correction).

"Too small to conclude" is returned as a flag with the reason in words, never raised: fewer
than :data:`MIN_PER_ARM` customers in an arm, or no conversion at all, is the ordinary state
of a journey that started this morning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95
# Below this many customers in an arm the normal approximations behind the p-value and the
# relative lift are not trusted, whatever the interval says (the usual rule of thumb).
MIN_PER_ARM = 30


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]``."""

    low: float
    high: float

    def excludes(self, value: float) -> bool:
        return value < self.low or value > self.high


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``trials`` with its Wilson interval; ``rate`` and ``interval`` are
    ``None`` when there are no trials (a rate of nothing is not zero, it is unknown)."""

    successes: int
    trials: int
    rate: float | None
    interval: Interval | None


@dataclass(frozen=True)
class Comparison:
    """A treatment's conversion against its control's.

    ``difference`` is treatment rate - control rate (absolute lift, in rate units: 0.05 is five
    percentage points) with its Newcombe interval; ``relative_lift`` is treatment / control - 1
    (0.25 is "converts 25% more") with its Katz interval. ``too_small`` says the samples are too
    small to conclude anything, ``caveat`` says why; ``conclusive`` is true only when they are
    large enough *and* the difference's interval excludes zero, i.e. the data show, at the
    stated confidence, that the treatment converts more (difference > 0) or less (< 0).
    """

    treatment: Proportion
    control: Proportion
    difference: float | None
    difference_interval: Interval | None
    relative_lift: float | None
    relative_lift_interval: Interval | None
    p_value: float | None
    too_small: bool
    conclusive: bool
    caveat: str | None
    confidence: float


def z_value(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal quantile: 1.959964 for 95%."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must be between 0 and 1")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def _check_counts(successes: int, trials: int) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"{successes} successes of {trials} trials is not a proportion")


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Wilson's score interval for ``successes / trials``; ``None`` for no trials."""
    _check_counts(successes, trials)
    if trials == 0:
        return None
    z = z_value(confidence)
    z2 = z * z
    n = trials
    centre = (successes + z2 / 2) / (n + z2)
    half = z / (n + z2) * math.sqrt(successes * (n - successes) / n + z2 / 4)
    # Exact at the edges: rounding must not put 0/n above 0 or n/n below 1.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def proportion(successes: int, trials: int, confidence: float = CONFIDENCE) -> Proportion:
    """A conversion rate with its Wilson interval."""
    interval = wilson_interval(successes, trials, confidence)
    rate = successes / trials if trials else None
    return Proportion(successes, trials, rate, interval)


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE
) -> Interval | None:
    """Newcombe's hybrid score interval (1998, method 10) for ``x1/n1 - x2/n2``; ``None`` when
    either sample is empty."""
    first = wilson_interval(x1, n1, confidence)
    second = wilson_interval(x2, n2, confidence)
    if first is None or second is None:
        return None
    p1, p2 = x1 / n1, x2 / n2
    delta = p1 - p2
    low = delta - math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2)
    high = delta + math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))


def relative_lift_interval(
    x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE
) -> Interval | None:
    """The Katz log interval for ``(x1/n1) / (x2/n2)``, minus 1 (a relative lift); ``None``
    when either arm has no trials or no conversion (the ratio or its log is undefined)."""
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    if x1 == 0 or x2 == 0:
        return None
    ratio = (x1 / n1) / (x2 / n2)
    error = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    z = z_value(confidence)
    return Interval(ratio * math.exp(-z * error) - 1, ratio * math.exp(z * error) - 1)


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled z-test of ``x1/n1 == x2/n2``; ``None`` when a sample is
    empty, or nobody (or everybody) converted in both, where the test has no variance."""
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    if n1 == 0 or n2 == 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance == 0:
        return None
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return 2 * (1 - NormalDist().cdf(abs(z)))


def too_small_reason(
    x1: int, n1: int, x2: int, n2: int, *, min_per_arm: int = MIN_PER_ARM
) -> str | None:
    """Why two samples are too small to conclude from, in words; ``None`` when they are not.

    Fewer than ``min_per_arm`` customers in either arm, or no conversion in either: then any
    difference seen may well be chance, and the normal approximations behind the p-value and
    the relative lift do not hold.
    """
    small = [
        f"{name} has {n} customer{'s' if n != 1 else ''}"
        for name, n in (("treatment", n1), ("control", n2))
        if n < min_per_arm
    ]
    if small:
        return f"{' and '.join(small)}; at least {min_per_arm} per arm are needed"
    if x1 + x2 == 0:
        return "nobody converted in either arm yet"
    return None


def compare(
    treatment_conversions: int,
    treatment_customers: int,
    control_conversions: int,
    control_customers: int,
    *,
    confidence: float = CONFIDENCE,
    min_per_arm: int = MIN_PER_ARM,
) -> Comparison:
    """Treatment against control: both rates, the difference and the relative lift with their
    intervals, the p-value, and whether one may conclude (see :class:`Comparison`)."""
    x1, n1, x2, n2 = (
        treatment_conversions,
        treatment_customers,
        control_conversions,
        control_customers,
    )
    treatment = proportion(x1, n1, confidence)
    control = proportion(x2, n2, confidence)
    difference = (
        treatment.rate - control.rate
        if treatment.rate is not None and control.rate is not None
        else None
    )
    interval = newcombe_interval(x1, n1, x2, n2, confidence)
    relative = (
        treatment.rate / control.rate - 1
        if treatment.rate is not None and control.rate  # None or zero: undefined
        else None
    )
    caveat = too_small_reason(x1, n1, x2, n2, min_per_arm=min_per_arm)
    too_small = caveat is not None
    conclusive = not too_small and interval is not None and interval.excludes(0.0)
    if not too_small and not conclusive:
        level = f"{confidence:.0%}"
        caveat = f"the {level} interval of the difference includes zero: no difference shown"
    return Comparison(
        treatment=treatment,
        control=control,
        difference=difference,
        difference_interval=interval,
        relative_lift=relative,
        relative_lift_interval=relative_lift_interval(x1, n1, x2, n2, confidence),
        p_value=two_proportion_p_value(x1, n1, x2, n2),
        too_small=too_small,
        conclusive=conclusive,
        caveat=caveat,
        confidence=confidence,
    )
