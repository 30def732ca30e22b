"""The payload of each audit kind: what an audit row's ``data`` holds, as a type.

The workflow and the activities write a payload's :meth:`data` into the row; the timeline and the
analytics read it back with :func:`payload`, so they render from these fields and never from the
row's ``reason``, which stays the sentence it always was. The keys are the ones rows have always
held (the analytics query some of them in SQL), plus ``step_id`` (:func:`contracts.with_step`),
which every kind may carry and no payload repeats.

Rows written before a field existed decode with it missing (``None``); the few that can only be
recovered from the reason are read in :func:`_legacy`, the one place that parses a reason.
Plain data, so workflow code may import it inside the sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from journeys.vocabulary import END_KINDS, MESSAGE_KINDS, AuditKind

# The ``code`` of a step a holdout run skips: it is tracked and sends nothing.
HOLDOUT = "holdout"


def _str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _num(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


@dataclass(frozen=True)
class Entered:
    """``entered``: the trigger; a holdout run also names its version (it sends nothing)."""

    event: str | None
    message_id: str | None
    version: int | None = None
    holdout: bool = False

    def data(self) -> dict[str, Any]:
        said: dict[str, Any] = {"event": self.event, "message_id": self.message_id}
        return said | ({"version": self.version, "holdout": True} if self.holdout else {})

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Entered:
        return cls(
            _str(data, "event"),
            _str(data, "message_id"),
            _int(data, "version"),
            bool(data.get("holdout")),
        )


@dataclass(frozen=True)
class Waiting:
    """``waiting``: until when (ISO 8601), at the latest."""

    until: str | None

    def data(self) -> dict[str, Any]:
        return {"until": self.until}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Waiting:
        return cls(_str(data, "until"))


@dataclass(frozen=True)
class Received:
    """``received``: the event that ended a wait."""

    event: str | None
    message_id: str | None

    def data(self) -> dict[str, Any]:
        return {"event": self.event, "message_id": self.message_id}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Received:
        event = _str(data, "event") or _legacy(AuditKind.RECEIVED, reason).get("event")
        return cls(event, _str(data, "message_id"))


@dataclass(frozen=True)
class TimedOut:
    """``timed_out``: the wait's events did not come; the reason names them and the timeout."""

    def data(self) -> dict[str, Any]:
        return {}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> TimedOut:
        return cls()


@dataclass(frozen=True)
class Branched:
    """``branched``: which branch, whether it was taken, and the expression that decided it;
    ``condition`` None when the journey's code decided (a bool)."""

    branch: str
    taken: bool
    condition: str | None

    def data(self) -> dict[str, Any]:
        return {"branch": self.branch, "taken": self.taken, "condition": self.condition}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Branched:
        branch, taken = str(data.get("branch", "")), bool(data.get("taken"))
        if "condition" in data:
            return cls(branch, taken, _str(data, "condition"))
        condition = _legacy(AuditKind.BRANCHED, reason, name=branch, taken=taken).get("condition")
        return cls(branch, taken, condition)


@dataclass(frozen=True)
class Picked:
    """``split`` and ``variant``: the path (or A/B variant) drawn at random, with its share.
    The data names the split (or send step) under the kind's own key, as the analytics read it."""

    kind: AuditKind
    name: str
    chosen: str
    percent: float | None

    def data(self) -> dict[str, Any]:
        return {str(self.kind): self.name, "chosen": self.chosen, "percent": self.percent}

    @classmethod
    def read(cls, kind: AuditKind, data: dict[str, Any], reason: str) -> Picked:
        name = str(data.get(kind, ""))
        chosen, percent = _str(data, "chosen"), _num(data, "percent")
        if chosen is None or percent is None:
            legacy = _legacy(kind, reason, name=name)
            chosen = chosen or legacy.get("chosen") or ""
            percent = percent if percent is not None else _float(legacy.get("percent"))
        return cls(kind, name, chosen, percent)


@dataclass(frozen=True)
class Jumped:
    """``jumped``: a jump step sent the run back to ``to``, the ``count``-th time of ``max``."""

    to: str | None
    count: int | None
    max: int | None

    def data(self) -> dict[str, Any]:
        return {"to": self.to, "count": self.count, "max": self.max}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Jumped:
        return cls(_str(data, "to"), _int(data, "count"), _int(data, "max"))


