"""Journey analytics: is a journey earning its keep? Entered, reached per step, messages,
exits, conversions and revenue, A/B variants, and the lift over the holdout with its interval.

Read-only, for staff (support, editors, admins). The numbers are computed by
:mod:`journeys.insight.analytics` (SQL aggregates) and :mod:`journeys.insight.stats` (intervals,
p-value); docs/operations.md, "Is this journey earning its keep?", says how to read them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.analytics.schemas import (
    ComparisonOut,
    JourneyAnalyticsOut,
    LiftOut,
    PointOut,
    TimeseriesOut,
)
from api.deps import SessionDep
from api.params import MAX_VERSION
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
    Query(ge=1, le=MAX_VERSION, description="One version; all versions when absent"),
]
SinceQuery = Annotated[
    datetime | None,
    Query(description="Runs entered at or after this instant (ISO 8601; UTC when no offset)"),
]
UntilQuery = Annotated[
    datetime | None, Query(description="Runs entered before this instant (ISO 8601)")
]
NOT_FOUND = {"description": "No journey with this key, or no such version of it"}


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
