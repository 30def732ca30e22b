"""Stopping runs and nudging them by hand: what the run routes (api/runs/routes.py) and the
console call, so both act, answer and log alike.

Both talk to the runs' workflows directly, by signal, and write one operator-log row per call
(:mod:`journeys.store.operator_log`) naming who did it and to which runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal, log_change
from journeys.contracts import CANCEL_SIGNAL, EVENT_SIGNAL, CancelRequest, JourneyEvent
from journeys.store.customers import resolve
from journeys.store.models import JourneyDefinition, JourneyRun
from journeys.store.runs import ACTIVE, active_runs_of, runs_by_id
from journeys.vocabulary import RunStatus

CANCEL_ACTION = "run.cancel"
EVENT_ACTION = "run.event"
# Signals in flight at once for a bulk cancel: Temporal takes thousands a second, the API's
# event loop should not hold ten thousand open requests.
SIGNAL_CONCURRENCY = 20
# The run ids an operator-log row keeps; the count is always complete.
LOGGED_IDS = 1000
NOT_RUNNING = "not running"
T = TypeVar("T")
# How a row left active ends when a cancel finds its workflow closed: Temporal's status, as a
# run status and the words of its reason.
_CLOSED_AS = {
    WorkflowExecutionStatus.FAILED: (RunStatus.FAILED, "failed"),
    WorkflowExecutionStatus.TIMED_OUT: (RunStatus.FAILED, "timed out"),
    WorkflowExecutionStatus.TERMINATED: (RunStatus.TERMINATED, "was terminated"),
    WorkflowExecutionStatus.CANCELED: (RunStatus.CANCELLED, "was cancelled"),
    WorkflowExecutionStatus.COMPLETED: (RunStatus.COMPLETED, "completed"),
}


class TemporalUnavailable(RuntimeError):
    """The API has no Temporal connection now, so no run can be reached; nothing was changed."""


@dataclass(frozen=True)
class CancelOutcome:
    """What a cancel did to each run asked for.

    ``requested``: active runs whose workflow took the cancel (each ends within moments, as
    ``cancelled``, once a worker handles it). ``already_ended``: run id -> the status it had,
    or, when the row said active but its workflow had closed, the status the row now has (see
    :func:`_closed`; ``not running`` if Temporal could not say). ``not_found``: ids no run
    has. ``failed``: run id -> why Temporal did not take it.
    """

    requested: list[str] = field(default_factory=list)
    already_ended: dict[str, str] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


async def cancel_runs(
    temporal: Client | None,
    session: AsyncSession,
    run_ids: Sequence[str],
    *,
    actor: Principal,
    reason: str,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> CancelOutcome:
    """Send the ``cancel`` signal (journeys/workflows/dsl.py, ``Journey.on_cancel``) to each active
    run of ``run_ids``; the run ends at once as ``cancelled``, "cancelled by <actor name>:
    <reason>".

    Runs already ended and unknown ids are reported, not errors. One operator-log row records
    the call (``target``: ``run:<id>`` for one run, else the caller's, e.g. ``journey:<key>``,
    with ``detail`` such as the filter), and is committed here.
    """
    if temporal is None:
        raise TemporalUnavailable("Temporal is not reachable from the API; nothing was cancelled")
    ids = list(dict.fromkeys(run_ids))
    rows = await runs_by_id(session, ids)
    outcome = CancelOutcome()
    active: list[JourneyRun] = []
    for run_id in ids:
        row = rows.get(run_id)
        if row is None:
            outcome.not_found.append(run_id)
        elif row.status != ACTIVE:
            outcome.already_ended[run_id] = row.status
        else:
            active.append(row)
    request = CancelRequest(actor=actor.name, reason=reason, key_id=actor.key_id)
    answers = await _each(active, lambda row: _signal(temporal, row, CANCEL_SIGNAL, request))
    closed: list[JourneyRun] = []
    for row, answer in zip(active, answers, strict=True):
        if answer is None:
            outcome.requested.append(row.id)
        elif answer == NOT_RUNNING:
            closed.append(row)
        else:
            outcome.failed[row.id] = answer
    ends = await _each(closed, lambda row: _closed(temporal, row))
    for row, end in zip(closed, ends, strict=True):
        outcome.already_ended[row.id] = NOT_RUNNING if end is None else end.status
        if end is not None:
            await session.execute(
                update(JourneyRun)
                .where(JourneyRun.id == row.id, JourneyRun.status == ACTIVE)
                .values(status=end.status, reason=end.reason, ended_at=end.at)
            )
    await log_change(
        session,
        actor,
        action=CANCEL_ACTION,
        target=target or (f"run:{ids[0]}" if len(ids) == 1 else "runs"),
        detail={
            **(detail or {}),
            "reason": reason,
            "count": len(outcome.requested),
            "run_ids": outcome.requested[:LOGGED_IDS],
            "already_ended": len(outcome.already_ended),
            "not_found": outcome.not_found[:LOGGED_IDS],
            "failed": dict(list(outcome.failed.items())[:LOGGED_IDS]),
        },
    )
    await session.commit()
    return outcome


@dataclass(frozen=True)
class Nudged:
    """One run that took a hand-sent event. ``listens`` is False when the run's journey version
    neither waits for, exits on, nor converts on that event: the run keeps it and moves on
    nothing (a misspelt event name, most likely)."""

    run_id: str
    workflow_id: str
    journey_key: str
    journey_version: int
    message_id: str
    listens: bool


@dataclass(frozen=True)
class EventOutcome:
    customer_id: str
    delivered: list[Nudged] = field(default_factory=list)
    # Run id -> why it did not take the event (``not running``: it ended meanwhile).
    missed: dict[str, str] = field(default_factory=dict)


async def send_event(
    temporal: Client | None,
    session: AsyncSession,
    customer_id: str,
    event: str,
    properties: Mapping[str, Any],
    *,
    actor: Principal,
    journey: str | None = None,
) -> EventOutcome:
    """Hand ``event`` to the customer's active runs (of ``journey`` only, if given), each as a
    :class:`JourneyEvent` with a messageId of its own (``manual/<uuid>``), by Temporal signal.

    A signal, not a publish to NATS, on purpose: a published event goes through the router to
    every journey, so it could also enter the customer into journeys it triggers, change their
    consent or identity, and leave nobody able to say which run took it, while an operator
    nudging a stuck run means these runs and no others, and needs the answer now: which runs
    got it. The cost is that no other journey sees it, and it is not in the event stream; the
    operator log and each run's history keep it instead. Runs already ended are skipped; with
    no active run at all nothing is sent and nothing logged.
    """
    if temporal is None:
        raise TemporalUnavailable("Temporal is not reachable from the API; no run was signalled")
    identity = await resolve(session, customer_id)
    runs = await active_runs_of(session, customer_id, journey)
    listened = await _listened(session, {(run.journey_key, run.journey_version) for run in runs})
    now = datetime.now(UTC)
    signals = {
        run.id: JourneyEvent(
            name=event,
            message_id=f"manual/{uuid.uuid4()}",
            customer_id=identity.customer_id,
            timestamp=now,
            properties=dict(properties),
        )
        for run in runs
    }
    answers = await _each(runs, lambda run: _signal(temporal, run, EVENT_SIGNAL, signals[run.id]))
    outcome = EventOutcome(customer_id=identity.customer_id)
    for run, answer in zip(runs, answers, strict=True):
        if answer is not None:
            outcome.missed[run.id] = answer
            continue
        key = (run.journey_key, run.journey_version)
        outcome.delivered.append(
            Nudged(
                run_id=run.id,
                workflow_id=run.workflow_id,
                journey_key=run.journey_key,
                journey_version=run.journey_version,
                message_id=signals[run.id].message_id,
                listens=event in listened.get(key, ()),
            )
        )
    if not runs:
        return outcome
    await log_change(
        session,
        actor,
        action=EVENT_ACTION,
        target=f"customer:{identity.customer_id}",
        detail={
            "event": event,
            "journey": journey,
            "properties": dict(properties),
            "runs": {n.run_id: n.message_id for n in outcome.delivered},
            "missed": outcome.missed,
        },
    )
    await session.commit()
    return outcome


async def _listened(
    session: AsyncSession, versions: set[tuple[str, int]]
) -> dict[tuple[str, int], set[str]]:
    """For each journey version: the events its runs act on (exits, waits, its goal)."""
    found: dict[tuple[str, int], set[str]] = {}
    for key in {key for key, _ in versions}:
        rows = await session.scalars(select(JourneyDefinition).where(JourneyDefinition.key == key))
        for row in rows:
            goal = (row.document or {}).get("goal") or {}
            names = {*row.exit_events, *row.listens_to}
            if isinstance(goal, dict) and isinstance(goal.get("event"), str):
                names.add(goal["event"])
            found[(row.key, row.version)] = names
    return found


async def _signal(temporal: Client, run: JourneyRun, signal: str, payload: Any) -> str | None:
    """Signal the run's own workflow execution; None when taken, else why not.

    The row's id is the run id Temporal gave the workflow (journeys never continue-as-new), so
    a newer run under the same workflow id, after a re-entry, is never reached by mistake.
    """
    handle = temporal.get_workflow_handle(run.workflow_id, run_id=run.id)
    try:
        await handle.signal(signal, payload)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return NOT_RUNNING
        return f"{err.status.name if err.status else 'error'}: {err.message}"
    return None


@dataclass(frozen=True)
class _Closed:
    """How a run's closed workflow ended, as its row should say."""

    status: RunStatus
    reason: str
    at: datetime


