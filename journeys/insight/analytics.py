"""Does a journey earn its keep? Its numbers per journey and version, aggregated in the database.

:func:`journey_analytics` answers for a cohort: the runs that *entered* between ``since`` and
``until`` (by ``started_at``), and everything those runs did, whenever they did it. Rates need
one population on both sides of the fraction: conversions of the customers who entered in
March, over the customers who entered in March.

:func:`journey_timeseries` answers "what happened when": per hour or day bucket (UTC), runs
entered (by ``started_at``), messages sent (by ``requested_at``) and conversions with their
revenue (by ``occurred_at``), each within ``since``/``until`` by its own time.

Everything is counted with GROUP BY in SQL, on SQLite and PostgreSQL alike; only a few rows
per group reach Python. Where the numbers come from:

- entered, active, by status, exits: ``journey_runs`` (``not_entered`` runs, refused by the
  entry rules, are counted in ``by_status`` but are not entrants);
- messages: ``deliveries`` by channel and status;
- conversions and revenue: ``conversions``, split by the run's holdout flag;
- reached per step and A/B variants: audit rows (journeys/insight/funnel.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.insight.funnel import (
    StepReach,
    VariantResult,
    documents,
    steps_reached,
    variant_results,
)
from journeys.insight.stats import Comparison, Proportion, compare, proportion
from journeys.store.base import utcnow
from journeys.store.models import Conversion, Delivery, JourneyDefinition, JourneyRun
from journeys.vocabulary import DeliveryStatus, RunStatus

__all__ = [
    "Arm",
    "ExitCount",
    "JourneyAnalytics",
    "Lift",
    "MessageCount",
    "StepReach",
    "TimeseriesPoint",
    "TooManyBuckets",
    "VariantResult",
    "journey_analytics",
    "journey_timeseries",
    "known_versions",
]

Bucket = Literal["hour", "day"]
BUCKETS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# A chart of more points than this is unreadable, and the answer would be large: narrow the
# range or use day buckets.
MAX_BUCKETS = 2000
# Exits are grouped by their reason text; a journey has a handful of reasons, but exit steps
# may word their own: the most frequent ones are shown.
MAX_EXIT_REASONS = 50
NOT_ENTERED = RunStatus.NOT_ENTERED


@dataclass(frozen=True)
class MessageCount:
    channel: str
    status: DeliveryStatus
    count: int


@dataclass(frozen=True)
class ExitCount:
    """Runs that ended with this status (``completed``, ``exited``, ``converted``...) and
    reason (``exited on Order Completed``)."""

    status: RunStatus
    reason: str
    count: int


@dataclass(frozen=True)
class Arm:
    """One side of the holdout split: its customers (runs entered), their conversions and the
    revenue those carried, and the conversion rate with its interval."""

    customers: int
    conversions: int
    revenue: float
    rate: Proportion

    @property
    def revenue_per_customer(self) -> float | None:
        return self.revenue / self.customers if self.customers else None


@dataclass(frozen=True)
class Lift:
    """The journey against its holdout: what sending did to conversion.

    ``incremental_conversions`` and ``incremental_revenue`` are point estimates of what the
    journey added over its treated customers: (treatment - holdout) per customer, times the
    treated customers. Read them with ``comparison.conclusive``.
    """

    comparison: Comparison
    incremental_conversions: float | None
    incremental_revenue: float | None


@dataclass(frozen=True)
class JourneyAnalytics:
    """A journey's numbers for the runs that entered between ``since`` and ``until``, of one
    ``version`` or all of them (``None``); ``versions`` lists every version published."""

    key: str
    version: int | None
    versions: list[int]
    since: datetime | None
    until: datetime | None
    entered: int
    active: int
    completed: int
    ended: int
    not_entered: int
    by_status: dict[RunStatus, int]
    steps: list[StepReach]
    messages: list[MessageCount]
    exits: list[ExitCount]
    treatment: Arm
    holdout: Arm
    lift: Lift
    variants: list[VariantResult]

    @property
    def conversions(self) -> int:
        return self.treatment.conversions + self.holdout.conversions

    @property
    def revenue(self) -> float:
        return self.treatment.revenue + self.holdout.revenue


@dataclass(frozen=True)
class TimeseriesPoint:
    """One bucket, from ``start`` (UTC) for an hour or a day."""

    start: datetime
    entered: int
    sent: int
    conversions: int
    revenue: float


class TooManyBuckets(ValueError):
    """The range holds more than :data:`MAX_BUCKETS` buckets."""


async def known_versions(session: AsyncSession, key: str) -> list[int]:
    """The journey's published versions, oldest first; empty for an unknown journey."""
    rows = await session.scalars(
        select(JourneyDefinition.version)
        .where(JourneyDefinition.key == key)
        .order_by(JourneyDefinition.version)
    )
    return list(rows)


