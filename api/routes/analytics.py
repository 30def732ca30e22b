"""Journey analytics: is a journey earning its keep? Entered, reached per step, messages,
exits, conversions and revenue, A/B variants, and the lift over the holdout with its interval.

Read-only, for staff (support, editors, admins). The numbers are computed by
:mod:`journeys.insight.analytics` (SQL aggregates) and :mod:`journeys.insight.stats` (intervals,
p-value); docs/operations.md, "Is this journey earning its keep?", says how to read them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep
from journeys.insight import analytics as store
from journeys.insight.analytics import JourneyAnalytics, TooManyBuckets

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

# Any journey key (code journeys' keys are free text), but no control characters, which no key
# holds and PostgreSQL refuses in text.
KeyPath = Annotated[
    str,
    Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f/]+$", description="A key"),
]
VersionQuery = Annotated[
    int | None,
    Query(ge=1, le=2_147_483_647, description="One version; all versions when absent"),
]
SinceQuery = Annotated[
    datetime | None,
    Query(description="Runs entered at or after this instant (ISO 8601; UTC when no offset)"),
]
UntilQuery = Annotated[
    datetime | None, Query(description="Runs entered before this instant (ISO 8601)")
]
NOT_FOUND = {"description": "No journey with this key, or no such version of it"}


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IntervalOut(_Out):
    low: float
    high: float


class ProportionOut(_Out):
    """``successes`` of ``trials``; ``rate`` and its Wilson ``interval`` are null for none."""

    successes: int
    trials: int
    rate: float | None
    interval: IntervalOut | None


class ComparisonOut(_Out):
    """A treatment's conversion rate against its control's."""

    treatment: ProportionOut
    control: ProportionOut
    difference: float | None = Field(
        description="Treatment rate minus control rate (0.05 = five percentage points)"
    )
    difference_interval: IntervalOut | None = Field(
        description="Newcombe's hybrid score interval of the difference"
    )
    relative_lift: float | None = Field(
        description="Treatment rate / control rate - 1 (0.25 = converts 25% more); null when "
        "the control converted nobody"
    )
    relative_lift_interval: IntervalOut | None = Field(
        description="Katz log interval; null when either arm converted nobody"
    )
    p_value: float | None = Field(description="Two-sided pooled two-proportion z-test")
    too_small: bool = Field(
        description="Too few customers (under 30 in an arm) or conversions to conclude"
    )
    conclusive: bool = Field(
        description="Large enough, and the difference's interval excludes zero"
    )
    caveat: str | None = Field(description="Why the comparison is not conclusive, in words")
    confidence: float


class LiftOut(ComparisonOut):
    """The journey's treated customers against its holdout."""

    incremental_conversions: float | None = Field(
        description="Conversions the journey added: difference x treated customers"
    )
    incremental_revenue: float | None = Field(
        description="Revenue the journey added: (revenue per treated - per holdout customer) "
        "x treated customers"
    )


class StepOut(_Out):
    step: str
    type: str | None = Field(description="The step's type (`send`, `delay`, `branch`...)")
    reached: int = Field(
        description="Runs that got to the step (distinct runs with an audit row naming it)"
    )
    share: float | None = Field(description="`reached` / runs entered")


class MessageOut(_Out):
    channel: str
    status: str = Field(description="`sent`, `failed`, `skipped`, `unconfirmed`...")
    count: int


class ExitOut(_Out):
    status: str = Field(description="`completed`, `exited`, `converted`...")
    reason: str
    count: int


class ArmOut(_Out):
    customers: int = Field(description="Runs entered in this arm")
    conversions: int
    revenue: float
    revenue_per_customer: float | None
    rate: ProportionOut


class VariantOut(_Out):
    step: str
    variant: str
    template: str | None
    customers: int = Field(description="Runs outside the holdout that drew this variant")
    sent: int
    conversions: int
    revenue: float
    rate: ProportionOut
    vs_first: ComparisonOut | None = Field(
        description="Against the step's first variant; null for the first itself"
    )


