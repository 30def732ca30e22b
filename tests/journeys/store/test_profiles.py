"""Customer profiles in the store (``journeys.store.customers``), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from journeys.store import customers
from journeys.store.models import Customer
from tests.conftest import Store
from tests.support.helpers import customer_id


async def test_two_writers_creating_one_profile_both_merge_into_it(store: Store) -> None:
    """An event that starts two journeys for a new customer enters both runs at once, and each
    entry creates the profile: the one that comes second merges into the first one's row.

    The race is made, not hoped for: the second writer starts while the first one's insert is
    made but not committed, and the first commits only once the second has found no profile
    and sent its own insert (seen on the engine), which then waits for the first's row."""
    customer = customer_id()
    engine: AsyncEngine = store.sessions.kw["bind"]
    second_inserts = asyncio.Event()

    def watch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CUSTOMERS") and customer in str(
            parameters
        ):
            second_inserts.set()

    async def second() -> None:
        async with store.sessions.begin() as session:
            await customers.merge_traits(session, customer, {"plan": "pro", "email": "a@b.co"})

    async with store.sessions.begin() as session:
        await customers.merge_traits(session, customer, {"first_name": "Ada", "plan": "free"})
        await session.flush()  # the first writer's insert is made, not yet committed
        event.listen(engine.sync_engine, "before_cursor_execute", watch)
        try:
            racing = asyncio.create_task(second())
            # An insert is only sent by a writer whose read found no profile.
            await asyncio.wait_for(second_inserts.wait(), timeout=30)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", watch)
        done, _ = await asyncio.wait({racing}, timeout=0.2)
        assert not done, "the second writer's insert waits for the first one's transaction"
    await racing

    async with store.sessions() as session:
        profile = await session.get(Customer, customer)
    assert profile is not None
    assert profile.traits == {"first_name": "Ada", "plan": "pro", "email": "a@b.co"}
    assert profile.email == "a@b.co"
