"""Every table of the store; Alembic autogenerate sees all of them through this module.

Statuses and kinds are typed by their ``StrEnum`` (journeys/vocabulary.py) in ``String``
columns: the values are the strings the rows have always held, so no migration changes them
(``Vocabulary`` reads them back as members).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from journeys.store.base import Base, Timestamped, Vocabulary, utcnow
from journeys.vocabulary import (
    AuditKind,
    ConsentStatus,
    DeliveryStatus,
    ImportStatus,
    JourneyKind,
    JourneyStatus,
    RunStatus,
)


class JourneyDefinition(Timestamped, Base):
    """One version of a journey. Code journeys are registered here by the worker at start.

    The router builds its in-memory index from the active rows, so a journey becomes routable
    as soon as a worker serving it has started.
    """

    __tablename__ = "journey_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    kind: Mapped[JourneyKind] = mapped_column(Vocabulary(JourneyKind, 20), default=JourneyKind.CODE)
    workflow_type: Mapped[str] = mapped_column(String(200))
    trigger_event: Mapped[str] = mapped_column(String(200))
    # Set for journeys entered on the absence of ``trigger_event`` for this long ("no Login for
    # 7 days"): the trigger event then restarts a countdown instead of entering the customer.
    inactivity_seconds: Mapped[int | None]
    exit_events: Mapped[list[str]] = mapped_column(default=list)
    listens_to: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[JourneyStatus] = mapped_column(
        Vocabulary(JourneyStatus, 20), default=JourneyStatus.ACTIVE
    )
    description: Mapped[str] = mapped_column(Text, default="")
    # The whole journey as data: a declarative journey's document (its steps run by the
    # interpreter), or a code journey's declaration (trigger, entry and exit rules, goal).
    # The router reads its entry rules here; a run gets the snapshot of its version.
    document: Mapped[dict[str, Any] | None]
    published_at: Mapped[datetime | None]


class JourneyState(Timestamped, Base):
    """A journey as a whole, across its versions: may customers enter (``active``) or not
    (``paused``, ``archived``), and the draft its next version is edited in.

    Versions in ``journey_definitions`` are immutable once published; only this row changes.
    Runs already inside a paused or archived journey go on to their end on their version.
    """

    __tablename__ = "journey_states"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[JourneyKind] = mapped_column(Vocabulary(JourneyKind, 20))
    status: Mapped[JourneyStatus] = mapped_column(
        Vocabulary(JourneyStatus, 20), default=JourneyStatus.ACTIVE
    )
    draft: Mapped[dict[str, Any] | None]
    draft_updated_at: Mapped[datetime | None]
    # Entries so far into a journey with an ``entry.cap``, counted atomically against it.
    entries: Mapped[int] = mapped_column(default=0)


class Customer(Timestamped, Base):
    """A customer profile as journeys and templates see it; traits merge from events.

    ``email``, ``phone`` and ``timezone`` mirror the traits of those names so support can find a
    customer by address and sends can find the local time without reading the JSON.
    """

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50), index=True)
    timezone: Mapped[str | None] = mapped_column(String(64))


class CustomerAlias(Timestamped, Base):
    """Another id of a known customer: an ``anonymousId`` they were identified from, or the
    ``previousId`` of an alias call. Events for the alias are applied to ``customer_id``.

    Chains are kept flat: when a canonical customer is itself aliased, its aliases move along.
    """

    __tablename__ = "customer_aliases"

    alias_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    source: Mapped[str] = mapped_column(String(20))


class JourneyRun(Base):
    """One customer's pass through one journey version (a Temporal workflow execution chain)."""

    __tablename__ = "journey_runs"
    __table_args__ = (
        Index(None, "customer_id", "started_at"),
        # One event enters one customer into one journey once, however often it is redelivered
        # (invariant 2 at entry: a redelivered trigger after the run ended starts no second run).
        UniqueConstraint("journey_key", "customer_id", "trigger_message_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(500), index=True)
    journey_key: Mapped[str] = mapped_column(String(200), index=True)
    journey_version: Mapped[int]
    customer_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[RunStatus] = mapped_column(Vocabulary(RunStatus, 20), default=RunStatus.ACTIVE)
    reason: Mapped[str] = mapped_column(Text, default="")
    trigger_event: Mapped[str] = mapped_column(String(200))
    trigger_message_id: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # In the holdout: entered and tracked, sent nothing (the control group of the lift).
    holdout: Mapped[bool] = mapped_column(default=False)
    # The entry key's value for keyed journeys (one run per cart): part of the workflow id.
    entry_key: Mapped[str | None] = mapped_column(String(200))

    audit: Mapped[list[AuditEvent]] = relationship(
        back_populates="run", order_by="AuditEvent.seq", lazy="raise"
    )
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="run", order_by="Delivery.id", lazy="raise"
    )


class Delivery(Base):
    """One message a step produced; (run, step) is unique so a retried step never sends twice."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("run_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("journey_runs.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    step: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(50))
    provider: Mapped[str] = mapped_column(String(50))
    template: Mapped[str] = mapped_column(String(200))
    # The template version that rendered the message; a resend renders the same one.
    template_version: Mapped[int | None]
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(Vocabulary(DeliveryStatus, 20))
    reason: Mapped[str] = mapped_column(Text, default="")
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    requested_at: Mapped[datetime]
    category: Mapped[str] = mapped_column(String(20), default="marketing")

    run: Mapped[JourneyRun] = relationship(back_populates="deliveries", lazy="raise")


class AuditEvent(Base):
    """One explainable decision of a run (invariant 6). (run, seq) makes retried writes no-ops."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("run_id", "seq"), Index(None, "customer_id", "occurred_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("journey_runs.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(200))
    journey_key: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int]
    kind: Mapped[AuditKind] = mapped_column(Vocabulary(AuditKind, 30))
    step: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    # The kind's payload (journeys/audit.py), and ``step_id``.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]

    run: Mapped[JourneyRun] = relationship(back_populates="audit", lazy="raise")


class Conversion(Base):
    """A run's goal reached: the goal event within its window, with the revenue it carried.

    Recorded for holdout runs as for the others, which is what measures a journey's lift.
    One per run: the first goal event converts.
    """

    __tablename__ = "conversions"
    __table_args__ = (Index(None, "journey_key", "journey_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("journey_runs.id", ondelete="CASCADE"), unique=True
    )
    journey_key: Mapped[str] = mapped_column(String(200))
    journey_version: Mapped[int]
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    holdout: Mapped[bool]
    event: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(200))
    revenue: Mapped[float | None]
    occurred_at: Mapped[datetime]


class TemplateVersion(Base):
    """One immutable version of a message template; saving a template adds version N+1.

    A template is a (name, channel) pair and its current version is the highest. The unique
    (name, channel, version) index is also the one the send path reads the latest version by.
    ``source`` says what created the version: ``seed`` (the shipped ``templates/`` files, at
    worker start) or ``api``.
    """

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("name", "channel", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(50))
    version: Mapped[int]
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Consent(Base):
    """A customer's word on one channel's marketing (``kind`` channel, ``name`` email) or on one
    subscription group (``kind`` group, ``name`` newsletter): ``opted_in`` or ``opted_out``.

    One row per customer and subject, holding the latest word: a record older than the row's
    ``changed_at`` does not overwrite it. ``source`` says where it came from (``identify``, an
    event name), ``source_id`` the messageId.
    """

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[ConsentStatus] = mapped_column(Vocabulary(ConsentStatus, 20))
    source: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str | None] = mapped_column(String(200))
    changed_at: Mapped[datetime]


