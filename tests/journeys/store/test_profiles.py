"""Customer profiles in the store (``journeys.store.customers``), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from journeys.store import customers
from journeys.store.models import Customer
from tests.conftest import Store
from tests.support.helpers import customer_id


async def test_two_writers_creating_one_profile_both_merge_into_it(store: Store) -> None:
    """An event that starts two journeys for a new customer enters both runs at once, and each
    entry creates the profile: the one that comes second merges into the first one's row."""
    customer = customer_id()

    async def second() -> None:
        async with store.sessions.begin() as session:
            await customers.merge_traits(session, customer, {"plan": "pro", "email": "a@b.co"})

    async with store.sessions.begin() as session:
        await customers.merge_traits(session, customer, {"first_name": "Ada", "plan": "free"})
        await session.flush()  # the first writer's insert is made, not yet committed
        racing = asyncio.create_task(second())
        await asyncio.sleep(0.3)  # the second writer has found no profile and waits to insert
    await racing

    async with store.sessions() as session:
        profile = await session.get(Customer, customer)
    assert profile is not None
    assert profile.traits == {"first_name": "Ada", "plan": "pro", "email": "a@b.co"}
    assert profile.email == "a@b.co"
