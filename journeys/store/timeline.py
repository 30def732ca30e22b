"""Read side of one customer's history: their profile and their runs with every recorded decision.

Support answers "what happened to this customer, and why" from this one query set, so it loads the
runs with their deliveries and audit rows eagerly (the relationships refuse lazy loading).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from journeys.store.customers import resolve
from journeys.store.models import Customer, JourneyRun


@dataclass(frozen=True)
class CustomerHistory:
    """``customer`` is None for someone only seen through runs (e.g. a profile erased later)."""

    customer: Customer | None
    runs: Sequence[JourneyRun]

    @property
    def is_unknown(self) -> bool:
        return self.customer is None and not self.runs


async def customer_history(
    session: AsyncSession, customer_id: str, *, limit: int = 100
) -> CustomerHistory:
    """The customer's newest ``limit`` runs, newest first, each with deliveries and audit rows.

    Runs started under any other id of the customer (before they were identified) are theirs.
    """
    identity = await resolve(session, customer_id)
    customer = await session.get(Customer, identity.customer_id)
    runs = await session.scalars(
        select(JourneyRun)
        .where(JourneyRun.customer_id.in_(identity.ids))
        .options(selectinload(JourneyRun.deliveries), selectinload(JourneyRun.audit))
        .order_by(JourneyRun.started_at.desc(), JourneyRun.id.desc())
        .limit(limit)
    )
    return CustomerHistory(customer=customer, runs=runs.all())