async def _closed(temporal: Client, row: JourneyRun) -> _Closed | None:
    """How the workflow of a run whose row says active but which took no signal ended; None
    when Temporal cannot say (or says it is running after all).

    Runs end their rows themselves, failures included (journeys/workflows/dsl.py), but a workflow
    terminated or timed out in Temporal directly, or one that failed before runs wrote their
    failures, leaves its row active: counted by every dry run, and never to be cancelled. A
    run past its retention is gone from Temporal: it ends as failed, since nothing says how.
    """
    handle = temporal.get_workflow_handle(row.workflow_id, run_id=row.id)
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            return None
        return _Closed(RunStatus.FAILED, "its workflow is gone from Temporal", datetime.now(UTC))
    if described.status not in _CLOSED_AS:
        return None
    status, said = _CLOSED_AS[described.status]
    at = described.close_time or datetime.now(UTC)
    return _Closed(status, f"its workflow {said} in Temporal", at)


async def _each(runs: Sequence[JourneyRun], call: Callable[[JourneyRun], Awaitable[T]]) -> list[T]:
    limit = asyncio.Semaphore(SIGNAL_CONCURRENCY)

    async def bounded(run: JourneyRun) -> T:
        async with limit:
            return await call(run)

    return list(await asyncio.gather(*(bounded(run) for run in runs)))
