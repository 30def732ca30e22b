"""The words the store, the workflows, the read models and the API share: statuses and kinds.

Each is a ``StrEnum`` whose values are the strings stored in the rows, sent in Temporal payloads
and shown in the API's JSON, so a member compares equal to (and serialises as) its string: rows
written before these types existed read back unchanged, and recorded histories replay as they
were. Plain data, so workflow code may import it inside the sandbox.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """A run row's status (``journey_runs.status``) and a run's outcome (``JourneyOutcome``)."""

    # Entered and going.
    ACTIVE = "active"
    # Ended by the run itself: its last step, an exit event or exit step, its goal.
    COMPLETED = "completed"
    EXITED = "exited"
    CONVERTED = "converted"
    # Stopped by an operator (contracts.CANCEL_SIGNAL).
    CANCELLED = "cancelled"
    # Refused at entry by the entry rules (re-entry, cooldown, cap): the row keeps the reason.
    NOT_ENTERED = "not_entered"
    # Its workflow failed (a journey error, an activity failed for good): the reason says why.
    FAILED = "failed"
    # Ended by an erasure of its customer (journeys/store/erasure.py).
    TERMINATED = "terminated"
    # A workflow's outcome only, never a row's: its trigger had already entered another run.
    DUPLICATE = "duplicate"


# The statuses a run row may hold (DUPLICATE is an outcome whose row is the first run's).
RUN_ROW_STATUSES: tuple[RunStatus, ...] = tuple(s for s in RunStatus if s != RunStatus.DUPLICATE)
# How a run may end on its own or be ended: a run row's status once ``ended_at`` is set.
END_STATUSES = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.EXITED,
        RunStatus.CONVERTED,
        RunStatus.CANCELLED,
        RunStatus.TERMINATED,
        RunStatus.FAILED,
    }
)


class DeliveryStatus(StrEnum):
    """A delivery row's status (``deliveries.status``): one message a send step produced."""

    # Let through a frequency cap by the compliance check: the claim on one of the cap's
    # messages, which the send activity then takes over.
    ALLOWED = "allowed"
    # Being handed to the provider; ``retrying`` after the provider refused it for now.
    SENDING = "sending"
    RETRYING = "retrying"
    # The step's outcome.
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    # A send attempt died mid-hand-over: whether the provider took it is unknown.
    UNCONFIRMED = "unconfirmed"


class JourneyStatus(StrEnum):
    """A journey's status as a whole (``journey_states``) and its versions'
    (``journey_definitions``): may customers enter it or not. Runs already inside go on to their
    end either way."""

    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class JourneyKind(StrEnum):
    """How a journey is written: Python code registered by a worker, or a declarative document
    run by the interpreter (journeys/definitions/document.py)."""

    CODE = "code"
    DEFINITION = "definition"


class ConsentStatus(StrEnum):
    """A customer's word on one channel's marketing or one subscription group (``consents``)."""

    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


class ImportStatus(StrEnum):
    """An audience import's status (``audience_imports``), and how it ended (``AudienceEnd``)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class AuditKind(StrEnum):
    """What one audit row (``audit_events.kind``) records; journeys/audit.py holds each kind's
    payload, carried in the row's ``data``."""

    # The run entered, on its trigger.
    ENTERED = "entered"
    # A wait began; it ended with an event received, or timed out.
    WAITING = "waiting"
    RECEIVED = "received"
    TIMED_OUT = "timed_out"
    # Decisions: a branch, a random split, an A/B test's variant, a jump back.
    BRANCHED = "branched"
    SPLIT = "split"
    VARIANT = "variant"
    JUMPED = "jumped"
    # A send step's outcome (the delivery row's status), or its quiet-hours deferral. A step
    # the run did not act on (a holdout's send or webhook, a wait with no time) is also skipped.
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    DEFERRED = "deferred"
    # The other steps with effects outside the run.
    EMITTED = "emitted"
    WEBHOOK_CALLED = "webhook_called"
    WEBHOOK_FAILED = "webhook_failed"
    TRAITS_UPDATED = "traits_updated"
    # The goal reached (the conversion), and the run's ends: record_exit writes the run's final
    # status as the kind, so CONVERTED and FAILED are also ends (their payload tells them apart).
    CONVERTED = "converted"
    COMPLETED = "completed"
    EXITED = "exited"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


# The audit kinds of a send step's outcome, as the send and compliance activities write them.
MESSAGE_KINDS = frozenset(
    {AuditKind.SENT, AuditKind.FAILED, AuditKind.UNCONFIRMED, AuditKind.SKIPPED}
)
# The audit kinds of a run's end: its final status.
END_KINDS = frozenset(AuditKind(status) for status in END_STATUSES)
