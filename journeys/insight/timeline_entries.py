"""One beat of a run's story: each audit row, delivery, conversion and end as a timeline entry.

The sentence support reads is written from the row's payload (journeys/audit.py), never parsed
back out of its reason: a branch says which condition decided it because the row holds the
condition. The reason is shown as it was written where it is the sentence itself (a timeout, a
skip, a deferral, an end).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from journeys.audit import (
    Branched,
    Compliance,
    Converted,
    Ended,
    Entered,
    Message,
    Payload,
    Picked,
    Received,
    Skipped,
    Waiting,
    payload,
)
from journeys.contracts import STEP_ID
from journeys.insight.timeline_deliveries import channel_name, delivery_detail, outcome
from journeys.store.models import AuditEvent, Conversion, Delivery, DeliveryEvent, JourneyRun
from journeys.vocabulary import MESSAGE_KINDS, AuditKind, DeliveryStatus, RunStatus


class EntryKind(StrEnum):
    """What a timeline entry is about when no audit row of that kind tells it."""

    # A refused entry (a run row ``not_entered``): the run row says why.
    NOT_ENTERED = "not_entered"
    # A message whose step has not concluded yet (being handed over, or retried).
    SENDING = "sending"
    # The run's end, whatever its status (the detail holds it).
    ENDED = "ended"


# The sentence that starts an end, by the run's final status (others: the status, capitalised).
_END_WORDS: dict[str, str] = {
    RunStatus.COMPLETED: "Completed",
    RunStatus.EXITED: "Exited",
    RunStatus.CONVERTED: "Exited, converted",
}
# Kinds without a sentence of their own read as their reason, after these words.
_AS_SAID: dict[str, str] = {
    AuditKind.TRAITS_UPDATED: "Updated traits: ",
    AuditKind.WEBHOOK_CALLED: "Called webhook: ",
    AuditKind.JUMPED: "Jumped: ",
}


@dataclass(frozen=True)
class TimelineEntry:
    """One beat of a run's story. ``summary`` is the sentence support reads; ``detail`` the
    facts behind it (JSON-ready: times as ISO strings), e.g. a message's rendered content.
    ``kind`` is the audit row's (a message keeps its delivery's status: sent, failed,
    unconfirmed, skipped), or an :class:`EntryKind`."""

    at: datetime
    kind: AuditKind | EntryKind
    step: str | None
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


def audit_entry(
    run: JourneyRun, row: AuditEvent, delivery: Delivery | None, events: list[DeliveryEvent]
) -> TimelineEntry:
    """The entry of one audit row; a message's with its delivery and what became of it."""
    data = row.data or {}
    said = payload(row.kind, data, row.reason)
    if row.kind in MESSAGE_KINDS and (delivery is not None or "channel" in data):
        return _message(row, said, delivery, events)
    if isinstance(said, Compliance) and row.kind == AuditKind.DEFERRED:
        return _deferred(row, said)
    if isinstance(said, Ended):
        return _end(row, said)
    summary = _summary(run, row, said)
    step = _first_str(data, STEP_ID, "step", "branch", "split", "variant")
    if step is None and row.kind in (AuditKind.WAITING, AuditKind.RECEIVED, AuditKind.TIMED_OUT):
        step = row.step
    return TimelineEntry(row.occurred_at, row.kind, step, summary, _plain(data))


# --- sentences -------------------------------------------------------------------------------


def _summary(run: JourneyRun, row: AuditEvent, said: Payload | None) -> str:
    if isinstance(said, Entered):
        return _entered(run, said)
    if isinstance(said, Waiting):
        return _waiting(run, row, said)
    if isinstance(said, Received):
        mid = said.message_id
        return f"Received {said.event or ''}" + (f" (message {mid})" if mid else "")
    if row.kind == AuditKind.TIMED_OUT:
        return f"Timed out: {row.reason}"
    if isinstance(said, Branched):
        return _branched(said)
    if isinstance(said, Picked):
        return _picked(said)
    if isinstance(said, Skipped):
        # No message's skip: a holdout's webhook, a wait with no time to wait until.
        return f"Skipped: {row.reason}" + (f" (code {said.code})" if said.code else "")
    return _as_said(row)


def _entered(run: JourneyRun, said: Entered) -> str:
    version = said.version if said.version is not None else run.journey_version
    text = f"Entered {run.journey_key} v{version} on {said.event or run.trigger_event}"
    if said.message_id:
        text += f" (message {said.message_id})"
    if said.holdout or run.holdout:
        text += "; in the holdout group: it sends nothing"
    return text


def _waiting(run: JourneyRun, row: AuditEvent, said: Waiting) -> str:
    until = _when(said.until)
    if until is None:
        return _as_said(row)
    verb = "Waiting" if until > datetime.now(UTC) and run.ended_at is None else "Waited"
    return f"{verb} until {_utc(until)} ({row.reason})"


def _branched(said: Branched) -> str:
    """An expression's branch names its condition; a code journey's decided in its code."""
    outcome = "true" if said.taken else "false"
    if said.condition is not None:
        because = f"because {said.condition} was {outcome}"
    else:
        because = "as the journey's code decided"
    if said.taken:
        return f"Took branch '{said.branch}' {because}"
    return f"Did not take branch '{said.branch}' {because}"


