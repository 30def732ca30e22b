"""The console's charts, drawn on the server as SVG: no JavaScript, nothing to load, readable by
a screen reader (each chart and each bar or line has a ``<title>``) and printable.

Every label that comes from data (journey keys, step ids from the audit) is escaped with
markupsafe, so a step named ``<script>`` is shown, never run. Numbers are formatted here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from markupsafe import Markup, escape

from journeys.insight.analytics import JourneyAnalytics, TimeseriesPoint

WIDTH = 640
# Funnel: a label column, then the bars, then their numbers.
LABEL_WIDTH = 170
BAR_WIDTH = 330
ROW_HEIGHT = 28
BAR_HEIGHT = 18
# Time series: the plot area inside these margins.
PLOT_HEIGHT = 200
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 16, 28, 36
MAX_X_LABELS = 6
# Above this many points, the per-point markers (and their titles) are left out: the lines
# alone stay legible and the page light.
MAX_MARKERS = 120
# Each series has a colour and a dash pattern, so they differ without colour too.
SERIES = (
    ("entered", "Entered", "#2563eb", ""),
    ("sent", "Messages sent", "#16a34a", "6 3"),
    ("conversions", "Conversions", "#dc2626", "2 3"),
)
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def funnel_svg(analytics: JourneyAnalytics) -> Markup:
    """Bars for the runs entered and for each step they reached, as counts and as a share of
    entered."""
    rows: list[tuple[str, int]] = [("Entered", analytics.entered)]
    rows += [(s.step, s.reached) for s in analytics.steps]
    largest = max((count for _, count in rows), default=0)
    height = ROW_HEIGHT * len(rows) + 12
    title = f"Funnel of journey {analytics.key}" + (
        f" version {analytics.version}" if analytics.version is not None else ""
    )
    parts = [_open(height, title)]
    for i, (label, count) in enumerate(rows):
        y = 6 + i * ROW_HEIGHT
        width = _bar_width(count, largest)
        share = _share(count, analytics.entered)
        described = f"{label}: {count} run{'s' if count != 1 else ''}" + (
            f" ({share} of entered)" if share else ""
        )
        parts.append(
            f'<g class="step"><title>{escape(described)}</title>'
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 5}" text-anchor="end" {FONT}>'
            f"{escape(_clip(label))}</text>"
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" '
            f'height="{BAR_HEIGHT}" fill="#2563eb" data-count="{count}"/>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + BAR_HEIGHT - 5}" {FONT}>'
            f"{count}{escape(f' · {share}') if share else ''}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def timeseries_svg(points: Sequence[TimeseriesPoint]) -> Markup:
    """Lines for runs entered, messages sent and conversions per bucket, with a dated x axis
    and a counted y axis; a chart that says so when there is nothing to draw."""
    height = MARGIN_TOP + PLOT_HEIGHT + MARGIN_BOTTOM
    title = "Entered, messages sent and conversions over time"
    if not points:
        return Markup(
            f"{_open(height, title)}"
            f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle" fill="#6b7280" '
            f"{FONT}>No data in this range</text></svg>"
        )
    top = _nice_top(max(max(p.entered, p.sent, p.conversions) for p in points))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    hourly = _is_hourly(points)

    def x(i: int) -> float:
        if len(points) == 1:
            return MARGIN_LEFT + plot_width / 2
        return MARGIN_LEFT + plot_width * i / (len(points) - 1)

    def y(value: int) -> float:
        return MARGIN_TOP + PLOT_HEIGHT * (1 - value / top)

    parts = [_open(height, title)]
    # The y axis: gridlines at quarters of a round maximum.
    for k in range(5):
        value = top * k // 4
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}" stroke="#e5e7eb"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" {FONT}>'
            f"{value}</text>"
        )
    # The x axis: a few dates, evenly spread, first and last included.
    for i in _label_positions(len(points)):
        start = points[i].start
        label = start.strftime("%m-%d %H:00") if hourly else start.strftime("%Y-%m-%d")
        parts.append(
            f'<text class="x-label" x="{x(i):.1f}" y="{MARGIN_TOP + PLOT_HEIGHT + 18}" '
            f'text-anchor="middle" {FONT}>{escape(label)}</text>'
        )
    parts.append(
        f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
        'stroke="#6b7280"/>'
    )
    markers = len(points) <= MAX_MARKERS
    for n, (field, name, colour, dash) in enumerate(SERIES):
        values = [int(getattr(p, field)) for p in points]
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<g class="series {field}"><title>{escape(f"{name}: {sum(values)} in all")}</title>'
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"'
            f"{dashes}/>"
        )
        if markers:
            for i, (point, value) in enumerate(zip(points, values, strict=True)):
                when = point.start.strftime("%Y-%m-%d %H:00" if hourly else "%Y-%m-%d")
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" fill="{colour}">'
                    f"<title>{escape(f'{when}: {value} {name.lower()}')}</title></circle>"
                )
        parts.append("</g>")
        legend_x = MARGIN_LEFT + n * 150
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="12" y2="12" stroke="{colour}" '
            f'stroke-width="2"{dashes}/>'
            f'<text x="{legend_x + 30}" y="16" {FONT}>{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">'
        f"<title>{escape(title)}</title>"
    )


def _bar_width(count: int, largest: int) -> float:
    return BAR_WIDTH * count / largest if largest > 0 else 0.0


def _share(count: int, entered: int) -> str | None:
    return f"{count / entered:.0%}" if entered > 0 else None


def _clip(text: str, limit: int = 26) -> str:
    """Long labels shortened to fit their column; the <title> keeps them whole."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_top(largest: int) -> int:
    """A round maximum at or above ``largest`` whose quarters are whole: 4, 8, 20, 40, 100..."""
    if largest <= 4:
        return 4
    magnitude = 10 ** math.floor(math.log10(largest / 4))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        quarter = step * magnitude
        if quarter == int(quarter) and quarter * 4 >= largest:
            return int(quarter * 4)
    return int(10 * magnitude * 4)


def _is_hourly(points: Sequence[TimeseriesPoint]) -> bool:
    if len(points) > 1:
        return points[1].start - points[0].start < timedelta(days=1)
    start = points[0].start
    return (start.hour, start.minute) != (0, 0)


def _label_positions(count: int) -> list[int]:
    if count <= MAX_X_LABELS:
        return list(range(count))
    step = (count - 1) / (MAX_X_LABELS - 1)
    return sorted({round(k * step) for k in range(MAX_X_LABELS)})
