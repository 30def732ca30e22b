"""Read side of one customer's history: their profile, their runs, and each run's story.

Support answers "why did this customer get this message, or not?" from here, so a run's
timeline merges everything the store knows about it into one list ordered by time: the audit rows
the workflow wrote (entered, waits, skips and deferrals, branches, the end), the deliveries with
what their providers and our tracking reported since (delivered, opened, clicked...), and the
conversion. Each entry carries a one-line sentence for people and the facts behind it for tools.

Nothing is masked here: the API and the console mask contact details by who is asking.
The runs are loaded with their deliveries and audit rows eagerly (the relationships refuse lazy
loading), and delivery events and conversions in one query each, whatever the number of runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from journeys.contracts import STEP_ID
from journeys.store.customers import Identity, resolve
from journeys.store.models import (
    AuditEvent,
    Conversion,
    Customer,
    Delivery,
    DeliveryEvent,
    JourneyRun,
)

T = TypeVar("T")

# What a timeline entry is about. Message entries keep the delivery's (or audit row's) status
# as their kind: sent, failed, unconfirmed, skipped; deferred and sending are on their way.
ENTERED = "entered"
NOT_ENTERED = "not_entered"
WAITING = "waiting"
RECEIVED = "received"
TIMED_OUT = "timed_out"
SENT = "sent"
SKIPPED = "skipped"
DEFERRED = "deferred"
SENDING = "sending"
BRANCHED = "branched"
SPLIT = "split"
VARIANT = "variant"
CONVERTED = "converted"
ENDED = "ended"

# Audit kinds the send and compliance activities write for a message step.
_MESSAGE_KINDS = frozenset({"sent", "failed", "unconfirmed", "skipped"})
# Audit kinds of a run's end (record_exit writes the run's final status as the kind).
_END_KINDS = frozenset({"completed", "exited", "converted", "cancelled", "terminated", "failed"})
# Delivery event kinds that say where the message got to (the last one stands), and those that
# say what the customer did with it (counted).
_STATUS_KINDS = ("delivered", "bounced", "dropped", "failed", "undelivered")
_ENGAGEMENT = {
    "opened": "opened",
    "clicked": "clicked",
    "spam_reported": "marked as spam",
    "unsubscribed": "unsubscribed",
    "group_unsubscribed": "left the subscription group",
}
_CHANNEL_NAMES = {"sms": "SMS"}
_END_WORDS = {"completed": "Completed", "exited": "Exited", "converted": "Exited, converted"}
_LAST = 1 << 30
_CHUNK = 500


@dataclass(frozen=True)
class TimelineEntry:
    """One beat of a run's story. ``summary`` is the sentence support reads; ``detail`` the
    facts behind it (JSON-ready: times as ISO strings), e.g. a message's rendered content."""

    at: datetime
    kind: str
    step: str | None
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunTimeline:
    """A journey run (the ``journey_runs`` row's fields) and its entries, oldest first."""

    id: str
    workflow_id: str
    journey_key: str
    journey_version: int
    customer_id: str
    status: str
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
        if row.kind == CONVERTED and "messages_sent" not in row.data and conversion is not None:
            conversion_seq = row.seq  # told from the conversion row, which has it all
            continue
        delivery = deliveries.get(_int(row.data.get("delivery_id")) or 0)
        if delivery is not None:
            told.add(delivery.id)
        ended |= row.kind in _END_KINDS and "messages_sent" in row.data
        entry = _audit_entry(run, row, delivery, events.get(delivery.id, []) if delivery else [])
        keyed.append((row.occurred_at, row.seq, entry))
    if run.status == NOT_ENTERED:
        keyed.append((run.started_at, 0, _not_entered(run)))
    for delivery in run.deliveries:
        if delivery.id not in told:
            entry = _pending_message(delivery, events.get(delivery.id, []))
            keyed.append((delivery.requested_at, _LAST, entry))
    if conversion is not None:
        keyed.append((conversion.occurred_at, conversion_seq, _conversion(conversion)))
    if run.ended_at is not None and not ended and run.status != NOT_ENTERED:
        keyed.append((run.ended_at, _LAST + 1, _end_from_row(run)))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in keyed]


