"""Journey runs as the router needs them: which of a customer's runs are still going."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.store.models import JourneyRun


async def active_run_ids(
    session: AsyncSession, journey_key: str, customer_ids: Iterable[str]
) -> list[str]:
    """Workflow ids of the runs of ``journey_key`` that the customer (under any of their ids)
    has entered and that have not ended."""
    rows = await session.scalars(
        select(JourneyRun.workflow_id)
        .where(
            JourneyRun.journey_key == journey_key,
            JourneyRun.customer_id.in_(list(customer_ids)),
            JourneyRun.status == "active",
        )
        .order_by(JourneyRun.started_at)
    )
    return list(dict.fromkeys(rows))
