"""The entry rules as the store applies them, on SQLite and PostgreSQL: the cap holds under
concurrent entries, re-entry looks at the customer's earlier runs, and the one bookkeeping write
(journeys/workflows/bookkeeping.py) enters a run with its first audit rows, or refuses it without
them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from journeys.activities.journey import JourneyActivities
from journeys.contracts import (
    AuditRecord,
    EntryRecord,
    EntryResult,
    JourneyEvent,
    ProgressRecord,
    RunRef,
    in_holdout,
)
from journeys.delivery.templates_catalog import TemplateCatalog
from journeys.store.models import AuditEvent, JourneyState
from tests.conftest import Store
from tests.support.helpers import customer_id

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


def _audit(record: EntryRecord, seq: int, kind: str) -> AuditRecord:
    return AuditRecord(record.run, seq, kind, f"{kind} row", record.entered_at)


async def _audit_kinds(store: Store, run_id: str) -> list[str]:
    async with store.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent.kind).where(AuditEvent.run_id == run_id).order_by(AuditEvent.seq)
        )
        return list(rows)


async def test_one_write_enters_the_run_with_its_queued_rows_once(store: Store) -> None:
    """``record_progress`` (journeys/workflows/bookkeeping.py): the entry and the rows queued behind
    it in one transaction; a retry after it committed adds nothing; later rows follow on their
    own."""
    activities = JourneyActivities(store.sessions, TemplateCatalog(store.sessions), {})
    record = entry("p1", customer_id(), {})
    first = ProgressRecord(
        record.run, record, [_audit(record, 1, "entered"), _audit(record, 2, "waiting")]
    )

    assert (await activities.record_progress(first)).entered
    assert (await activities.record_progress(first)).entered  # Temporal's retry
    later = ProgressRecord(record.run, None, [_audit(record, 3, "received")])
    await activities.record_progress(later)
    await activities.record_progress(later)

    assert await _audit_kinds(store, "p1") == ["entered", "waiting", "received"]


async def test_a_refused_entry_writes_none_of_its_queued_rows(store: Store) -> None:
    activities = JourneyActivities(store.sessions, TemplateCatalog(store.sessions), {})
    who = customer_id()
    await activities.record_entry(entry("n1", who, {"reentry": "never"}))
    refused = entry("n2", who, {"reentry": "never"}, T0 + timedelta(days=1))

    result = await activities.record_progress(
        ProgressRecord(refused.run, refused, [_audit(refused, 1, "entered")])
    )

    assert not result.entered and (result.reason or "").startswith("re-entry is never")
    assert await _audit_kinds(store, "n2") == []


def test_the_workflow_and_the_store_draw_the_same_holdout() -> None:
    """The workflow knows its holdout before the store has seen the run (in_holdout is shared);
    about ``percent`` of runs are drawn."""
    drawn = [in_holdout(f"run-{n}", 10.0) for n in range(5000)]
    assert 400 < sum(drawn) < 600
    assert not any(in_holdout(f"run-{n}", 0) for n in range(100))