@dataclass(frozen=True)
class Skipped:
    """``skipped`` by the workflow, not by a message's compliance check or send: a holdout's
    send (``code`` holdout) or webhook, a wait with no time to wait until. ``step`` is the send
    or webhook step, when there is one."""

    step: str | None = None
    code: str | None = None

    def data(self) -> dict[str, Any]:
        said = {"step": self.step, "code": self.code}
        return {key: value for key, value in said.items() if value is not None}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Skipped:
        return cls(_str(data, "step"), _str(data, "code"))


@dataclass(frozen=True)
class Message:
    """``sent``, ``failed``, ``unconfirmed`` or ``skipped`` by the send activity: the step's
    delivery row, what it was, the provider's id and a permanent failure's ``error_kind``."""

    delivery_id: int | None
    channel: str
    template: str
    provider_message_id: str | None = None
    error_kind: str | None = None
    # The template version a sent message rendered.
    template_version: int | None = None

    def data(self) -> dict[str, Any]:
        said: dict[str, Any] = {
            "delivery_id": self.delivery_id,
            "channel": self.channel,
            "template": self.template,
            "provider_message_id": self.provider_message_id,
        }
        extra = {"error_kind": self.error_kind, "template_version": self.template_version}
        return said | {key: value for key, value in extra.items() if value is not None}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Message:
        return cls(
            _int(data, "delivery_id"),
            _str(data, "channel") or "",
            _str(data, "template") or "",
            _str(data, "provider_message_id"),
            _str(data, "error_kind"),
            _int(data, "template_version"),
        )


@dataclass(frozen=True)
class Compliance:
    """``deferred``, or ``skipped`` by the compliance check: the message, the rule that applied
    (``compliance``: suppressed, quiet_hours, ...), and for a deferral when it goes on, in which
    zone; for a skip, its delivery row."""

    channel: str
    template: str
    category: str | None
    group: str | None
    compliance: str | None
    delivery_id: int | None = None
    until: str | None = None
    timezone: str | None = None

    def data(self) -> dict[str, Any]:
        said: dict[str, Any] = {
            "channel": self.channel,
            "template": self.template,
            "category": self.category,
            "group": self.group,
            "compliance": self.compliance,
        }
        extra = {"delivery_id": self.delivery_id, "until": self.until, "timezone": self.timezone}
        return said | {key: value for key, value in extra.items() if value is not None}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Compliance:
        return cls(
            _str(data, "channel") or "",
            _str(data, "template") or "",
            _str(data, "category"),
            _str(data, "group"),
            _str(data, "compliance"),
            _int(data, "delivery_id"),
            _str(data, "until"),
            _str(data, "timezone"),
        )


@dataclass(frozen=True)
class Emitted:
    """``emitted``: the event published, and its fixed messageId."""

    event: str | None
    message_id: str | None

    def data(self) -> dict[str, Any]:
        return {"event": self.event, "message_id": self.message_id}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Emitted:
        return cls(_str(data, "event"), _str(data, "message_id"))


@dataclass(frozen=True)
class Webhook:
    """``webhook_called`` (the reason: the request and its status) or ``webhook_failed`` (the
    reason: why the target was refused)."""

    step: str | None

    def data(self) -> dict[str, Any]:
        return {"step": self.step}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Webhook:
        return cls(_str(data, "step"))


@dataclass(frozen=True)
class TraitsUpdated:
    """``traits_updated``: the traits merged into the profile."""

    traits: dict[str, Any]

    def data(self) -> dict[str, Any]:
        return {"traits": self.traits}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> TraitsUpdated:
        traits = data.get("traits")
        return cls(dict(traits) if isinstance(traits, dict) else {})


@dataclass(frozen=True)
class Converted:
    """``converted`` at the goal (the conversion row holds the rest): the goal event's
    messageId and revenue. A run that then ends as converted writes an :class:`Ended`."""

    message_id: str | None
    revenue: float | None

    def data(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "revenue": self.revenue}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Converted:
        return cls(_str(data, "message_id"), _num(data, "revenue"))


