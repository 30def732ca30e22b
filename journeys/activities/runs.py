"""Activities: a run's bookkeeping rows, its entry (the entry rules applied), its audit rows and
its exit, each written by the local activities journeys/workflows/bookkeeping.py calls by name.

They receive the store in ``__init__`` so the worker and the tests hand in a real engine. Every
write is idempotent, because Temporal may run an activity again after a crash: runs by id, audit
rows by (run, seq). The audit helpers here are shared by the other activities.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from journeys import metrics
from journeys.audit import Ended
from journeys.contracts import (
    ACTIVITY_RECORD_AUDIT,
    ACTIVITY_RECORD_ENTRY,
    ACTIVITY_RECORD_EXIT,
    ACTIVITY_RECORD_PROGRESS,
    AuditRecord,
    EntryRecord,
    EntryResult,
    ExitRecord,
    ProgressRecord,
    in_holdout,
    with_step,
)
from journeys.definitions.document import AFTER_EXIT, ALWAYS, NEVER, Entry
from journeys.definitions.durations import parse_duration
from journeys.store import customers
from journeys.store.db import Sessions
from journeys.store.models import AuditEvent, JourneyRun, JourneyState
from journeys.vocabulary import AuditKind, RunStatus

log = logging.getLogger(__name__)


class RunActivities:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    def all(self) -> list[Any]:
        return [
            self.record_entry,
            self.record_audit,
            self.record_progress,
            self.record_exit,
        ]

    @activity.defn(name=ACTIVITY_RECORD_ENTRY)
    async def record_entry(self, record: EntryRecord) -> EntryResult:
        """A run's entry on its own: what runs recorded before ``record_progress`` call."""
        return await self._enter(record, [])

    @activity.defn(name=ACTIVITY_RECORD_AUDIT)
    async def record_audit(self, record: AuditRecord) -> None:
        async with self.sessions.begin() as session:
            await add_audits_once(session, [record])

    @activity.defn(name=ACTIVITY_RECORD_PROGRESS)
    async def record_progress(self, record: ProgressRecord) -> EntryResult:
        """A run's queued bookkeeping (journeys/workflows/bookkeeping.py): its entry, if still
        pending, and its audit rows, in one transaction. Rows of a refused entry are not written."""
        if record.entry is not None:
            return await self._enter(record.entry, record.audits)
        async with self.sessions.begin() as session:
            await add_audits_once(session, record.audits)
        return EntryResult(entered=True)

    async def _enter(self, record: EntryRecord, audits: list[AuditRecord]) -> EntryResult:
        """Create the run row, apply the entry rules, merge the trigger's traits, and write the
        run's first audit rows if it entered.

        One trigger event enters a customer into a journey once: if another run already entered
        on this messageId (a redelivery after the first run ended), this one is a duplicate.
        The entry rules are checked here, where every earlier run is visible: re-entry and
        cooldown per customer (and entry key), the journey's cap, and the holdout draw. A
        refused entry is kept as a ``not_entered`` run with the reason, for support to see.
        """
        run = record.run
        rules = Entry.model_validate(record.rules)
        try:
            async with self.sessions.begin() as session:
                known = await session.get(JourneyRun, run.run_id)
                if known is not None:  # a retry after the write committed
                    return _entry_result(known)
                identity = await customers.resolve(session, run.customer_id)
                await customers.merge_traits(session, identity.customer_id, record.trigger.traits)
                refusal = await entry_refusal(session, record, rules)
                capped = rules.cap is not None and refusal is None
                if capped and not await count_entry(session, run.journey_key, rules.cap or 0):
                    refusal = f"entry cap of {rules.cap} reached"
                row = JourneyRun(
                    id=run.run_id,
                    workflow_id=run.workflow_id,
                    journey_key=run.journey_key,
                    journey_version=run.journey_version,
                    customer_id=run.customer_id,
                    status=RunStatus.ACTIVE if refusal is None else RunStatus.NOT_ENTERED,
                    reason=refusal or "",
                    trigger_event=record.trigger.name,
                    trigger_message_id=record.trigger.message_id,
                    started_at=record.entered_at,
                    ended_at=None if refusal is None else record.entered_at,
                    holdout=refusal is None and in_holdout(run.run_id, rules.holdout_percent),
                    entry_key=record.entry_key,
                )
                session.add(row)
                if refusal is None:
                    await _insert_audits(session, audits)
            metrics.run_status(run.journey_key, row.status)
            return _entry_result(row)
        except IntegrityError:
            async with self.sessions() as session:
                first = await session.scalar(
                    select(JourneyRun.id).where(
                        JourneyRun.journey_key == run.journey_key,
                        JourneyRun.customer_id == run.customer_id,
                        JourneyRun.trigger_message_id == record.trigger.message_id,
                    )
                )
            if first is None or first == run.run_id:
                raise  # not another run's entry: Temporal retries the activity
            log.info(
                "%s: trigger %s already entered run %s",
                run.workflow_id,
                record.trigger.message_id,
                first,
            )
            return EntryResult(entered=False, duplicate_of=first)

    @activity.defn(name=ACTIVITY_RECORD_EXIT)
    async def record_exit(self, record: ExitRecord) -> None:
        outcome = record.outcome
        async with self.sessions.begin() as session:
            run = await session.get(JourneyRun, record.run.run_id)
            ended = run is not None and run.status != outcome.status
            if run is not None:
                run.status = outcome.status
                run.reason = outcome.reason
                run.ended_at = outcome.ended_at
            await add_audit_once(
                session,
                AuditRecord(
                    run=record.run,
                    seq=record.seq,
                    kind=AuditKind(outcome.status),
                    reason=outcome.reason,
                    occurred_at=outcome.ended_at,
                    data=with_step(Ended(outcome.messages_sent).data(), record.step),
                ),
            )
        if ended:  # once, though Temporal may run the activity again after the commit
            metrics.run_status(record.run.journey_key, outcome.status)