class Suppression(Base):
    """An address that must not get messages: by channel and SHA-256 of the normalised address,
    never the address itself, so it outlives the erasure of the profile it came from.

    ``scope`` is what it blocks: ``all`` (hard bounce, invalid number) or ``marketing``
    (unsubscribe, spam complaint). One row per address and reason.
    """

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("channel", "address_hash", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(50))
    address_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(30))
    scope: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ApiKey(Base):
    """A key to the API and console, for one person or system, with one role.

    Only the SHA-256 of the secret is kept: keys are 256 random bits, so a slow password hash
    would add nothing. ``id`` is the public part of the key (``jk_<id>_<secret>``), which finds
    the row without a scan and names the key in logs and the operator log.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """One console login, live until its key logs out, its age passes or its key is revoked.

    The browser's cookie holds a random token, signed; only the token's SHA-256 is kept here
    (``id``), so reading this table opens no console. Logging out ends the row, so a copy of
    the cookie taken before then stops working at once.
    """

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class OperatorAction(Base):
    """What a person or system did through the API, console or CLI, beyond reading: keys made
    and revoked, runs cancelled, audiences entered, customers exported and erased.

    ``actor`` is the API key id (or ``cli``), ``actor_name`` its name when the action happened.
    An erasure names its customer only by SHA-256, so the log does not undo the erasure.
    """

    __tablename__ = "operator_actions"
    __table_args__ = (Index(None, "target", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]


class AudienceImport(Base):
    """A list of customers entered into a journey by hand, and how far it has got.

    A Temporal workflow (``AudienceImport``) does the entering in batches, so an upload of
    100,000 customers survives a worker restart; it writes its progress here as it goes.
    """

    __tablename__ = "audience_imports"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    journey_key: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[ImportStatus] = mapped_column(
        Vocabulary(ImportStatus, 20), default=ImportStatus.RUNNING
    )
    total: Mapped[int]
    entered: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[str]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class DeliveryEvent(Base):
    """What became of a message once it left: the provider's reports (delivered, bounced,
    failed...) and the opens and clicks of an email, stored against its delivery.

    They are also published as events for journeys to react to, but a timeline must answer
    "was it delivered, was it opened" from the store, without replaying the event stream.
    ``message_id`` is that event's deterministic messageId (the provider's event id, our open or
    click of the minute), unique, so a provider's retry or a reloaded pixel is stored once.
    """

    __tablename__ = "delivery_events"
    __table_args__ = (Index(None, "delivery_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    # delivered, opened, clicked, bounced, dropped, spam_reported, unsubscribed,
    # group_unsubscribed, failed, undelivered (journeys/ingest/webhooks/recording.py).
    kind: Mapped[str] = mapped_column(String(30))
    # Who observed it: sendgrid, twilio, or our own open/click tracking.
    source: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    # The link clicked, for clicks.
    url: Mapped[str | None] = mapped_column(Text)
    # What else the provider said: a bounce's type and reason, an SMS error code, a machine open.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]