@dataclass(frozen=True)
class Ended:
    """A run's end (the kind is its final status): how many messages it sent."""

    messages_sent: int

    def data(self) -> dict[str, Any]:
        return {"messages_sent": self.messages_sent}

    @classmethod
    def read(cls, data: dict[str, Any], reason: str) -> Ended:
        return cls(_int(data, "messages_sent") or 0)


Payload = (
    Entered
    | Waiting
    | Received
    | TimedOut
    | Branched
    | Picked
    | Jumped
    | Skipped
    | Message
    | Compliance
    | Emitted
    | Webhook
    | TraitsUpdated
    | Converted
    | Ended
)

# Each kind's reader, but for the kinds that also name a message or an end (see payload()).
_READERS: dict[str, Callable[[dict[str, Any], str], Payload]] = {
    AuditKind.ENTERED: Entered.read,
    AuditKind.WAITING: Waiting.read,
    AuditKind.RECEIVED: Received.read,
    AuditKind.TIMED_OUT: TimedOut.read,
    AuditKind.BRANCHED: Branched.read,
    AuditKind.JUMPED: Jumped.read,
    AuditKind.SKIPPED: Skipped.read,
    AuditKind.DEFERRED: Compliance.read,
    AuditKind.EMITTED: Emitted.read,
    AuditKind.WEBHOOK_CALLED: Webhook.read,
    AuditKind.WEBHOOK_FAILED: Webhook.read,
    AuditKind.TRAITS_UPDATED: TraitsUpdated.read,
    AuditKind.CONVERTED: Converted.read,
}


def is_end(kind: str, data: dict[str, Any]) -> bool:
    """Is this row a run's end? ``converted`` and ``failed`` are also a goal and a message."""
    return kind in END_KINDS and "messages_sent" in data


def is_message(kind: str, data: dict[str, Any]) -> bool:
    """Is this row a send step's outcome (written by its compliance check or send activity)?"""
    return kind in MESSAGE_KINDS and "channel" in data


def payload(kind: str, data: dict[str, Any] | None, reason: str = "") -> Payload | None:
    """The payload of an audit row of ``kind``; None for a kind this module does not know
    (``reason`` serves only rows written before their payload's fields: see :func:`_legacy`)."""
    data = data or {}
    if is_end(kind, data):
        return Ended.read(data, reason)
    if is_message(kind, data):
        if kind == AuditKind.SKIPPED and "compliance" in data:
            return Compliance.read(data, reason)
        return Message.read(data, reason)
    if kind in (AuditKind.SPLIT, AuditKind.VARIANT):
        return Picked.read(AuditKind(kind), data, reason)
    reader = _READERS.get(kind)
    return reader(data, reason) if reader is not None else None


# --- rows written before the typed payloads ---------------------------------------------------

_PICKED = re.compile(r"(?P<chosen>.*) \((?P<percent>[0-9.e+-]+)%\)")


def _legacy(kind: AuditKind, reason: str, *, name: str = "", taken: bool = False) -> dict[str, str]:
    """What a row written before its payload had these fields says in its reason; the only place
    a reason is parsed, and only for those rows (new rows carry every field in their data):

    - ``branched`` without ``condition``: ``<name>: <condition> is true|false`` was an
      expression, ``<name>: yes|no`` the journey's code (no condition);
    - ``split``/``variant`` without ``percent``: ``<name>: <chosen> (<percent>%)``;
    - ``received`` without ``event``: ``received <event>``.
    """
    if kind == AuditKind.BRANCHED:
        why = reason.removeprefix(f"{name}: ")
        outcome = f" is {'true' if taken else 'false'}"
        return {"condition": why.removesuffix(outcome)} if why.endswith(outcome) else {}
    if kind in (AuditKind.SPLIT, AuditKind.VARIANT):
        found = _PICKED.fullmatch(reason.removeprefix(f"{name}: "))
        return found.groupdict() if found else {}
    if kind == AuditKind.RECEIVED and reason.startswith("received "):
        return {"event": reason.removeprefix("received ")}
    return {}


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