_EXAMPLE_RATE = {
    "successes": 48,
    "trials": 400,
    "rate": 0.12,
    "interval": {"low": 0.0917, "high": 0.1555},
}
_EXAMPLE_HELD = {
    "successes": 4,
    "trials": 100,
    "rate": 0.04,
    "interval": {"low": 0.0157, "high": 0.0984},
}
EXAMPLE_ANALYTICS: dict[str, Any] = {
    "key": "cart-recovery-lite",
    "version": None,
    "versions": [1, 2],
    "since": "2026-11-01T00:00:00Z",
    "until": None,
    "entered": 500,
    "active": 20,
    "completed": 310,
    "ended": 480,
    "not_entered": 12,
    "by_status": {
        "active": 20,
        "completed": 310,
        "converted": 52,
        "exited": 118,
        "not_entered": 12,
    },
    "conversions": 52,
    "revenue": 3120.5,
    "steps": [
        {"step": "pause", "type": "delay", "reached": 500, "share": 1.0},
        {"step": "nudge", "type": "send", "reached": 470, "share": 0.94},
    ],
    "messages": [
        {"channel": "sms", "status": "sent", "count": 361},
        {"channel": "sms", "status": "skipped", "count": 15},
    ],
    "exits": [
        {"status": "completed", "reason": "completed all steps", "count": 310},
        {"status": "exited", "reason": "exited on Order Completed", "count": 118},
        {"status": "converted", "reason": "converted on Order Completed", "count": 52},
    ],
    "treatment": {
        "customers": 400,
        "conversions": 48,
        "revenue": 2880.0,
        "revenue_per_customer": 7.2,
        "rate": _EXAMPLE_RATE,
    },
    "holdout": {
        "customers": 100,
        "conversions": 4,
        "revenue": 240.5,
        "revenue_per_customer": 2.405,
        "rate": _EXAMPLE_HELD,
    },
    "lift": {
        "treatment": _EXAMPLE_RATE,
        "control": _EXAMPLE_HELD,
        "difference": 0.08,
        "difference_interval": {"low": 0.0151, "high": 0.1231},
        "relative_lift": 2.0,
        "relative_lift_interval": {"low": 0.1079, "high": 7.1238},
        "p_value": 0.0191,
        "too_small": False,
        "conclusive": True,
        "caveat": None,
        "confidence": 0.95,
        "incremental_conversions": 32.0,
        "incremental_revenue": 1918.0,
    },
    "variants": [],
}


class JourneyAnalyticsOut(_Out):
    """A journey's numbers for the runs that entered between ``since`` and ``until``."""

    key: str
    version: int | None = Field(description="The version analysed; null for all of them")
    versions: list[int] = Field(description="Every published version")
    since: datetime | None
    until: datetime | None
    entered: int = Field(description="Runs that entered (refused entries not counted)")
    active: int
    completed: int = Field(description="Runs that went through every step")
    ended: int
    not_entered: int = Field(description="Entries refused by the entry rules")
    by_status: dict[str, int]
    conversions: int = Field(description="Goal conversions, treatment and holdout")
    revenue: float
    steps: list[StepOut] = Field(description="In the journey's order")
    messages: list[MessageOut]
    exits: list[ExitOut] = Field(description="How runs ended, most frequent first")
    treatment: ArmOut = Field(description="Runs outside the holdout (sent messages)")
    holdout: ArmOut = Field(description="Runs in the holdout (sent nothing)")
    lift: LiftOut
    variants: list[VariantOut]

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ANALYTICS]})


class PointOut(_Out):
    start: datetime = Field(description="The bucket's start (UTC)")
    entered: int
    sent: int = Field(description="Messages sent")
    conversions: int
    revenue: float