def _audit_entry(
    run: JourneyRun, row: AuditEvent, delivery: Delivery | None, events: list[DeliveryEvent]
) -> TimelineEntry:
    data = row.data or {}
    if row.kind in _MESSAGE_KINDS and (delivery is not None or "channel" in data):
        return _message(row, delivery, events)
    if row.kind == DEFERRED:
        return _deferred(row)
    if row.kind in _END_KINDS and "messages_sent" in data:
        return _end(row)
    summary = _SUMMARIES.get(row.kind, _as_said)(run, row)
    step = _first_str(data, STEP_ID, "step", "branch", "split", "variant")
    if step is None and row.kind in (WAITING, RECEIVED, TIMED_OUT):
        step = row.step
    return TimelineEntry(row.occurred_at, row.kind, step, summary, _plain(data))


# --- sentences -------------------------------------------------------------------------------


def _entered(run: JourneyRun, row: AuditEvent) -> str:
    data = row.data
    version = data.get("version", run.journey_version)
    event = data.get("event", run.trigger_event)
    said = f"Entered {run.journey_key} v{version} on {event}"
    if data.get("message_id"):
        said += f" (message {data['message_id']})"
    if data.get("holdout") or run.holdout:
        said += "; in the holdout group: it sends nothing"
    return said


def _waiting(run: JourneyRun, row: AuditEvent) -> str:
    until = _when(row.data.get("until"))
    if until is None:
        return _as_said(run, row)
    verb = "Waiting" if until > datetime.now(UTC) and run.ended_at is None else "Waited"
    return f"{verb} until {_utc(until)} ({row.reason})"


def _received(run: JourneyRun, row: AuditEvent) -> str:
    data = row.data
    event = data.get("event") or row.reason.removeprefix("received ")
    mid = data.get("message_id")
    return f"Received {event}" + (f" (message {mid})" if mid else "")


def _timed_out(run: JourneyRun, row: AuditEvent) -> str:
    return f"Timed out: {row.reason}"


def _branched(run: JourneyRun, row: AuditEvent) -> str:
    """``<name>: <condition> is true|false`` (an expression) or ``<name>: yes|no`` (code)."""
    name = str(row.data.get("branch", ""))
    taken = bool(row.data.get("taken"))
    why = row.reason.removeprefix(f"{name}: ")
    outcome = "true" if taken else "false"
    if why.endswith(f" is {outcome}"):
        condition = why.removesuffix(f" is {outcome}")
        because = f"because {condition} was {outcome}"
    else:
        because = "as the journey's code decided"
    if taken:
        return f"Took branch '{name}' {because}"
    return f"Did not take branch '{name}' {because}"


def _split(run: JourneyRun, row: AuditEvent) -> str:
    name = str(row.data.get(row.kind, ""))
    label = "A/B test" if row.kind == VARIANT else "Split"
    thing = "variant" if row.kind == VARIANT else "path"
    return f"{label} '{name}': {thing} {row.reason.removeprefix(f'{name}: ')}"


def _skipped_other(run: JourneyRun, row: AuditEvent) -> str:
    """A skip that is no message's: a holdout's webhook, a wait with no time to wait until."""
    code = row.data.get("code")
    return f"Skipped: {row.reason}" + (f" (code {code})" if code else "")


def _as_said(run: JourneyRun, row: AuditEvent) -> str:
    """Kinds without a sentence of their own (emitted, traits_updated, webhook_called, jumped,
    and any added later) read as their reason, which each step writes as a sentence."""
    words = {
        "traits_updated": "Updated traits: ",
        "webhook_called": "Called webhook: ",
        "jumped": "Jumped: ",
    }
    said = words.get(row.kind, "") + row.reason
    return said[:1].upper() + said[1:]


