"""Read side of one customer's history: their profile, their runs, and each run's story.

Support answers "why did this customer get this message, or not?" from here, so a run's
timeline merges everything the store knows about it into one list ordered by time: the audit rows
the workflow wrote (entered, waits, skips and deferrals, branches, the end), the deliveries with
what their providers and our tracking reported since (delivered, opened, clicked...), and the
conversion. Each entry carries a one-line sentence for people and the facts behind it for tools
(journeys/insight/timeline_entries.py writes them, from each audit row's typed payload).

Nothing is masked here: the API and the console mask contact details by who is asking.
The runs are loaded with their deliveries and audit rows eagerly (the relationships refuse lazy
loading), and delivery events and conversions in one query each, whatever the number of runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from journeys.audit import is_end
from journeys.insight.timeline_entries import (
    TimelineEntry,
    audit_entry,
    conversion_entry,
    end_from_row,
    is_goal,
    not_entered,
    pending_message,
)
from journeys.store.customers import Identity, resolve
from journeys.store.models import (
    AuditEvent,
    Conversion,
    Customer,
    DeliveryEvent,
    JourneyRun,
)
from journeys.vocabulary import RunStatus

__all__ = [
    "CustomerHistory",
    "CustomerTimeline",
    "RunTimeline",
    "TimelineEntry",
    "customer_history",
    "customer_timeline",
    "run_timeline",
]

T = TypeVar("T")

_LAST = 1 << 30
_CHUNK = 500


@dataclass(frozen=True)
class RunTimeline:
    """A journey run (the ``journey_runs`` row's fields) and its entries, oldest first."""

    id: str
    workflow_id: str
    journey_key: str
    journey_version: int
    customer_id: str
    status: RunStatus
    reason: str
    trigger_event: str
    trigger_message_id: str
    started_at: datetime
    ended_at: datetime | None
    holdout: bool
    entry_key: str | None
    entries: list[TimelineEntry]

    @property
    def run_id(self) -> str:
        """The Temporal run id, which is the row's id."""
        return self.id


@dataclass(frozen=True)
class CustomerTimeline:
    """A customer as support sees them: the canonical id, the other ids their events came
    under, the profile's traits (empty without a profile), and their runs, newest first."""

    customer_id: str
    aliases: tuple[str, ...]
    has_profile: bool
    traits: dict[str, Any]
    runs: list[RunTimeline]


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
    return await _history(session, identity, limit)


async def customer_timeline(
    session: AsyncSession, customer_id: str, *, limit: int = 100
) -> CustomerTimeline | None:
    """The customer (by their id or any alias) with their newest ``limit`` runs' timelines;
    None when there is neither a profile nor a run for them."""
    identity = await resolve(session, customer_id)
    history = await _history(session, identity, limit)
    if history.is_unknown:
        return None
    customer = history.customer
    return CustomerTimeline(
        customer_id=identity.customer_id,
        aliases=identity.aliases,
        has_profile=customer is not None,
        traits=dict(customer.traits or {}) if customer is not None else {},
        runs=await _timelines(session, history.runs),
    )


async def run_timeline(session: AsyncSession, run_id: str) -> RunTimeline | None:
    """One run's timeline; None if no run has this id."""
    run = await session.scalar(
        select(JourneyRun)
        .where(JourneyRun.id == run_id)
        .options(selectinload(JourneyRun.deliveries), selectinload(JourneyRun.audit))
    )
    if run is None:
        return None
    (timeline,) = await _timelines(session, [run])
    return timeline


async def _history(session: AsyncSession, identity: Identity, limit: int) -> CustomerHistory:
    customer = await session.get(Customer, identity.customer_id)
    runs = await session.scalars(
        select(JourneyRun)
        .where(JourneyRun.customer_id.in_(identity.ids))
        .options(selectinload(JourneyRun.deliveries), selectinload(JourneyRun.audit))
        .order_by(JourneyRun.started_at.desc(), JourneyRun.id.desc())
        .limit(limit)
    )
    return CustomerHistory(customer=customer, runs=runs.all())


async def _timelines(session: AsyncSession, runs: Sequence[JourneyRun]) -> list[RunTimeline]:
    """Timelines of ``runs`` (loaded with deliveries and audit rows), in the same order."""
    delivery_ids = [d.id for run in runs for d in run.deliveries]
    events: dict[int, list[DeliveryEvent]] = {}
    for ids in _chunks(delivery_ids):
        rows = await session.scalars(
            select(DeliveryEvent)
            .where(DeliveryEvent.delivery_id.in_(ids))
            .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
        )
        for row in rows:
            events.setdefault(row.delivery_id, []).append(row)
    conversions: dict[str, Conversion] = {}
    for run_ids in _chunks([run.id for run in runs]):
        for conversion in await session.scalars(
            select(Conversion).where(Conversion.run_id.in_(run_ids))
        ):
            conversions[conversion.run_id] = conversion
    return [_run_timeline(run, events, conversions.get(run.id)) for run in runs]


def _run_timeline(
    run: JourneyRun, events: dict[int, list[DeliveryEvent]], conversion: Conversion | None
) -> RunTimeline:
    return RunTimeline(
        id=run.id,
        workflow_id=run.workflow_id,
        journey_key=run.journey_key,
        journey_version=run.journey_version,
        customer_id=run.customer_id,
        status=run.status,
        reason=run.reason,
        trigger_event=run.trigger_event,
        trigger_message_id=run.trigger_message_id,
        started_at=run.started_at,
        ended_at=run.ended_at,
        holdout=run.holdout,
        entry_key=run.entry_key,
        entries=_entries(run, events, conversion),
    )


def _entries(
    run: JourneyRun, events: dict[int, list[DeliveryEvent]], conversion: Conversion | None
) -> list[TimelineEntry]:
    """Audit rows in their order, each message with its delivery folded in, then what has no
    audit row of its own: a refused entry, a message still on its way, a conversion whose audit
    row is gone, an end recorded only on the run row. Ordered by time, then by ``seq``."""
    deliveries = {d.id: d for d in run.deliveries}
    told: set[int] = set()
    keyed: list[tuple[datetime, int, TimelineEntry]] = []
    conversion_seq = _LAST
    ended = False
    for row in sorted(run.audit, key=lambda a: a.seq):
        if conversion is not None and is_goal(row):
            conversion_seq = row.seq  # told from the conversion row, which has it all
            continue
        delivery = deliveries.get(_delivery_id(row))
        if delivery is not None:
            told.add(delivery.id)
        ended |= is_end(row.kind, row.data or {})
        entry = audit_entry(run, row, delivery, events.get(delivery.id, []) if delivery else [])
        keyed.append((row.occurred_at, row.seq, entry))
    if run.status == RunStatus.NOT_ENTERED:
        keyed.append((run.started_at, 0, not_entered(run)))
    for delivery in run.deliveries:
        if delivery.id not in told:
            entry = pending_message(delivery, events.get(delivery.id, []))
            keyed.append((delivery.requested_at, _LAST, entry))
    if conversion is not None:
        keyed.append((conversion.occurred_at, conversion_seq, conversion_entry(conversion)))
    if run.ended_at is not None and not ended and run.status != RunStatus.NOT_ENTERED:
        keyed.append((run.ended_at, _LAST + 1, end_from_row(run)))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in keyed]


def _delivery_id(row: AuditEvent) -> int:
    """The delivery a message's row names (any kind may: a compliance skip, a send's outcome)."""
    value: Any = (row.data or {}).get("delivery_id")
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
