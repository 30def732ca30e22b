"""A run's bookkeeping: its entry and audit rows, written by one local activity per step.

Every decision a run makes is an audit row (invariant 6), and its entry is a run row with the
entry rules applied. Runs recorded before this module wrote each of them with a local activity of
its own, so a journey's first workflow task held three (the entry, "entered", "waiting") before
its first timer: three markers in the history, three store transactions and three trips through
the SDK's local-activity machinery. Measured, that was most of what a journey's start cost on top
of a raw signal-with-start (docs/scaling.md, "The first workflow task").

Now a run queues its audit rows and writes them, with its entry while that is still pending, in
one local activity (``record_progress``) at the next step that waits or acts: before a timer or a
wait for events, before any activity (a send, its compliance check, a trait read or update, an
emitted event, a webhook, a conversion), and before the run's exit is recorded. Between a
decision and its write nothing is observable: no time passes on the run's clock and nothing
leaves it. A crash in between loses nothing either, since the queue is rebuilt by replay.

The entry is decided in that same write, so journey code runs up to its first step that waits or
acts before the entry rules have been checked. It can only compute and queue rows meanwhile; a
refused entry discards them and ends the run as ``not_entered`` (or ``duplicate``), as before.
The holdout draw is a hash of the run id (:func:`in_holdout`), so the workflow knows it at once
and the store records the same answer.

Runs recorded before this change (start version 1 without the ``one-bookkeeping-write`` marker:
journeys/workflows/changes.py) write each row at once, as they did, so their histories replay
unchanged.

Workflow code: deterministic, free of I/O (see journeys/workflows/dsl.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from journeys.contracts import (
    ACTIVITY_RECORD_AUDIT,
    ACTIVITY_RECORD_ENTRY,
    ACTIVITY_RECORD_PROGRESS,
    AuditRecord,
    EntryRecord,
    EntryResult,
    JourneyStart,
    ProgressRecord,
    RunRef,
    StepState,
    in_holdout,
    with_step,
)
from journeys.vocabulary import AuditKind
from journeys.workflows.changes import ONE_BOOKKEEPING_WRITE, takes

BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


async def local_activity(name: str, arg: Any, *, result_type: type | None = None) -> Any:
    """Run one of the DSL's bookkeeping local activities (they only read and write the store):
    all share one timeout and one retry policy."""
    return await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=BOOKKEEPING_TIMEOUT,
        retry_policy=RETRY,
    )


class NotEntered(BaseException):
    """Unwinds a run whose entry the store refused; never visible to journey code."""


class Bookkeeping:
    """The bookkeeping half of :class:`journeys.workflows.dsl.Journey` (a mixin: it shares the run's
    input, reference, audit sequence, current step and declarative step id)."""

    _start: JourneyStart | None
    _run: RunRef | None
    _seq: int
    _step: StepState
    _current_step_id: str | None

    def __init__(self) -> None:
        # False for runs recorded before ONE_BOOKKEEPING_WRITE: each row is written at once.
        self._queued = False
        self._pending_entry: EntryRecord | None = None
        self._pending_audits: list[AuditRecord] = []
        # Writes happen one at a time (the goal watch writes beside the main path), in order.
        self._writing = asyncio.Lock()
        # The store's answer when it refused the entry (``entered`` False).
        self._refusal: EntryResult | None = None

    async def _enter(self, record: EntryRecord, holdout_percent: float) -> EntryResult:
        """The run's entry: queued with the audit rows that follow it, to be decided in the
        first write (or, for a run recorded before that, written and decided now)."""
        assert self._start is not None
        self._queued = takes(self._start.version, ONE_BOOKKEEPING_WRITE)
        if not self._queued:
            entry: EntryResult = await local_activity(
                ACTIVITY_RECORD_ENTRY,
                record,
                result_type=EntryResult,
            )
            return entry
        self._pending_entry = record
        return EntryResult(entered=True, holdout=in_holdout(record.run.run_id, holdout_percent))

    async def _audit(
        self,
        kind: AuditKind,
        reason: str,
        *,
        data: dict[str, Any] | None = None,
        step_id: str | None = None,
    ) -> None:
        """Queue one audit row. It names its step (``data["step_id"]``): the declarative step
        being run, else ``step_id``; rows outside any step (entered) name none."""
        assert self._run is not None
        self._seq += 1
        record = AuditRecord(
            run=self._run,
            seq=self._seq,
            kind=kind,
            reason=reason,
            occurred_at=workflow.now(),
            step=self._step.description,
            data=with_step(data or {}, self._current_step_id or step_id),
        )
        if self._queued:
            self._pending_audits.append(record)
            return
        await local_activity(
            ACTIVITY_RECORD_AUDIT,
            record,
        )

    async def _write_pending(self) -> None:
        """Write the pending entry and queued rows, if any (no command at all when there are
        none, so runs that never queue replay unchanged). Raises :class:`NotEntered` when the
        store refuses the entry."""
        if self._pending_entry is None and not self._pending_audits:
            self._raise_if_refused()
            return
        async with self._writing:
            self._raise_if_refused()
            entry, audits = self._pending_entry, self._pending_audits
            if entry is None and not audits:
                return
            assert self._run is not None
            self._pending_entry, self._pending_audits = None, []
            result: EntryResult = await local_activity(
                ACTIVITY_RECORD_PROGRESS,
                ProgressRecord(run=self._run, entry=entry, audits=audits),
                result_type=EntryResult,
            )
            if not result.entered:
                self._refusal = result
        self._raise_if_refused()

    def _raise_if_refused(self) -> None:
        if self._refusal is not None:
            raise NotEntered()