def _entry_result(run: JourneyRun) -> EntryResult:
    if run.status == RunStatus.NOT_ENTERED:
        return EntryResult(entered=False, reason=run.reason)
    return EntryResult(entered=True, holdout=run.holdout)


async def entry_refusal(session: AsyncSession, record: EntryRecord, rules: Entry) -> str | None:
    """Why the re-entry rules refuse this entry, or ``None``. Earlier runs count per customer
    and entry key; runs that never entered (refused, duplicates) do not count."""
    if rules.reentry == ALWAYS or (rules.reentry == AFTER_EXIT and rules.cooldown is None):
        return None  # a run in progress is already kept single by its workflow id
    run = record.run
    earlier = (
        select(JourneyRun)
        .where(
            JourneyRun.journey_key == run.journey_key,
            JourneyRun.customer_id == run.customer_id,
            JourneyRun.id != run.run_id,
            JourneyRun.status != RunStatus.NOT_ENTERED,
        )
        .order_by(JourneyRun.started_at.desc())
        .limit(1)
    )
    if record.entry_key is not None:
        earlier = earlier.where(JourneyRun.entry_key == record.entry_key)
    previous = await session.scalar(earlier)
    if previous is None:
        return None
    if rules.reentry == NEVER:
        return f"re-entry is never: entered before on {previous.started_at:%Y-%m-%d %H:%M} UTC"
    if rules.cooldown is not None and previous.ended_at is not None:
        allowed = previous.ended_at + parse_duration(rules.cooldown)
        if record.entered_at < allowed:
            return f"cooldown {rules.cooldown}: may re-enter from {allowed:%Y-%m-%d %H:%M} UTC"
    return None


async def count_entry(session: AsyncSession, journey_key: str, cap: int) -> bool:
    """Count one entry into a capped journey; ``False`` when its cap is reached. One conditional
    UPDATE, so concurrent entries cannot both take the last place (the row is locked by the
    first writer until its transaction ends). Uncapped journeys are not counted here: every
    entry would queue on that one row."""
    counted = (
        update(JourneyState)
        .where(JourneyState.key == journey_key, JourneyState.entries < cap)
        .values(entries=JourneyState.entries + 1)
    )
    result = await session.execute(counted)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return await session.get(JourneyState, journey_key) is None
    return True


async def add_audit_once(session: AsyncSession, record: AuditRecord) -> None:
    await add_audits_once(session, [record])


async def add_audits_once(session: AsyncSession, records: list[AuditRecord]) -> None:
    """Add one run's audit rows, skipping those a retried write already added (by ``seq``)."""
    if not records:
        return
    run = records[0].run
    written = set(
        await session.scalars(
            select(AuditEvent.seq).where(
                AuditEvent.run_id == run.run_id, AuditEvent.seq.in_([r.seq for r in records])
            )
        )
    )
    await _insert_audits(session, [r for r in records if r.seq not in written])


async def _insert_audits(session: AsyncSession, records: list[AuditRecord]) -> None:
    """One INSERT for a run's audit rows. Added as ORM objects, each row was an INSERT of its
    own (the ORM reads back every new id), and a journey's first bookkeeping write usually
    carries two or three: docs/scaling.md, "Where the matching gap is"."""
    if not records:
        return
    rows = [
        {
            "run_id": r.run.run_id,
            "customer_id": r.run.customer_id,
            "journey_key": r.run.journey_key,
            "seq": r.seq,
            "kind": r.kind,
            "step": r.step,
            "reason": r.reason,
            "data": r.data,
            "occurred_at": r.occurred_at,
        }
        for r in records
    ]
    # render_nulls: a row whose step is None stays in the same INSERT as one with a step.
    await session.execute(insert(AuditEvent).execution_options(render_nulls=True), rows)
