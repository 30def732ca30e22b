"""Dataclasses that cross the Temporal boundary: workflow input, signal, query, activity payloads.

They hold only plain data so workflow code can import them inside the sandbox, and each workflow
input carries a ``version`` so it can evolve without breaking runs already in flight.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from journeys.vocabulary import AuditKind, DeliveryStatus, RunStatus

EVENT_SIGNAL = "event"
# An operator's stop (api/run_control.py): the signal, with a CancelRequest.
CANCEL_SIGNAL = "cancel"
CURRENT_STEP_QUERY = "current_step"
RECEIVED_EVENTS_QUERY = "received_events"
# The inactivity watcher's workflow type: the router starts it by name, without workflow code.
WATCHER_WORKFLOW = "InactivityWatcher"

# Message categories (docs/delivery.md "Compliance"): marketing needs consent and respects quiet
# hours and frequency caps; transactional (receipts, password resets) is only stopped by an
# address that cannot receive anything (hard bounce, invalid number).
MARKETING = "marketing"
TRANSACTIONAL = "transactional"
CATEGORIES = (MARKETING, TRANSACTIONAL)
# A compliance check's answer (ComplianceDecision.action).
SEND = "send"
SKIP = "skip"
DEFER = "defer"
# The event a suppression sends to the customer's running journeys: marketing journeys exit on it.
SUPPRESSED_EVENT = "Suppressed"
# A daily quiet-hours window in local time, "21:00-08:00" (it may cross midnight).
QUIET_HOURS_PATTERN = r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d"

# The start version every new run gets (journeys/workflows/changes.py: which changes each takes).
START_VERSION = 2

# The activities' names: workflow code calls them by name, the activity modules register under
# them, so neither side imports the other. Recorded histories hold these strings: never rename.
# A run's bookkeeping, as local activities (journeys/workflows/bookkeeping.py).
ACTIVITY_RECORD_ENTRY = "journeys.record_entry"
ACTIVITY_RECORD_AUDIT = "journeys.record_audit"
ACTIVITY_RECORD_PROGRESS = "journeys.record_progress"
# The steps' activities (journeys/workflows/dsl.py).
ACTIVITY_RECORD_EXIT = "journeys.record_exit"
ACTIVITY_SEND = "journeys.send_message"
ACTIVITY_CHECK_SEND = "journeys.check_send"
ACTIVITY_RECORD_CONVERSION = "journeys.record_conversion"
ACTIVITY_CUSTOMER_TRAITS = "journeys.customer_traits"
ACTIVITY_UPDATE_TRAITS = "journeys.update_traits"
ACTIVITY_NEXT_WINDOW = "journeys.next_window"
ACTIVITY_EMIT = "journeys.emit_event"
ACTIVITY_WEBHOOK = "journeys.call_webhook"
# An audience import's activities and query (journeys/workflows/audience.py).
ACTIVITY_ENTER_BATCH = "journeys.audience_enter_batch"
ACTIVITY_FINISH_IMPORT = "journeys.audience_finish"
PROGRESS_QUERY = "progress"

# Error types an activity raises and workflow code tells apart.
# The webhook activity's for a target it will never call (an invalid URL, a private address): the
# step's audited outcome, not the run's failure.
WEBHOOK_REFUSED = "WebhookRefused"
# An audience import's list is gone (expired or deleted): no retry brings it back.
LIST_MISSING = "ListMissing"

# The key of an audit row's data that names the step it belongs to (see journeys/workflows/dsl.py).
STEP_ID = "step_id"


def with_step(data: dict[str, Any], step: str | None) -> dict[str, Any]:
    """An audit row's data naming its step, when it has one."""
    return data if step is None else {**data, STEP_ID: step}


def in_holdout(run_id: str, percent: float) -> bool:
    """Is this run in the holdout? A hash of the run id: fixed for the run, uniform over runs,
    and the same in the workflow and in the store."""
    if percent <= 0:
        return False
    draw = int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % 10_000
    return draw < percent * 100


@dataclass(frozen=True)
class CancelRequest:
    """The ``cancel`` signal's payload: who stops the run and why. ``actor`` is the operator's
    name as the run's reason shows it; ``key_id`` the API key they used, kept in the history."""

    actor: str
    reason: str
    key_id: str = ""


@dataclass(frozen=True)
class JourneyEvent:
    """One customer event as a journey sees it; ``message_id`` is the idempotency key."""

    name: str
    message_id: str
    customer_id: str
    timestamp: datetime
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JourneyStart:
    """Workflow input, fixed for the run's lifetime (invariant 5: a run finishes as it started)."""

    journey_key: str
    journey_version: int
    customer_id: str
    time_scale: float = 1.0
    # Which changes to the workflow the run takes (journeys/workflows/changes.py). Recorded inputs
    # hold the version they were started with, so raising the default leaves them as they were.
    version: int = START_VERSION
    # Set when the run is entered by something other than an event signal: the inactivity
    # watcher enters a customer with a synthetic "no Login for 7 d" event.
    trigger: JourneyEvent | None = None
    # A declarative journey's document, as published: the run's snapshot of its version.
    definition: dict[str, Any] | None = None
    # The entry key's value for keyed journeys (one run per cart), as in the workflow id.
    entry_key: str | None = None