class TimeseriesOut(_Out):
    key: str
    version: int | None
    bucket: Literal["hour", "day"]
    since: datetime | None
    until: datetime | None
    points: list[PointOut] = Field(description="Every bucket in the range, empty ones as zeros")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "version": 2,
                    "bucket": "day",
                    "since": "2026-11-20T00:00:00Z",
                    "until": "2026-11-22T00:00:00Z",
                    "points": [
                        {
                            "start": "2026-11-20T00:00:00Z",
                            "entered": 41,
                            "sent": 37,
                            "conversions": 5,
                            "revenue": 310.0,
                        },
                        {
                            "start": "2026-11-21T00:00:00Z",
                            "entered": 0,
                            "sent": 2,
                            "conversions": 1,
                            "revenue": 42.5,
                        },
                    ],
                }
            ]
        }
    )


@router.get("/journeys/{key}", responses={404: NOT_FOUND})
async def journey_analytics(
    key: KeyPath,
    session: SessionDep,
    version: VersionQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> JourneyAnalyticsOut:
    """The journey's numbers over the runs that entered in [``since``, ``until``): of one
    ``version``, or of all. ``lift`` compares the treated customers with the holdout."""
    since, until = _window(since, until)
    found = await store.journey_analytics(session, key, version=version, since=since, until=until)
    if found is None:
        raise await _not_found(session, key, version)
    return _analytics_out(found)


@router.get(
    "/journeys/{key}/timeseries",
    responses={404: NOT_FOUND, 422: {"description": "Bad range, or too many buckets in it"}},
)
async def journey_timeseries(
    key: KeyPath,
    session: SessionDep,
    bucket: Annotated[Literal["hour", "day"], Query(description="Bucket size, in UTC")] = "day",
    version: VersionQuery = None,
    since: Annotated[datetime | None, Query(description="From this instant")] = None,
    until: Annotated[datetime | None, Query(description="Before this instant")] = None,
) -> TimeseriesOut:
    """Entered, sent, conversions and revenue per bucket; each counted by its own time (entry,
    message, conversion) within [``since``, ``until``). At most 2,000 buckets."""
    since, until = _window(since, until)
    if not await _exists(session, key, version):
        raise await _not_found(session, key, version)
    try:
        points = await store.journey_timeseries(
            session, key, version=version, bucket=bucket, since=since, until=until
        )
    except TooManyBuckets as err:
        raise _invalid("bucket", str(err)) from None
    return TimeseriesOut(
        key=key,
        version=version,
        bucket=bucket,
        since=since,
        until=until,
        points=[PointOut.model_validate(p) for p in points],
    )


def _analytics_out(found: JourneyAnalytics) -> JourneyAnalyticsOut:
    values = {
        name: getattr(found, name) for name in JourneyAnalyticsOut.model_fields if name != "lift"
    }
    comparison = ComparisonOut.model_validate(found.lift.comparison).model_dump()
    values["lift"] = LiftOut(
        **comparison,
        incremental_conversions=found.lift.incremental_conversions,
        incremental_revenue=found.lift.incremental_revenue,
    )
    return JourneyAnalyticsOut.model_validate(values)


def _window(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Both bounds as UTC (an instant without an offset is taken as UTC); 422 when ``since``
    comes after ``until`` or a bound cannot be expressed in UTC."""
    since, until = _utc(since, "since"), _utc(until, "until")
    if since is not None and until is not None and since > until:
        raise _invalid("since", f"since ({since.isoformat()}) is after until ({until.isoformat()})")
    return since, until


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as err:
        raise _invalid(field, f"{value.isoformat()} is out of range in UTC: {err}") from None


def _invalid(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own, naming the query parameter at fault."""
    detail = [{"loc": ["query", field], "msg": message, "type": "value_error"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


async def _exists(session: AsyncSession, key: str, version: int | None) -> bool:
    versions = await store.known_versions(session, key)
    return bool(versions) and (version is None or version in versions)


async def _not_found(session: AsyncSession, key: str, version: int | None) -> HTTPException:
    if version is not None and await store.known_versions(session, key):
        return HTTPException(status.HTTP_404_NOT_FOUND, f"journey {key!r} has no version {version}")
    return HTTPException(status.HTTP_404_NOT_FOUND, f"journey {key!r} not found")
