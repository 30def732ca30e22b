"""api.charts: the console's SVG charts are well-formed, escape what they show, and draw bars
and lines to scale. Pure functions over the analytics dataclasses: no servers needed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from api.console.charts import BAR_WIDTH, funnel_svg, timeseries_svg
from journeys.insight.analytics import (
    Arm,
    JourneyAnalytics,
    Lift,
    StepReach,
    TimeseriesPoint,
)
from journeys.insight.stats import compare, proportion

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script>&'


def analytics(key: str, entered: int, steps: list[StepReach]) -> JourneyAnalytics:
    arm = Arm(entered, 0, 0.0, proportion(0, entered))
    empty = Arm(0, 0, 0.0, proportion(0, 0))
    return JourneyAnalytics(
        key=key,
        version=None,
        versions=[1],
        since=None,
        until=None,
        entered=entered,
        active=0,
        completed=entered,
        ended=entered,
        not_entered=0,
        by_status={"completed": entered},
        steps=steps,
        messages=[],
        exits=[],
        treatment=arm,
        holdout=empty,
        lift=Lift(compare(0, entered, 0, 0), None, None),
        variants=[],
    )


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def test_funnel_bars_follow_the_counts() -> None:
    counts = {"offer": 120, "check": 60, "nudge": 30}
    steps = [StepReach("pause", "delay", 200, 1.0)] + [
        StepReach(step, "send", n, n / 200) for step, n in counts.items()
    ]
    root = parse(funnel_svg(analytics("cart", 200, steps)))

    bars = root.iter(f"{SVG}rect")
    widths = {int(bar.get("data-count", "")): float(bar.get("width", "")) for bar in bars}
    assert widths[200] == pytest.approx(BAR_WIDTH)
    for n in counts.values():
        assert widths[n] == pytest.approx(BAR_WIDTH * n / 200, abs=0.05)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert titles[0] == "Funnel of journey cart"
    assert "offer: 120 runs (60% of entered)" in titles
    assert "nudge: 30 runs (15% of entered)" in titles
    assert "pause: 200 runs (100% of entered)" in titles


def test_funnel_of_a_journey_nobody_entered_draws_empty_bars() -> None:
    root = parse(funnel_svg(analytics("quiet", 0, [StepReach("offer", "send", 0, None)])))
    assert [float(r.get("width", "")) for r in root.iter(f"{SVG}rect")] == [0.0, 0.0]
    assert "Entered: 0 runs" in [t.text for t in root.iter(f"{SVG}title")]


def test_funnel_labels_are_escaped() -> None:
    svg = funnel_svg(analytics(HOSTILE, 10, [StepReach(HOSTILE, "send", 5, 0.5)]))
    assert "<script>" not in svg
    titles = [t.text for t in parse(svg).iter(f"{SVG}title")]
    assert titles[0] == f"Funnel of journey {HOSTILE}"
    assert f"{HOSTILE}: 5 runs (50% of entered)" in titles


def points(counts: list[tuple[int, int, int]], step: timedelta) -> list[TimeseriesPoint]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        TimeseriesPoint(start + i * step, entered, sent, converted, float(converted))
        for i, (entered, sent, converted) in enumerate(counts)
    ]


def test_timeseries_lines_follow_the_counts_with_dated_axes() -> None:
    series = points([(10, 8, 1), (20, 16, 4), (0, 2, 0), (40, 30, 6)], timedelta(days=1))
    root = parse(timeseries_svg(series))

    lines = {
        g.get("class", "").split()[1]: g
        for g in root.iter(f"{SVG}g")
        if g.get("class", "").startswith("series")
    }
    assert set(lines) == {"entered", "sent", "conversions"}

    def heights(field: str) -> list[float]:
        polyline = lines[field].find(f"{SVG}polyline")
        assert polyline is not None
        return [float(pair.split(",")[1]) for pair in polyline.get("points", "").split()]

    entered = heights("entered")
    # Higher counts are drawn higher (smaller y), in proportion: 20 is twice 10 above zero.
    zero_y = entered[2]
    assert entered[1] < entered[0] < zero_y and entered[3] < entered[1]
    assert (zero_y - entered[1]) == pytest.approx(2 * (zero_y - entered[0]))
    assert (zero_y - entered[3]) == pytest.approx(4 * (zero_y - entered[0]))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "x-label"]
    assert labels == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "Entered: 70 in all" in titles and "2026-03-02: 20 entered" in titles


def test_hourly_points_are_labelled_by_hour_and_long_series_thinned() -> None:
    series = points([(n % 5, 0, 0) for n in range(200)], timedelta(hours=1))
    root = parse(timeseries_svg(series))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "x-label"]
    assert len(labels) == 6 and labels[0] == "03-01 00:00" and labels[-1] == "03-09 07:00"
    assert list(root.iter(f"{SVG}circle")) == [], "no per-point markers past 120 points"


def test_an_empty_timeseries_says_so() -> None:
    root = parse(timeseries_svg([]))
    assert [t.text for t in root.iter(f"{SVG}text")] == ["No data in this range"]
