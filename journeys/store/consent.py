"""Consent records and the suppression list: what customers agreed to, and where nothing may go.

Consent is the customer's (per channel, per subscription group) and is set from identify traits
(:func:`apply_traits`) and from provider events (:func:`apply_event`); the router calls both.
Suppressions belong to addresses, kept as hashes
(:func:`journeys.delivery.compliance.address_hash`), so an unsubscribed or bounced address stays
blocked after its profile is erased, and for any other profile that later carries it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.contracts import MARKETING
from journeys.delivery.channels import ADDRESS_TRAITS
from journeys.delivery.compliance import (
    HARD_BOUNCE,
    INVALID_ADDRESS,
    OPTED_IN,
    OPTED_OUT,
    SCOPE_ALL,
    SCOPE_MARKETING,
    SPAM_COMPLAINT,
    UNSUBSCRIBE,
    SuppressionHit,
    address_hash,
)
from journeys.ingest.webhooks import names
from journeys.store import customers
from journeys.store.models import Consent, Delivery, JourneyRun, Suppression
from journeys.vocabulary import ConsentStatus, DeliveryStatus, RunStatus

log = logging.getLogger(__name__)

CHANNEL = "channel"
GROUP = "group"

# Twilio error codes of an SMS callback that mean the number can never get a message
# (invalid, not mobile, landline, unknown handset), and the one that means it replied STOP.
TWILIO_INVALID_NUMBER = frozenset(
    {"21211", "21214", "21217", "21401", "21407", "21421", "21614", "30005", "30006"}
)
TWILIO_UNSUBSCRIBED = "21610"
# SendGrid drops a message to an address on its own suppression lists; we mirror them.
_SENDGRID_DROPS = {
    "Bounced Address": (HARD_BOUNCE, SCOPE_ALL),
    "Spam Reporting Address": (SPAM_COMPLAINT, SCOPE_MARKETING),
    "Unsubscribed Address": (UNSUBSCRIBE, SCOPE_MARKETING),
}
# Events whose arrival may change consent or suppression: the router passes these to
# apply_event even when no journey listens to them.
CONSENT_EVENTS = frozenset(
    {
        names.UNSUBSCRIBED,
        names.GROUP_UNSUBSCRIBED,
        names.EMAIL_BOUNCED,
        names.EMAIL_DROPPED,
        names.EMAIL_MARKED_AS_SPAM,
        names.SMS_FAILED,
        names.SMS_UNDELIVERED,
    }
)
# Deliveries that did not go out, and so do not count towards a frequency cap.
_NOT_SENT = (DeliveryStatus.SKIPPED, DeliveryStatus.FAILED)


@dataclass
class ConsentChange:
    """What one identify or event changed. ``ends_marketing``: the customer's running marketing
    journeys should exit (signal them :func:`journeys.delivery.compliance.suppressed_event`)."""

    consents: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, status)
    suppressions: list[tuple[str, str]] = field(default_factory=list)  # (channel, reason)

    @property
    def ends_marketing(self) -> bool:
        opted_out = any(k == CHANNEL and s == OPTED_OUT for k, _, s in self.consents)
        return opted_out or bool(self.suppressions)

    @property
    def reasons(self) -> list[str]:
        opt_outs = [n for k, n, s in self.consents if k == CHANNEL and s == OPTED_OUT]
        return [reason for _, reason in self.suppressions] + [f"{n} opt-out" for n in opt_outs]


# --- consent ---------------------------------------------------------------------------------


async def set_consent(
    session: AsyncSession,
    customer_id: str,
    kind: str,
    name: str,
    status: ConsentStatus,
    *,
    at: datetime,
    source: str,
    source_id: str | None = None,
) -> bool:
    """Record the customer's latest word on a channel or group; False if it changed nothing
    (the same status) or is older than the record it would replace."""
    row = await session.scalar(
        select(Consent).where(
            Consent.customer_id == customer_id, Consent.kind == kind, Consent.name == name
        )
    )
    if row is None:
        session.add(
            Consent(
                customer_id=customer_id,
                kind=kind,
                name=name,
                status=status,
                source=source,
                source_id=source_id,
                changed_at=at,
            )
        )
        await session.flush()
        return True
    if at < row.changed_at or row.status == status:
        return False
    row.status, row.source, row.source_id, row.changed_at = status, source, source_id, at
    return True


async def consent_status(
    session: AsyncSession, customer_ids: Sequence[str], channel: str, group: str | None
) -> tuple[ConsentStatus | None, ConsentStatus | None]:
    """(channel status, group status) of the customer known by ``customer_ids`` (their id and
    aliases), ``None`` where nothing is recorded; the latest record of any of the ids wins."""
    subjects = [(CHANNEL, channel)] + ([(GROUP, group)] if group is not None else [])
    rows = await session.scalars(
        select(Consent)
        .where(
            Consent.customer_id.in_(customer_ids),
            Consent.kind.in_([k for k, _ in subjects]),
            Consent.name.in_([n for _, n in subjects]),
        )
        .order_by(Consent.changed_at)
    )
    latest = {(row.kind, row.name): row.status for row in rows}
    return latest.get((CHANNEL, channel)), (
        latest.get((GROUP, group)) if group is not None else None
    )


async def apply_traits(
    session: AsyncSession,
    customer_id: str,
    traits: Mapping[str, Any],
    *,
    at: datetime,
    source_id: str | None = None,
) -> ConsentChange:
    """Apply an identify call's ``traits.consent``::

        {"email": true, "sms": false, "groups": {"newsletter": false}}

    ``true`` opts in, ``false`` opts out; other values and other keys are ignored. Opting back in
    to a channel lifts the unsubscribe suppression of the customer's current address on it
    (a spam complaint or a bounce stays).
    """
    change = ConsentChange()
    given = traits.get("consent")
    if not isinstance(given, Mapping):
        return change
    groups = given.get("groups")
    subjects = [(CHANNEL, k, v) for k, v in given.items() if k != "groups"]
    if isinstance(groups, Mapping):
        subjects += [(GROUP, str(k), v) for k, v in groups.items()]
    for kind, name, value in subjects:
        if not isinstance(value, bool):
            continue
        status = OPTED_IN if value else OPTED_OUT
        if await set_consent(
            session, customer_id, kind, name, status, at=at, source="identify", source_id=source_id
        ):
            change.consents.append((kind, name, status))
            if kind == CHANNEL and value:
                address = await _profile_address(session, customer_id, name)
                if address:
                    await unsuppress(session, name, address, reasons=(UNSUBSCRIBE,))
    return change


# --- suppressions ----------------------------------------------------------------------------


async def suppress(
    session: AsyncSession,
    channel: str,
    address: str,
    reason: str,
    scope: str,
    *,
    at: datetime,
    source: str,
    source_id: str | None = None,
) -> bool:
    """Add ``address`` to the suppression list for ``reason``; False if it was there already."""
    digest = address_hash(channel, address)
    exists = await session.scalar(
        select(Suppression.id).where(
            Suppression.channel == channel,
            Suppression.address_hash == digest,
            Suppression.reason == reason,
        )
    )
    if exists is not None:
        return False
    session.add(
        Suppression(
            channel=channel,
            address_hash=digest,
            reason=reason,
            scope=scope,
            source=source,
            source_id=source_id,
            created_at=at,
        )
    )
    await session.flush()
    return True


async def unsuppress(
    session: AsyncSession, channel: str, address: str, *, reasons: Sequence[str]
) -> int:
    """Lift the suppressions of ``address`` for ``reasons``; how many were lifted."""
    result = await session.execute(
        delete(Suppression).where(
            Suppression.channel == channel,
            Suppression.address_hash == address_hash(channel, address),
            Suppression.reason.in_(reasons),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def suppressions_of(
    session: AsyncSession, channel: str, address: str
) -> tuple[SuppressionHit, ...]:
    rows = await session.execute(
        select(Suppression.reason, Suppression.scope).where(
            Suppression.channel == channel,
            Suppression.address_hash == address_hash(channel, address),
        )
    )
    return tuple(SuppressionHit(reason, scope) for reason, scope in rows.all())


# --- provider events -------------------------------------------------------------------------


async def apply_event(
    session: AsyncSession,
    customer_id: str,
    event_name: str,
    properties: Mapping[str, Any],
    *,
    at: datetime,
    source_id: str | None = None,
    asm_groups: Mapping[str, str] | None = None,
) -> ConsentChange:
    """Apply what a webhook event (docs/events.md) says about consent and suppression.

    - ``Unsubscribed``: opt-out of the channel (``properties.channel``, default email) and the
      address suppressed for marketing.
    - ``Group Unsubscribed``: opt-out of the group ``properties.group``, else the name
      ``asm_groups`` gives the SendGrid ``asm_group_id``, else that id as text.
    - ``Email Marked as Spam``: email opt-out and a marketing suppression (spam complaint).
    - ``Email Bounced`` with ``bounce_type`` hard: suppressed for everything.
    - ``Email Dropped`` by SendGrid for an address on its own lists: mirrored.
    - ``SMS Failed`` / ``SMS Undelivered`` with an invalid-number code: suppressed for everything;
      with 21610 (the number replied STOP, the carrier refuses every message): SMS opt-out and
      suppressed for everything.

    The address is the delivery's recipient (``properties.delivery_id``), the one the report is
    about, else the profile's. Other events change nothing.
    """
    change = ConsentChange()
    source = f"event:{event_name}"

    async def opt_out(kind: str, name: str) -> None:
        if await set_consent(
            session, customer_id, kind, name, OPTED_OUT, at=at, source=source, source_id=source_id
        ):
            change.consents.append((kind, name, OPTED_OUT))

    async def block(channel: str, reason: str, scope: str) -> None:
        address = await _event_address(session, customer_id, channel, properties)
        if address is None:
            log.warning("%s for %s: no %s address to suppress", event_name, customer_id, channel)
            return
        if await suppress(
            session, channel, address, reason, scope, at=at, source=source, source_id=source_id
        ):
            change.suppressions.append((channel, reason))

    if event_name == names.UNSUBSCRIBED:
        channel = str(properties.get("channel") or "email")
        await opt_out(CHANNEL, channel)
        await block(channel, UNSUBSCRIBE, SCOPE_MARKETING)
    elif event_name == names.GROUP_UNSUBSCRIBED:
        group = _group_name(properties, asm_groups or {})
        if group is not None:
            await opt_out(GROUP, group)
    elif event_name == names.EMAIL_MARKED_AS_SPAM:
        await opt_out(CHANNEL, "email")
        await block("email", SPAM_COMPLAINT, SCOPE_MARKETING)
    elif event_name == names.EMAIL_BOUNCED:
        if properties.get("bounce_type") == "hard":
            await block("email", HARD_BOUNCE, SCOPE_ALL)
    elif event_name == names.EMAIL_DROPPED:
        dropped = _SENDGRID_DROPS.get(str(properties.get("reason", "")))
        if dropped is not None:
            await block("email", *dropped)
    elif event_name in (names.SMS_FAILED, names.SMS_UNDELIVERED):
        code = str(properties.get("error_code", ""))
        if code in TWILIO_INVALID_NUMBER:
            await block("sms", INVALID_ADDRESS, SCOPE_ALL)
        elif code == TWILIO_UNSUBSCRIBED:
            await opt_out(CHANNEL, "sms")
            await block("sms", UNSUBSCRIBE, SCOPE_ALL)
    return change


def _group_name(properties: Mapping[str, Any], asm_groups: Mapping[str, str]) -> str | None:
    if properties.get("group"):
        return str(properties["group"])
    asm = properties.get("asm_group_id")
    if asm is None or asm == "":
        return None
    return asm_groups.get(str(asm), str(asm))


async def _event_address(
    session: AsyncSession, customer_id: str, channel: str, properties: Mapping[str, Any]
) -> str | None:
    delivery_id = properties.get("delivery_id")
    if isinstance(delivery_id, int | str) and str(delivery_id).isdigit():
        recipient = await session.scalar(
            select(Delivery.recipient).where(
                Delivery.id == int(delivery_id), Delivery.channel == channel
            )
        )
        if recipient:
            return recipient
    return await _profile_address(session, customer_id, channel)


async def _profile_address(session: AsyncSession, customer_id: str, channel: str) -> str | None:
    profile = await customers.profile(session, customer_id)
    value = (profile.traits or {}).get(ADDRESS_TRAITS.get(channel, channel)) if profile else None
    return str(value) if isinstance(value, str | int) and value != "" else None


# --- what the check and the router read ------------------------------------------------------


async def lock_customer(session: AsyncSession, customer_id: str) -> None:
    """Hold the customer's send lock until ``session``'s transaction ends.

    The frequency cap is a count followed by a claim (the check's ``allowed`` delivery row).
    Two checks for one customer that both count before either claims would both pass a cap
    they jointly exceed, so the count and the claim run under this lock, taken before the
    count. The lock is released by the commit that makes the claim visible, so the next check
    to get it counts that claim.

    - **PostgreSQL**: a transaction-scoped advisory lock (``pg_advisory_xact_lock``) on a
      64-bit hash of the customer id. Not ``SELECT ... FOR UPDATE`` on the ``customers`` row:
      a run's customer need not have a profile row (nothing would be locked then, and an
      ``INSERT`` of it would race), and a row lock would also hold up the router's trait
      updates for that customer. Under READ COMMITTED each statement after the lock sees every
      commit made before it was granted. Two ids whose hashes collide merely wait for each
      other.
    - **SQLite**: one writer at a time for the whole database. A no-op ``UPDATE`` makes the
      transaction a write transaction at once (like ``BEGIN IMMEDIATE``): it waits, with the
      ``busy_timeout``, for any other writer to commit, and keeps every other writer out until
      this transaction ends; the reads after it see the latest commit. (A deferred transaction
      that reads first and writes later would instead fail with ``SQLITE_BUSY_SNAPSHOT`` when
      another writer committed in between.) It must come before the transaction's first read;
      the sessions' implicit reads outside a write transaction are fine.

    The canonical id is the one to lock (``customers.resolve``), so a run started under an
    alias waits for one started under the customer's id.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_lock_key(customer_id))))
    elif dialect == "sqlite":
        # A column no trigger, foreign key or ``onupdate`` touches; the row need not exist.
        await session.execute(
            text("UPDATE customers SET timezone = timezone WHERE id = :id"), {"id": customer_id}
        )
    else:  # pragma: no cover - the store runs on these two
        raise NotImplementedError(f"no customer lock for the {dialect} dialect")