def _picked(said: Picked) -> str:
    label, thing = ("A/B test", "variant") if said.kind == AuditKind.VARIANT else ("Split", "path")
    share = f" ({said.percent:g}%)" if said.percent is not None else ""
    return f"{label} '{said.name}': {thing} {said.chosen}{share}"


def _as_said(row: AuditEvent) -> str:
    """Kinds without a sentence of their own (emitted, traits_updated, webhook_called, jumped,
    converted, and any added later) read as their reason, which each step writes as one."""
    text = _AS_SAID.get(row.kind, "") + row.reason
    return text[:1].upper() + text[1:]


# --- messages, ends and what has no audit row -------------------------------------------------


def _message(
    row: AuditEvent, said: Payload | None, delivery: Delivery | None, events: list[DeliveryEvent]
) -> TimelineEntry:
    """A send step's outcome, with its delivery: what was rendered, where it went, what the
    provider and the customer did with it since."""
    detail = delivery_detail(delivery, events) if delivery is not None else {}
    detail = {**_plain(row.data or {}), **detail}
    message = said if isinstance(said, Message | Compliance) else None
    channel = str(detail.get("channel") or (message.channel if message else ""))
    template = str(detail.get("template") or (message.template if message else ""))
    version = detail.get("template_version") or (
        said.template_version if isinstance(said, Message) else None
    )
    what = f"{channel_name(channel)} {template}" + (f" v{version}" if version else "")
    code = (
        said.compliance
        if isinstance(said, Compliance)
        else said.code
        if isinstance(said, Skipped)
        else None
    )
    if code:
        detail["code"] = code
    step = delivery.step if delivery is not None else row.step
    if row.kind == AuditKind.SENT:
        text = f"Sent {what}"
        recipient = detail.get("recipient")
        if recipient:
            text += f" to {recipient}"
        provider_id = detail.get("provider_message_id")
        if provider_id:
            text += f" (provider id {provider_id})"
        became = outcome(events)
        summary = f"{text}: {became}" if became else text
    elif row.kind == AuditKind.SKIPPED:
        summary = f"Skipped {what}: {row.reason}" + (f" (code {code})" if code else "")
    elif row.kind == AuditKind.FAILED:
        summary = f"Failed to send {what}: {row.reason}"
    else:
        summary = f"Not confirmed {what}: {row.reason}"
    return TimelineEntry(row.occurred_at, row.kind, step, summary, detail)


def _deferred(row: AuditEvent, said: Compliance) -> TimelineEntry:
    until = _when(said.until)
    what = f"{channel_name(said.channel)} {said.template}".strip()
    when = f" until {_utc(until)}" if until is not None else ""
    code = said.compliance
    summary = f"Deferred {what}{when}: {row.reason}" + (f" (code {code})" if code else "")
    detail = _plain(row.data or {}) | ({"code": code} if code else {})
    return TimelineEntry(row.occurred_at, AuditKind.DEFERRED, row.step, summary, detail)


def pending_message(delivery: Delivery, events: list[DeliveryEvent]) -> TimelineEntry:
    """A message whose step has not concluded yet (being handed over, or retried)."""
    what = f"{channel_name(delivery.channel)} {delivery.template}"
    state = {
        DeliveryStatus.ALLOWED: "let through, about to be sent",
        DeliveryStatus.RETRYING: "provider refused, retrying",
    }
    said = f"Sending {what}: {state.get(delivery.status, delivery.status)}"
    if delivery.reason and delivery.status != DeliveryStatus.ALLOWED:
        said += f" ({delivery.reason})"
    detail = delivery_detail(delivery, events)
    return TimelineEntry(delivery.requested_at, EntryKind.SENDING, delivery.step, said, detail)


def _end(row: AuditEvent, said: Ended) -> TimelineEntry:
    sent = said.messages_sent
    words = _END_WORDS.get(row.kind, row.kind.capitalize())
    summary = f"{words}: {row.reason} ({sent} message{'' if sent == 1 else 's'} sent)"
    detail = {"status": row.kind, "reason": row.reason, "messages_sent": sent}
    return TimelineEntry(row.occurred_at, EntryKind.ENDED, None, summary, detail)


def end_from_row(run: JourneyRun) -> TimelineEntry:
    """An end the run row records but no audit row tells (e.g. a run cancelled by an operator)."""
    assert run.ended_at is not None
    words = _END_WORDS.get(run.status, run.status.capitalize())
    summary = f"{words}: {run.reason}" if run.reason else words
    detail = {"status": run.status, "reason": run.reason}
    return TimelineEntry(run.ended_at, EntryKind.ENDED, None, summary, detail)


def not_entered(run: JourneyRun) -> TimelineEntry:
    summary = (
        f"Not entered into {run.journey_key} v{run.journey_version} on {run.trigger_event}: "
        f"{run.reason or 'entry refused'}"
    )
    detail = {
        "event": run.trigger_event,
        "message_id": run.trigger_message_id,
        "reason": run.reason,
    }
    return TimelineEntry(run.started_at, EntryKind.NOT_ENTERED, None, summary, detail)


def conversion_entry(conversion: Conversion) -> TimelineEntry:
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
    return TimelineEntry(conversion.occurred_at, AuditKind.CONVERTED, None, said, detail)


def is_goal(row: AuditEvent) -> bool:
    """A ``converted`` row of the goal reached (not of the run's end, which is also one)."""
    return isinstance(payload(row.kind, row.data), Converted)


# --- small helpers ---------------------------------------------------------------------------


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