_SUMMARIES = {
    ENTERED: _entered,
    WAITING: _waiting,
    RECEIVED: _received,
    TIMED_OUT: _timed_out,
    BRANCHED: _branched,
    SPLIT: _split,
    VARIANT: _split,
    SKIPPED: _skipped_other,
    CONVERTED: _as_said,
}


def _message(
    row: AuditEvent, delivery: Delivery | None, events: list[DeliveryEvent]
) -> TimelineEntry:
    """A send step's outcome, with its delivery: what was rendered, where it went, what the
    provider and the customer did with it since."""
    data = row.data or {}
    detail = _delivery_detail(delivery, events) if delivery is not None else {}
    detail = {**_plain(data), **detail}
    channel = str(detail.get("channel") or data.get("channel") or "")
    template = str(detail.get("template") or data.get("template") or "")
    version = detail.get("template_version") or data.get("template_version")
    what = f"{_channel(channel)} {template}" + (f" v{version}" if version else "")
    code = data.get("compliance") or data.get("code")
    if code:
        detail["code"] = code
    step = delivery.step if delivery is not None else row.step
    if row.kind == SENT:
        said = f"Sent {what}"
        recipient = detail.get("recipient")
        if recipient:
            said += f" to {recipient}"
        provider_id = detail.get("provider_message_id")
        if provider_id:
            said += f" (provider id {provider_id})"
        outcome = _outcome(events)
        summary = f"{said}: {outcome}" if outcome else said
    elif row.kind == SKIPPED:
        summary = f"Skipped {what}: {row.reason}" + (f" (code {code})" if code else "")
    elif row.kind == "failed":
        summary = f"Failed to send {what}: {row.reason}"
    else:
        summary = f"Not confirmed {what}: {row.reason}"
    return TimelineEntry(row.occurred_at, row.kind, step, summary, detail)


def _deferred(row: AuditEvent) -> TimelineEntry:
    data = row.data or {}
    until = _when(data.get("until"))
    what = f"{_channel(str(data.get('channel', '')))} {data.get('template', '')}".strip()
    when = f" until {_utc(until)}" if until is not None else ""
    code = data.get("compliance")
    summary = f"Deferred {what}{when}: {row.reason}" + (f" (code {code})" if code else "")
    detail = _plain(data) | ({"code": code} if code else {})
    return TimelineEntry(row.occurred_at, DEFERRED, row.step, summary, detail)


def _pending_message(delivery: Delivery, events: list[DeliveryEvent]) -> TimelineEntry:
    """A message whose step has not concluded yet (being handed over, or retried)."""
    what = f"{_channel(delivery.channel)} {delivery.template}"
    state = {"allowed": "let through, about to be sent", "retrying": "provider refused, retrying"}
    said = f"Sending {what}: {state.get(delivery.status, delivery.status)}"
    if delivery.reason and delivery.status != "allowed":
        said += f" ({delivery.reason})"
    detail = _delivery_detail(delivery, events)
    return TimelineEntry(delivery.requested_at, SENDING, delivery.step, said, detail)


def _end(row: AuditEvent) -> TimelineEntry:
    sent = _int(row.data.get("messages_sent")) or 0
    words = _END_WORDS.get(row.kind, row.kind.capitalize())
    summary = f"{words}: {row.reason} ({sent} message{'' if sent == 1 else 's'} sent)"
    detail = {"status": row.kind, "reason": row.reason, "messages_sent": sent}
    return TimelineEntry(row.occurred_at, ENDED, None, summary, detail)


def _end_from_row(run: JourneyRun) -> TimelineEntry:
    """An end the run row records but no audit row tells (e.g. a run cancelled by an operator)."""
    assert run.ended_at is not None
    words = _END_WORDS.get(run.status, run.status.capitalize())
    summary = f"{words}: {run.reason}" if run.reason else words
    detail = {"status": run.status, "reason": run.reason}
    return TimelineEntry(run.ended_at, ENDED, None, summary, detail)