async def journey_analytics(
    session: AsyncSession,
    key: str,
    *,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> JourneyAnalytics | None:
    """The journey's numbers (see the module's docstring); ``None`` for an unknown journey or
    a version it does not have."""
    versions = await known_versions(session, key)
    if not versions or (version is not None and version not in versions):
        return None
    cohort = _cohort(key, version, since, until)
    entered_only = JourneyRun.status != NOT_ENTERED

    by_status: dict[RunStatus, int] = {}
    arm_size = {True: 0, False: 0}
    status_rows = await session.execute(
        select(JourneyRun.status, JourneyRun.holdout, func.count())
        .where(*cohort)
        .group_by(JourneyRun.status, JourneyRun.holdout)
    )
    for status, holdout, count in status_rows:
        by_status[status] = by_status.get(status, 0) + count
        if status != NOT_ENTERED:
            arm_size[bool(holdout)] += count
    entered = arm_size[True] + arm_size[False]

    conversions = {True: (0, 0.0), False: (0, 0.0)}
    conversion_rows = await session.execute(
        select(JourneyRun.holdout, func.count(Conversion.id), func.sum(Conversion.revenue))
        .join(JourneyRun, Conversion.run_id == JourneyRun.id)
        .where(*cohort, entered_only)
        .group_by(JourneyRun.holdout)
    )
    for holdout, count, revenue in conversion_rows:
        conversions[bool(holdout)] = (count, float(revenue or 0.0))
    treatment = _arm(arm_size[False], *conversions[False])
    held = _arm(arm_size[True], *conversions[True])

    docs = await documents(session, key, version)
    return JourneyAnalytics(
        key=key,
        version=version,
        versions=versions,
        since=since,
        until=until,
        entered=entered,
        active=by_status.get(RunStatus.ACTIVE, 0),
        completed=by_status.get(RunStatus.COMPLETED, 0),
        ended=entered - by_status.get(RunStatus.ACTIVE, 0),
        not_entered=by_status.get(NOT_ENTERED, 0),
        by_status=dict(sorted(by_status.items())),
        steps=await steps_reached(session, cohort, entered, docs),
        messages=await _messages(session, cohort),
        exits=await _exits(session, cohort),
        treatment=treatment,
        holdout=held,
        lift=_lift(treatment, held),
        variants=await variant_results(session, cohort, docs),
    )


async def journey_timeseries(
    session: AsyncSession,
    key: str,
    *,
    version: int | None = None,
    bucket: Bucket = "day",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[TimeseriesPoint]:
    """Entered, sent, conversions and revenue per UTC ``bucket``, every bucket from ``since``
    (or the first with data) to ``until`` (or the later of now and the last with data), empty
    ones as zeros. :class:`TooManyBuckets` past :data:`MAX_BUCKETS`."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket {bucket!r} is not one of {', '.join(BUCKETS)}")
    dialect = session.get_bind().dialect.name

    def window(column: Any) -> list[ColumnElement[bool]]:
        bounds = []
        if since is not None:
            bounds.append(column >= since)
        if until is not None:
            bounds.append(column < until)
        return bounds

    runs = [JourneyRun.journey_key == key]
    if version is not None:
        runs.append(JourneyRun.journey_version == version)
    entered_at = _bucket(JourneyRun.started_at, bucket, dialect)
    sent_at = _bucket(Delivery.requested_at, bucket, dialect)
    converted_at = _bucket(Conversion.occurred_at, bucket, dialect)
    entered_rows = await session.execute(
        select(entered_at, func.count())
        .where(*runs, JourneyRun.status != NOT_ENTERED, *window(JourneyRun.started_at))
        .group_by(entered_at)
    )
    sent_rows = await session.execute(
        select(sent_at, func.count())
        .join(JourneyRun, Delivery.run_id == JourneyRun.id)
        .where(*runs, Delivery.status == DeliveryStatus.SENT, *window(Delivery.requested_at))
        .group_by(sent_at)
    )
    conversion_filter = [Conversion.journey_key == key]
    if version is not None:
        conversion_filter.append(Conversion.journey_version == version)
    conversion_rows = await session.execute(
        select(converted_at, func.count(), func.sum(Conversion.revenue))
        .where(*conversion_filter, *window(Conversion.occurred_at))
        .group_by(converted_at)
    )
    points: dict[datetime, list[Any]] = {}

    def point(label: str) -> list[Any]:
        return points.setdefault(_parse_bucket(label), [0, 0, 0, 0.0])

    for label, count in entered_rows:
        point(label)[0] += count
    for label, count in sent_rows:
        point(label)[1] += count
    for label, count, revenue in conversion_rows:
        entry = point(label)
        entry[2] += count
        entry[3] += float(revenue or 0.0)
    step = BUCKETS[bucket]
    if since is not None:
        first = _floor(since, bucket)
    elif points:
        first = min(points)
    else:
        return []
    if until is None:
        last = max([_floor(utcnow(), bucket), *points])
    elif until > datetime.min.replace(tzinfo=UTC):
        last = _floor(until - timedelta(microseconds=1), bucket)
    else:
        return []  # nothing comes before the first instant there is
    count = int((last - first) / step) + 1 if last >= first else 0
    if count > MAX_BUCKETS:
        raise TooManyBuckets(
            f"{count} {bucket} buckets from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC;"
            f" at most {MAX_BUCKETS}: narrow since/until or use day buckets"
        )
    series = []
    for i in range(count):
        start = first + i * step
        entered, sent, converted, revenue = points.get(start, (0, 0, 0, 0.0))
        series.append(TimeseriesPoint(start, entered, sent, converted, revenue))
    return series


# --- the parts ------------------------------------------------------------------------------


def _cohort(
    key: str, version: int | None, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """The runs analysed: of this journey (and version) that started in [since, until)."""
    where: list[ColumnElement[bool]] = [JourneyRun.journey_key == key]
    if version is not None:
        where.append(JourneyRun.journey_version == version)
    if since is not None:
        where.append(JourneyRun.started_at >= since)
    if until is not None:
        where.append(JourneyRun.started_at < until)
    return where


def _arm(customers: int, conversions: int, revenue: float) -> Arm:
    return Arm(customers, conversions, revenue, proportion(conversions, customers))


def _lift(treatment: Arm, holdout: Arm) -> Lift:
    comparison = compare(
        treatment.conversions, treatment.customers, holdout.conversions, holdout.customers
    )
    if holdout.customers == 0:
        comparison = replace(
            comparison,
            caveat="no run was in the holdout: set entry.holdout_percent to measure lift",
        )
    incremental_conversions = incremental_revenue = None
    if comparison.difference is not None:
        incremental_conversions = comparison.difference * treatment.customers
    per_treated, per_held = treatment.revenue_per_customer, holdout.revenue_per_customer
    if per_treated is not None and per_held is not None:
        incremental_revenue = (per_treated - per_held) * treatment.customers
    return Lift(comparison, incremental_conversions, incremental_revenue)


async def _messages(session: AsyncSession, cohort: list[ColumnElement[bool]]) -> list[MessageCount]:
    rows = await session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .join(JourneyRun, Delivery.run_id == JourneyRun.id)
        .where(*cohort)
        .group_by(Delivery.channel, Delivery.status)
        .order_by(Delivery.channel, Delivery.status)
    )
    return [MessageCount(channel, status, count) for channel, status, count in rows]


async def _exits(session: AsyncSession, cohort: list[ColumnElement[bool]]) -> list[ExitCount]:
    count = func.count()
    rows = await session.execute(
        select(JourneyRun.status, JourneyRun.reason, count)
        .where(*cohort, JourneyRun.status != NOT_ENTERED, JourneyRun.ended_at.is_not(None))
        .group_by(JourneyRun.status, JourneyRun.reason)
        .order_by(count.desc(), JourneyRun.status, JourneyRun.reason)
        .limit(MAX_EXIT_REASONS)
    )
    return [ExitCount(status, reason, n) for status, reason, n in rows]


# --- time buckets -------------------------------------------------------------------------


_FORMAT = "%Y-%m-%d %H:%M:%S"


def _bucket(column: Any, bucket: Bucket, dialect: str) -> ColumnElement[str]:
    """The UTC bucket a timestamp falls in, as ``YYYY-MM-DD HH:00:00`` text, on both backends:
    SQLite keeps UTC text (journeys.store.base.UTCDateTime), PostgreSQL a timestamptz."""
    # Constants inlined, not bound: PostgreSQL matches the GROUP BY expression with the
    # selected one only when both are the same text, parameters included.
    if dialect == "postgresql":
        pattern = "'YYYY-MM-DD HH24:00:00'" if bucket == "hour" else "'YYYY-MM-DD 00:00:00'"
        utc = func.timezone(literal_column("'UTC'"), column)
        label: ColumnElement[str] = func.to_char(utc, literal_column(pattern))
        return label
    if dialect == "sqlite":
        pattern = "'%Y-%m-%d %H:00:00'" if bucket == "hour" else "'%Y-%m-%d 00:00:00'"
        label = func.strftime(literal_column(pattern), column)
        return label
    raise NotImplementedError(f"time buckets on {dialect}")


def _parse_bucket(label: str) -> datetime:
    return datetime.strptime(label, _FORMAT).replace(tzinfo=UTC)


def _floor(moment: datetime, bucket: Bucket) -> datetime:
    moment = moment.astimezone(UTC)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
