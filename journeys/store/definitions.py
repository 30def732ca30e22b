"""Journey definitions as stored: the one query the API lists and the router indexes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.store.models import JourneyDefinition


async def all_definitions(session: AsyncSession) -> Sequence[JourneyDefinition]:
    """Every version of every journey, by key then version."""
    rows = await session.scalars(
        select(JourneyDefinition).order_by(JourneyDefinition.key, JourneyDefinition.version)
    )
    return rows.all()
