"""The entry rules as the store applies them, on SQLite and PostgreSQL: the cap holds under
concurrent entries, and re-entry looks at the customer's earlier runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from journeys.activities import JourneyActivities
from journeys.contracts import EntryRecord, EntryResult, JourneyEvent, RunRef
from journeys.store.models import JourneyState
from journeys.templates_catalog import TemplateCatalog
from tests.conftest import Store
from tests.helpers import customer_id

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def entry(run_id: str, who: str, rules: dict[str, Any], at: datetime = T0) -> EntryRecord:
    run = RunRef(run_id, f"journey/capped/{who}", "capped", 1, who)
    trigger = JourneyEvent("Cart Abandoned", f"m-{run_id}", who, at)
    return EntryRecord(run=run, trigger=trigger, entered_at=at, rules=rules)


async def test_concurrent_entries_never_pass_the_cap(store: Store) -> None:
    async with store.sessions.begin() as session:
        session.add(JourneyState(key="capped", kind="definition", status="active", entries=0))
    activities = JourneyActivities(store.sessions, TemplateCatalog(store.sessions), {})

    async def enter(n: int) -> EntryResult:
        for _ in range(
            20
        ):  # SQLite's single writer may refuse a concurrent one: retry, as Temporal does
            try:
                return await activities.record_entry(entry(f"r{n}", customer_id(), {"cap": 3}))
            except DBAPIError:  # SQLite's "database is locked"
                await asyncio.sleep(0.05)
        raise AssertionError("entry kept failing")

    results = await asyncio.gather(*(enter(n) for n in range(10)))

    assert sum(r.entered for r in results) == 3
    assert {r.reason for r in results if not r.entered} == {"entry cap of 3 reached"}


async def test_reentry_never_and_cooldown_look_at_earlier_runs(store: Store) -> None:
    activities = JourneyActivities(store.sessions, TemplateCatalog(store.sessions), {})
    who = customer_id()
    first = await activities.record_entry(entry("a1", who, {"reentry": "never"}))
    again = await activities.record_entry(
        entry("a2", who, {"reentry": "never"}, T0 + timedelta(days=30))
    )
    assert first.entered and not again.entered
    assert again.reason is not None and again.reason.startswith("re-entry is never")
    # A retried entry activity gives the same answer.
    assert await activities.record_entry(entry("a2", who, {"reentry": "never"})) == again
