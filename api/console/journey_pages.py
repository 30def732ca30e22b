"""Journeys in the console: every journey with its status, versions and runs still going, and
a journey's page with its funnel (how far runs got, step by step) and what happened per day.

The numbers are :mod:`journeys.insight.analytics`'s, the same the analytics API answers with,
drawn as inline SVG by :mod:`api.console.charts` so the page needs no script.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Query, Request, status
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.console import views
from api.console.access import Viewer, console_router
from api.console.charts import funnel_svg, timeseries_svg
from api.deps import SessionDep
from journeys.insight.analytics import TooManyBuckets, journey_analytics, journey_timeseries
from journeys.store.base import utcnow
from journeys.store.definitions import JourneyNotFound, get_journey, list_journeys
from journeys.store.models import JourneyRun
from journeys.vocabulary import RunStatus

router = console_router()

DEFAULT_DAYS = 30


@router.get("/journeys")
async def journey_list(request: Request, principal: Viewer, session: SessionDep) -> HTMLResponse:
    journeys = await list_journeys(session)
    return views.render(
        request,
        "journeys.html",
        {
            "section": "journeys",
            "journeys": journeys,
            "active": await _active_runs(session),
        },
        principal=principal,
    )


@router.get("/journeys/{key}")
async def journey_page(
    request: Request,
    key: str,
    principal: Viewer,
    session: SessionDep,
    version: Annotated[str, Query(pattern=r"^([1-9][0-9]{0,8})?$")] = "",
    days: Annotated[int, Query(ge=1, le=365)] = DEFAULT_DAYS,
    bucket: Literal["day", "hour"] = "day",
) -> HTMLResponse:
    """Funnel and totals of the runs that entered in the last ``days`` (of one version, or
    all), and their entries, sends and conversions per ``bucket``. ``version`` may be empty
    (the form's "all versions")."""
    number = int(version) if version else None
    try:
        journey = await get_journey(session, key)
    except JourneyNotFound:
        return views.problem(
            request,
            status.HTTP_404_NOT_FOUND,
            "No such journey",
            f"No journey has the key {key!r}.",
            principal=principal,
        )
    since = utcnow() - timedelta(days=days)
    analytics = await journey_analytics(session, key, version=number, since=since)
    if analytics is None:
        return views.problem(
            request,
            status.HTTP_404_NOT_FOUND,
            "No such version",
            f"version: journey {key!r} has no version {version}; it has "
            + (", ".join(str(v.version) for v in journey.versions) or "none yet")
            + ".",
            principal=principal,
        )
    series_error = ""
    series_chart = Markup("")
    try:
        points = await journey_timeseries(session, key, version=number, bucket=bucket, since=since)
        series_chart = Markup(timeseries_svg(points))
    except TooManyBuckets as err:
        series_error = f"bucket: {err}"
    return views.render(
        request,
        "journey.html",
        {
            "section": "journeys",
            "journey": journey,
            "analytics": analytics,
            "version": number,
            "days": days,
            "bucket": bucket,
            "funnel": funnel_svg(analytics),
            "series": series_chart,
            "series_error": series_error,
        },
        principal=principal,
    )


async def _active_runs(session: AsyncSession) -> dict[str, int]:
    """Runs still going, per journey key."""
    rows = await session.execute(
        select(JourneyRun.journey_key, func.count())
        .where(JourneyRun.status == RunStatus.ACTIVE)
        .group_by(JourneyRun.journey_key)
    )
    return {key: count for key, count in rows.all()}
