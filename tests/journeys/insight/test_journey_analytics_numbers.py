"""journeys.insight.analytics on SQLite and PostgreSQL: a journey's numbers (entered, active,
ended, by status, the holdout and treatment arms and the lift, messages, exits, the steps
reached, the A/B variants), its cohorts by entry time and version, the caveat without a holdout,
and its timeseries by hour and by day. The rows are written the way running journeys write
them, by the worker's own activities in the DSL's order (tests/support/analytics_runs.py).

Running a few hundred journeys through Temporal would be too slow for the sample sizes a
conclusive lift needs, and would not let the test place runs at chosen times; the API test
(tests/api/analytics/test_analytics.py) runs real journeys, and so do the funnel tests
(test_journey_analytics_funnel.py). Expected numbers are derived from each test's plan of
customers, never written out.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from journeys.insight import analytics
from journeys.insight.stats import compare, proportion
from tests.conftest import Store
from tests.support.analytics_runs import (
    GOAL,
    KEY,
    T0,
    VARIANTS,
    Plan,
    Writer,
    document,
    published,
)


def scenario() -> list[Plan]:
    """80 treated customers (40 per variant) and 60 in the holdout; variant a converts one in
    two, b three in ten, the holdout one in ten: a lift large enough to be conclusive."""
    plans = []
    minute = 0
    for variant, converters, revenue in (("a", 20, 30.0), ("b", 12, 45.5)):
        for i in range(40):
            minute += 1
            plans.append(
                Plan(
                    holdout=False,
                    variant=variant,
                    started=T0 + timedelta(minutes=minute),
                    revenue=revenue if i < converters else None,
                    email=not (variant == "a" and i >= 35),  # five without an address
                    active=variant == "b" and i >= 37,  # three still inside
                )
            )
    for i in range(60):
        minute += 1
        variant = "a" if i % 2 else "b"
        plans.append(
            Plan(True, variant, T0 + timedelta(minutes=minute), revenue=12.0 if i < 6 else None)
        )
    return plans


async def test_a_journeys_numbers_follow_what_its_runs_did(store: Store) -> None:
    await published(store)
    writer = Writer(store)
    plans = scenario()
    for plan in plans:
        await writer.run(plan)
    await writer.refused(T0)

    async with store.sessions() as session:
        result = await analytics.journey_analytics(session, KEY)
    assert result is not None

    treated = [p for p in plans if not p.holdout]
    held = [p for p in plans if p.holdout]
    assert result.versions == [1]
    # The refused customer's first entry counts; the second is `not_entered`.
    assert result.entered == len(plans) + 1
    assert result.not_entered == 1
    assert result.active == sum(p.active for p in plans) + 1
    assert result.completed == sum(not p.active and not p.converted for p in plans)
    assert result.by_status == {
        "active": result.active,
        "completed": result.completed,
        "converted": sum(p.converted for p in plans),
        "not_entered": 1,
    }
    assert result.ended == result.entered - result.active

    # The arms and the lift.
    assert result.treatment.customers == len(treated) + 1  # the refused customer's first run
    assert result.holdout.customers == len(held)
    assert result.treatment.conversions == sum(p.converted for p in treated)
    assert result.holdout.conversions == sum(p.converted for p in held)
    assert result.treatment.revenue == pytest.approx(sum(p.revenue or 0 for p in treated))
    assert result.holdout.revenue == pytest.approx(sum(p.revenue or 0 for p in held))
    expected = compare(
        result.treatment.conversions,
        result.treatment.customers,
        result.holdout.conversions,
        result.holdout.customers,
    )
    assert result.lift.comparison == expected
    assert result.lift.comparison.conclusive and result.lift.comparison.difference > 0
    per_treated = result.treatment.revenue / result.treatment.customers
    per_held = result.holdout.revenue / result.holdout.customers
    assert result.lift.incremental_revenue == pytest.approx(
        (per_treated - per_held) * result.treatment.customers
    )

    # Messages by channel and status: the holdout was sent nothing; five had no email address.
    no_email = sum(not p.email for p in treated)
    assert {(m.channel, m.status): m.count for m in result.messages} == {
        ("email", "sent"): len(treated) - no_email,
        ("email", "skipped"): no_email,
        ("sms", "sent"): len(treated),
    }
    # Exits by reason, most frequent first.
    ends = Counter(
        ("converted", f"converted on {GOAL}")
        if p.converted
        else ("completed", "completed all steps")
        for p in plans
        if not p.active
    )
    assert [(e.status, e.reason, e.count) for e in result.exits] == [
        (status, reason, n) for (status, reason), n in ends.most_common()
    ]

    # Reached per step, in the document's order (the refused customer's run did no step).
    reached = {s.step: (s.type, s.reached) for s in result.steps}
    assert list(reached) == ["pause", "offer", "check", "nudge"]
    assert reached == {
        "pause": ("delay", len(plans)),
        "offer": ("send", len(plans)),  # the holdout reaches it too (audited as skipped)
        "check": ("branch", len(plans)),
        "nudge": ("send", len(plans)),
    }
    assert result.steps[1].share == pytest.approx(len(plans) / result.entered)

    # Variants: the treated customers only, each with its rate and the comparison with `a`.
    by_variant = {v.variant: v for v in result.variants}
    assert list(by_variant) == ["a", "b"]
    for name, variant in by_variant.items():
        arm = [p for p in treated if p.variant == name]
        assert (variant.step, variant.template) == ("offer", VARIANTS[name])
        assert variant.customers == len(arm)
        assert variant.sent == sum(p.email for p in arm)
        assert variant.conversions == sum(p.converted for p in arm)
        assert variant.revenue == pytest.approx(sum(p.revenue or 0 for p in arm))
        assert variant.rate == proportion(variant.conversions, variant.customers)
    a, b = by_variant["a"], by_variant["b"]
    assert a.vs_first is None
    assert b.vs_first == compare(b.conversions, b.customers, a.conversions, a.customers)


async def test_cohorts_by_entry_time_and_version(store: Store) -> None:
    v2 = document(nudge_channel="email")
    await published(store, v2)
    writer = Writer(store)
    plans = [
        Plan(False, "a", T0, revenue=10.0),
        Plan(True, "b", T0 + timedelta(hours=2), revenue=20.0),
        Plan(False, "b", T0 + timedelta(hours=4)),
        Plan(False, "a", T0 + timedelta(hours=4), revenue=5.0, version=2),
        Plan(True, "a", T0 + timedelta(days=1), version=2),
    ]
    for plan in plans:
        await writer.run(plan)
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=5)

    async with store.sessions() as session:
        window = await analytics.journey_analytics(session, KEY, since=since, until=until)
        first = await analytics.journey_analytics(session, KEY, version=1)
        second = await analytics.journey_analytics(session, KEY, version=2, until=until)
        missing_version = await analytics.journey_analytics(session, KEY, version=3)
        missing = await analytics.journey_analytics(session, "no-such-journey")

    assert missing is None and missing_version is None
    assert window is not None and first is not None and second is not None
    inside = [p for p in plans if since <= p.started < until]
    assert (window.since, window.until) == (since, until)
    assert window.entered == len(inside)
    assert window.conversions == sum(p.converted for p in inside)
    assert window.revenue == pytest.approx(sum(p.revenue or 0 for p in inside))
    assert window.versions == [1, 2]

    v1_plans = [p for p in plans if p.version == 1]
    assert first.entered == len(v1_plans)
    assert first.holdout.customers == sum(p.holdout for p in v1_plans)
    assert first.revenue == pytest.approx(sum(p.revenue or 0 for p in v1_plans))
    v2_plans = [p for p in plans if p.version == 2 and p.started < until]
    assert second.entered == len(v2_plans)
    assert [(s.step, s.type) for s in second.steps][-1] == ("nudge", "send")
    # Too few customers for a lift: flagged, with the reason.
    assert first.lift.comparison.too_small and not first.lift.comparison.conclusive
    assert "at least 30 per arm" in (first.lift.comparison.caveat or "")


async def test_a_journey_without_a_holdout_says_so(store: Store) -> None:
    await published(store)
    writer = Writer(store)
    await writer.run(Plan(False, "a", T0, revenue=3.0))
    async with store.sessions() as session:
        result = await analytics.journey_analytics(session, KEY)
    assert result is not None and result.holdout.customers == 0
    assert result.lift.comparison.caveat == (
        "no run was in the holdout: set entry.holdout_percent to measure lift"
    )
    assert result.lift.incremental_revenue is None
    assert result.holdout.rate.rate is None and result.treatment.rate.rate == 1.0


async def test_timeseries_buckets_each_count_by_its_own_time(store: Store) -> None:
    await published(store)
    writer = Writer(store)
    plans = [
        Plan(False, "a", T0 + timedelta(minutes=5), revenue=10.0),
        Plan(False, "b", T0 + timedelta(minutes=50)),
        Plan(True, "a", T0 + timedelta(hours=2, minutes=10), revenue=4.5),
        Plan(False, "a", T0 + timedelta(days=2, hours=3), revenue=1.0),
    ]
    for plan in plans:
        await writer.run(plan)
    # Messages go out an hour after entry, conversions 90 minutes after (Writer.run).
    sends = [p.started + timedelta(hours=1) for p in plans if not p.holdout for _ in range(2)]
    conversions = [(p.started + timedelta(minutes=90), p.revenue) for p in plans if p.converted]

    def hour(moment: datetime) -> datetime:
        return moment.replace(minute=0, second=0, microsecond=0)

    def day(moment: datetime) -> datetime:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    until = day(T0) + timedelta(days=3)
    async with store.sessions() as session:
        daily = await analytics.journey_timeseries(session, KEY, since=day(T0), until=until)
        hourly = await analytics.journey_timeseries(
            session, KEY, bucket="hour", since=T0, until=T0 + timedelta(hours=5)
        )
        everything = await analytics.journey_timeseries(session, KEY, bucket="day")
        other_version = await analytics.journey_timeseries(
            session, KEY, version=2, since=T0, until=until
        )
        with pytest.raises(analytics.TooManyBuckets, match="at most 2000"):
            await analytics.journey_timeseries(
                session, KEY, bucket="hour", since=T0, until=T0 + timedelta(days=100)
            )

    def expected(points: list[analytics.TimeseriesPoint], floor: Any) -> None:
        for point in points:
            assert point.entered == sum(floor(p.started) == point.start for p in plans)
            assert point.sent == sum(floor(s) == point.start for s in sends)
            converted = [r for at, r in conversions if floor(at) == point.start]
            assert point.conversions == len(converted)
            assert point.revenue == pytest.approx(sum(r or 0 for r in converted))

    assert [p.start for p in daily] == [day(T0) + timedelta(days=n) for n in range(3)]
    expected(daily, day)
    assert daily[1].entered == daily[1].sent == daily[1].conversions == 0  # an empty day
    assert [p.start for p in hourly] == [T0 + timedelta(hours=n) for n in range(5)]
    expected(hourly, hour)
    # Without a range: from the first bucket with data to today (at least).
    assert everything[0].start == day(T0)
    assert sum(p.entered for p in everything) == len(plans)
    assert sum(p.conversions for p in everything) == len(conversions)
    assert all(p.entered == p.sent == p.conversions == 0 for p in other_version)