@dataclass(frozen=True)
class WatchStart:
    """Input of an inactivity watcher: whose absence of which event enters which journey.

    ``seen`` and ``last_event`` carry the watcher's state over continue-as-new.
    """

    journey_key: str
    journey_version: int
    workflow_type: str
    customer_id: str
    event_name: str
    period_seconds: int
    time_scale: float = 1.0
    seen: list[str] = field(default_factory=list)
    last_event: JourneyEvent | None = None
    version: int = 1


@dataclass(frozen=True)
class StepState:
    """Answer of the ``current_step`` query: what the run is doing now and since when."""

    kind: str
    description: str
    since: datetime
    until: datetime | None = None


@dataclass(frozen=True)
class JourneyOutcome:
    """Workflow result: how and when the run ended."""

    status: RunStatus
    reason: str
    ended_at: datetime
    messages_sent: int


@dataclass(frozen=True)
class RunRef:
    """Identifies one journey run in activity payloads."""

    run_id: str
    workflow_id: str
    journey_key: str
    journey_version: int
    customer_id: str


@dataclass(frozen=True)
class EntryRecord:
    run: RunRef
    trigger: JourneyEvent
    entered_at: datetime
    # The journey's entry rules (journeys.definitions.document.Entry as JSON): re-entry, cooldown,
    # cap, holdout; checked where the store sees every earlier run.
    rules: dict[str, Any] = field(default_factory=dict)
    entry_key: str | None = None


@dataclass(frozen=True)
class EntryResult:
    """``entered`` False: the trigger already entered another run (``duplicate_of``), or the
    entry rules refused it (``reason``). ``holdout``: entered, tracked, sent nothing."""

    entered: bool
    duplicate_of: str | None = None
    reason: str | None = None
    holdout: bool = False


@dataclass(frozen=True)
class ConversionRecord:
    """A goal reached: ``event`` within the goal's window, with its revenue, if any."""

    run: RunRef
    seq: int
    event: JourneyEvent
    revenue: float | None
    holdout: bool


@dataclass(frozen=True)
class TraitsUpdate:
    run: RunRef
    seq: int
    traits: dict[str, Any]
    occurred_at: datetime
    # The declarative step that updates them, written to the audit row as ``step_id``.
    step: str | None = None


@dataclass(frozen=True)
class WindowRequest:
    """When does the customer's local window (``days`` ``start``-``end``) next open, after
    ``after``? Answered from their timezone trait (or the default zone)."""

    customer_id: str
    days: list[str]
    start: str
    end: str
    after: datetime


@dataclass(frozen=True)
class EmitRequest:
    """An event a journey publishes for its customer; ``message_id`` is fixed per run and step,
    so a retried publish is dropped by JetStream's dedup."""

    run: RunRef
    message_id: str
    event: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class WebhookCall:
    run: RunRef
    step: str
    url: str
    body: dict[str, Any]


@dataclass(frozen=True)
class WebhookResult:
    status_code: int
    body: str


@dataclass(frozen=True)
class AuditRecord:
    """One explainable decision (invariant 6); ``seq`` makes the write idempotent per run."""

    run: RunRef
    seq: int
    kind: AuditKind
    reason: str
    occurred_at: datetime
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgressRecord:
    """A run's bookkeeping since its last write, in one local activity: its entry, when it has
    not been recorded yet, and the audit rows queued since (journeys/workflows/bookkeeping.py). The
    audit rows are written only if the entry is accepted."""

    run: RunRef
    entry: EntryRecord | None = None
    audits: list[AuditRecord] = field(default_factory=list)


@dataclass(frozen=True)
class SendRequest:
    run: RunRef
    seq: int
    step: str
    channel: str
    template: str
    trigger: JourneyEvent
    requested_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    category: str = MARKETING
    # A subscription group (``newsletter``) the customer may have left on its own.
    group: str | None = None


@dataclass(frozen=True)
class ComplianceCheck:
    """May ``request`` go out now? Asked by the send step before the send activity."""

    request: SendRequest
    # This step's quiet hours: ``"21:00-08:00"``, ``""`` for none, ``None`` for the settings'.
    quiet_hours: str | None = None
    # Set on the check after a quiet-hours deferral: that wait is served, the rest is re-checked.
    deferred_until: datetime | None = None


@dataclass(frozen=True)
class ComplianceDecision:
    """``action``: ``send``, ``skip`` (audited, with a skipped delivery row) or ``defer`` until
    ``until`` (audited); ``code`` names the rule (``suppressed``, ``quiet_hours``, ...)."""

    action: str
    reason: str
    code: str
    until: datetime | None = None
    delivery_id: int | None = None


@dataclass(frozen=True)
class SendResult:
    """What happened to one send step; ``status`` is sent, skipped or failed (or unconfirmed)."""

    status: DeliveryStatus
    reason: str
    delivery_id: int | None = None
    recipient: str | None = None


@dataclass(frozen=True)
class ExitRecord:
    run: RunRef
    seq: int
    outcome: JourneyOutcome
    # The exit step that ended the run, if one did, written to the audit row as ``step_id``.
    step: str | None = None