def _lock_key(customer_id: str) -> int:
    digest = hashlib.sha256(f"journeys.customer-send:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def recent_marketing(
    session: AsyncSession,
    customer_ids: Sequence[str],
    since: datetime,
    *,
    channel: str | None = None,
    excluding: tuple[str, str] | None = None,
) -> int:
    """Marketing deliveries to the customer requested since ``since`` that went (or may have
    gone) out, on ``channel`` or all channels; ``excluding`` (run id, step) leaves one out."""
    query = select(func.count(Delivery.id)).where(
        Delivery.customer_id.in_(customer_ids),
        Delivery.category == MARKETING,
        Delivery.requested_at >= since,
        Delivery.status.not_in(_NOT_SENT),
    )
    if channel is not None:
        query = query.where(Delivery.channel == channel)
    if excluding is not None:
        run_id, step = excluding
        query = query.where(~((Delivery.run_id == run_id) & (Delivery.step == step)))
    return int(await session.scalar(query) or 0)


async def runs_to_end(session: AsyncSession, customer_ids: Sequence[str]) -> list[str]:
    """Workflow ids of the customer's active runs, to signal with the ``Suppressed`` event after
    a change that ``ends_marketing``. Each journey decides: marketing journeys exit on it,
    transactional ones (``category = "transactional"``) ignore it."""
    rows = await session.scalars(
        select(JourneyRun.workflow_id)
        .where(JourneyRun.customer_id.in_(customer_ids), JourneyRun.status == RunStatus.ACTIVE)
        .distinct()
    )
    return sorted(rows.all())