def _not_entered(run: JourneyRun) -> TimelineEntry:
    summary = (
        f"Not entered into {run.journey_key} v{run.journey_version} on {run.trigger_event}: "
        f"{run.reason or 'entry refused'}"
    )
    detail = {
        "event": run.trigger_event,
        "message_id": run.trigger_message_id,
        "reason": run.reason,
    }
    return TimelineEntry(run.started_at, NOT_ENTERED, None, summary, detail)


def _conversion(conversion: Conversion) -> TimelineEntry:
    said = f"Converted on {conversion.event} (message {conversion.message_id})"
    if conversion.revenue is not None:
        said += f", revenue {conversion.revenue:,.2f}"
    if conversion.holdout:
        said += "; a holdout run, so it counts towards the journey's baseline"
    detail = {
        "event": conversion.event,
        "message_id": conversion.message_id,
        "revenue": conversion.revenue,
        "holdout": conversion.holdout,
    }
    return TimelineEntry(conversion.occurred_at, CONVERTED, None, said, detail)


# --- deliveries and what became of them ------------------------------------------------------


def _delivery_detail(delivery: Delivery, events: list[DeliveryEvent]) -> dict[str, Any]:
    opens = [e for e in events if e.kind == "opened"]
    return {
        "delivery_id": delivery.id,
        "step": delivery.step,
        "channel": delivery.channel,
        "provider": delivery.provider,
        "category": delivery.category,
        "template": delivery.template,
        "template_version": delivery.template_version,
        "status": delivery.status,
        "reason": delivery.reason,
        "recipient": delivery.recipient,
        "subject": delivery.subject,
        "body": delivery.body,
        "html": delivery.html,
        "provider_message_id": delivery.provider_message_id,
        "provider_status": _provider_status(events),
        "opens": sum(1 for e in opens if not e.detail.get("machine_open")),
        "machine_opens": sum(1 for e in opens if e.detail.get("machine_open")),
        "clicks": sum(1 for e in events if e.kind == "clicked"),
        "events": [
            {
                "kind": e.kind,
                "at": e.occurred_at.isoformat(),
                "source": e.source,
                "url": e.url,
                "provider_message_id": e.provider_message_id,
                **({"detail": e.detail} if e.detail else {}),
            }
            for e in events
        ],
    }


def _provider_status(events: Iterable[DeliveryEvent]) -> str | None:
    """The last report of where the message got to (a bounce after "delivered" stands)."""
    status = None
    for event in events:
        if event.kind in _STATUS_KINDS:
            status = event.kind
    return status


def _outcome(events: list[DeliveryEvent]) -> str:
    """``delivered, opened 2x, clicked``: the provider's last word, then what the customer did."""
    said: list[str] = []
    status = _provider_status(events)
    if status is not None:
        reason = next((e.detail.get("reason") for e in reversed(events) if e.kind == status), None)
        said.append(f"{status} ({reason})" if reason and status != "delivered" else status)
    machine = sum(1 for e in events if e.kind == "opened" and e.detail.get("machine_open"))
    for kind, words in _ENGAGEMENT.items():
        count = sum(1 for e in events if e.kind == kind and not e.detail.get("machine_open"))
        if count:
            said.append(words if count == 1 else f"{words} {count}x")
    if machine:
        said.append(f"opened by a mail privacy proxy {machine}x")
    return ", ".join(said)


# --- small helpers ---------------------------------------------------------------------------


def _channel(channel: str) -> str:
    return _CHANNEL_NAMES.get(channel, channel)


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _first_str(data: dict[str, Any], *names: str) -> str | None:
    return next((str(data[n]) for n in names if isinstance(data.get(n), str)), None)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """A copy the caller may change (the route masks it) without touching the ORM row."""
    return {key: _copy(value) for key, value in data.items()}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
