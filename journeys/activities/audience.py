"""The I/O of an audience import: enter a batch of customers into a journey, and end the import.

A customer enters as the router enters one on a trigger, through :mod:`journeys.ingest.starts`:
a signal-with-start of the journey's workflow with its own trigger event (see
:mod:`journeys.audiences` for why), under the customer's canonical id, with the version's
document for a declarative journey. Only
the trigger's filter is not applied: the operator chose these customers; the journey's entry
rules (re-entry, cooldown, cap, holdout) are, by the run itself as always.

Whether each customer entered is read back from the store, where the run records its entry: a
run whose trigger is this import's messageId entered (or was refused by the entry rules, with
the reason); a running run with another trigger means they were already in. So a retried batch
counts what the first attempt did instead of counting it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cachetools import LRUCache
from nats.aio.client import Client as NATS
from sqlalchemy import select
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from journeys.audiences import (
    AudienceBatch,
    AudienceEnd,
    BatchResult,
    entry_message_id,
)
from journeys.contracts import (
    ACTIVITY_ENTER_BATCH,
    ACTIVITY_FINISH_IMPORT,
    LIST_MISSING,
    JourneyEvent,
)
from journeys.ingest import bus, starts
from journeys.ingest.audience_lists import ListMissing, drop_list, load_list
from journeys.ingest.outages import is_outage
from journeys.ingest.routing import JourneyIndex, RouteTarget
from journeys.settings import Settings
from journeys.store.audiences import record_progress
from journeys.store.db import Sessions
from journeys.store.definitions import ACTIVE, JourneyNotFound, get_journey
from journeys.store.models import CustomerAlias, JourneyRun
from journeys.vocabulary import RunStatus

log = logging.getLogger(__name__)

# How long a batch waits for its runs to record their entries before counting them failed.
ENTRY_WAIT_SECONDS = 120.0
_POLL_SECONDS = 0.25
_STARTS_IN_FLIGHT = 20
_CACHED_LISTS = 4


@dataclass(frozen=True)
class _Entrance:
    """How customers enter the journey now: the router's target for its latest version, and
    the trigger event its runs wait for."""

    target: RouteTarget
    trigger: str


@dataclass
class _Entry:
    """One customer of the batch on their way in."""

    uploaded: str
    customer_id: str
    message_id: str
    run_id: str | None = None
    outcome: str | None = None  # entered, skipped or failed
    why: str = ""


class AudienceActivities:
    """The import's activities; NATS (the lists) is connected on first use and closed with the
    worker, like the emit steps' publisher."""

    def __init__(self, sessions: Sessions, settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self._nats: NATS | None = None
        self._lock = asyncio.Lock()
        self._lists: LRUCache[str, list[str]] = LRUCache(maxsize=_CACHED_LISTS)

    def all(self) -> list[Any]:
        return [self.enter_batch, self.finish_import]

    async def aclose(self) -> None:
        if self._nats is not None:
            await self._nats.drain()
            self._nats = None

    @activity.defn(name=ACTIVITY_ENTER_BATCH)
    async def enter_batch(self, batch: AudienceBatch) -> BatchResult:
        """Enter one batch, wait for the entries to be recorded, and write the import's counts."""
        try:
            customers = (await self._list(batch.import_id))[
                batch.offset : batch.offset + batch.size
            ]
        except ListMissing as err:
            raise ApplicationError(str(err), type=LIST_MISSING, non_retryable=True) from err
        entrance = await self._entrance(batch.journey_key)
        if isinstance(entrance, str):
            return BatchResult(batch.before, stopped=entrance)
        entries = await self._entries(batch.import_id, customers)
        await self._start_all(activity.client(), entrance, entries, batch.properties)
        await self._await_entries(batch.journey_key, entries)
        progress = batch.before.plus(
            entered=sum(e.outcome == "entered" for e in entries),
            skipped=sum(e.outcome == "skipped" for e in entries),
            failed=sum(e.outcome == "failed" for e in entries),
            errors=[f"{e.uploaded}: {e.why}" for e in entries if e.outcome == "failed"],
        )
        async with self.sessions.begin() as session:
            await record_progress(session, batch.import_id, progress)
        return BatchResult(progress)

    @activity.defn(name=ACTIVITY_FINISH_IMPORT)
    async def finish_import(self, end: AudienceEnd) -> None:
        """Write the import's end, then drop its list: the runs now say who entered."""
        progress = end.progress
        if end.error is not None:
            progress = progress.plus(0, 0, 0, [f"stopped: {end.error}"])
        async with self.sessions.begin() as session:
            await record_progress(session, end.import_id, progress, status=end.status)
        await drop_list((await self._connection()).jetstream(), end.import_id)
        self._lists.pop(end.import_id, None)

    async def _connection(self) -> NATS:
        async with self._lock:
            if self._nats is None:
                self._nats = await bus.connect(self.settings, "audiences", timeout=10)
        return self._nats

    async def _list(self, import_id: str) -> list[str]:
        """The import's list, kept for its next batches (the worker reads each list once)."""
        cached = self._lists.get(import_id)
        if cached is None:
            cached = await load_list((await self._connection()).jetstream(), import_id)
            self._lists[import_id] = cached
        return cached

    async def _entrance(self, key: str) -> _Entrance | str:
        """How the router would enter a customer into ``key`` now, or why nobody can."""
        async with self.sessions() as session:
            try:
                journey = await get_journey(session, key)
            except JourneyNotFound:
                return f"journey {key!r} no longer exists"
        latest = journey.latest
        if journey.status != ACTIVE:
            return f"journey {key!r} is {journey.status}: nobody more enters it"
        if latest is None:
            return f"journey {key!r} has no published version"
        if latest.inactivity_seconds is not None:
            return f"journey {key!r} enters customers on inactivity, not from a list"
        index = JourneyIndex([latest], {key: journey.status})
        target = next((t for t in index.started_by(latest.trigger_event) if t.key == key), None)
        if target is None:
            return f"journey {key!r} takes no entries"
        return _Entrance(target, latest.trigger_event)

    async def _entries(self, import_id: str, customers: list[str]) -> list[_Entry]:
        """Each uploaded id with the canonical id its runs go under (aliases resolved)."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(CustomerAlias.alias_id, CustomerAlias.customer_id).where(
                    CustomerAlias.alias_id.in_(customers)
                )
            )
            canonical = {alias: customer for alias, customer in rows.all()}
        return [
            _Entry(
                uploaded, canonical.get(uploaded, uploaded), entry_message_id(import_id, uploaded)
            )
            for uploaded in customers
        ]

    async def _start_all(
        self,
        client: Client,
        entrance: _Entrance,
        entries: list[_Entry],
        properties: dict[str, Any],
    ) -> None:
        limit = asyncio.Semaphore(_STARTS_IN_FLIGHT)

        async def start(entry: _Entry) -> None:
            async with limit:
                await self._start(client, entrance, entry, properties)

        await asyncio.gather(*(start(entry) for entry in entries))

    async def _start(
        self, client: Client, entrance: _Entrance, entry: _Entry, properties: dict[str, Any]
    ) -> None:
        """Signal-with-start the customer's run, as the router does for a trigger; an outage
        fails the whole batch (Temporal retries it), anything else only this customer."""
        target = entrance.target
        trigger = JourneyEvent(
            name=entrance.trigger,
            message_id=entry.message_id,
            customer_id=entry.customer_id,
            timestamp=datetime.now(UTC),
            properties=dict(properties),
        )
        entry_key = starts.entry_key(target, trigger)
        if target.entry.key is not None and entry_key is None:
            entry.outcome, entry.why = "skipped", f"no entry key ({target.entry.key})"
            return
        wid = starts.run_id(target, entry.customer_id, trigger, entry_key)
        try:
            handle = await starts.start_run(
                client, self.settings, target, entry.customer_id, trigger, wid, entry_key
            )
        except Exception as err:
            if is_outage(err):
                raise
            entry.outcome, entry.why = "failed", f"not started: {err}"
            return
        entry.run_id = handle.result_run_id

    async def _await_entries(self, journey_key: str, entries: list[_Entry]) -> None:
        """Read back from the store what became of each started customer, heartbeating."""
        deadline = time.monotonic() + ENTRY_WAIT_SECONDS
        while True:
            pending = {e.message_id: e for e in entries if e.outcome is None}
            if not pending:
                return
            async with self.sessions() as session:
                ours = await session.scalars(
                    select(JourneyRun).where(
                        JourneyRun.journey_key == journey_key,
                        JourneyRun.trigger_message_id.in_(list(pending)),
                    )
                )
                for run in ours:
                    if (entry := pending.pop(run.trigger_message_id, None)) is not None:
                        _classify(entry, run)
                by_run = {e.run_id: e for e in pending.values() if e.run_id is not None}
                if by_run:
                    # The run the signal reached, when it is not one this import started.
                    found = await session.scalars(
                        select(JourneyRun).where(JourneyRun.id.in_(list(by_run)))
                    )
                    for run in found:
                        _classify(by_run[run.id], run)
            activity.heartbeat(len([e for e in entries if e.outcome is None]))
            if all(e.outcome is not None for e in entries):
                return
            if time.monotonic() > deadline:
                for entry in entries:
                    if entry.outcome is None:
                        entry.outcome = "failed"
                        entry.why = (
                            f"no entry recorded within {ENTRY_WAIT_SECONDS:g} s: is a worker "
                            f"serving journey {journey_key!r} on task queue "
                            f"{self.settings.task_queue!r}?"
                        )
                return
            await asyncio.sleep(_POLL_SECONDS)


def _classify(entry: _Entry, run: JourneyRun) -> None:
    """What ``run`` says of the customer: entered by this import (or refused by the entry
    rules, with the reason), or already in by another trigger."""
    if run.trigger_message_id != entry.message_id:
        entry.outcome = "skipped"
        entry.why = f"already in (run {run.id}, since {run.started_at:%Y-%m-%d})"
    elif run.status == RunStatus.NOT_ENTERED:
        entry.outcome, entry.why = "skipped", run.reason
    else:
        entry.outcome = "entered"
