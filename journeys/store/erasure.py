"""A customer's right of access and right to be forgotten (GDPR articles 15 and 17, CCPA).

Export gathers every row the store holds about the customer, under any of their ids (the
canonical one and its aliases), in one JSON-ready document.

Erasure forgets who they were but keeps what happened, so a journey's numbers still add up:

- the profile, the aliases and the consents are deleted;
- runs, deliveries (and what providers reported of them), audit rows and conversions stay, but
  every id of the customer in them becomes one pseudonym drawn at random (not derived from the
  id, so it cannot be recomputed from it), the rendered messages, their addresses and clicked
  links are dropped, and free text that may quote personal values (reasons) is replaced by
  :data:`ERASED`; statuses, kinds, steps, times, channels, templates, codes, revenue and the
  run reasons the machinery writes ("exited on Order Completed") stay;
- suppressions stay untouched: they hold only address hashes, and they are what keeps an address
  that unsubscribed or bounced from being mailed again when it comes back on a new profile;
- the operator log and audience imports are rewritten where they name the customer.

Temporal and NATS are outside the store: the caller terminates the customer's workflows first
(``api/routes/privacy.py``), because a journey left running would write the customer back.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, delete, func, or_, select, update
from sqlalchemy import inspect as inspect_model
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, selectinload

from journeys.delivery.channels import ADDRESS_TRAITS
from journeys.delivery.compliance import address_hash
from journeys.store.base import Base, utcnow
from journeys.store.consent import lock_customer
from journeys.store.customers import Identity, resolve
from journeys.store.models import (
    AudienceImport,
    AuditEvent,
    Consent,
    Conversion,
    Customer,
    CustomerAlias,
    Delivery,
    DeliveryEvent,
    JourneyRun,
    OperatorAction,
    Suppression,
)
from journeys.vocabulary import RunStatus
from journeys.workflow_ids import workflow_id

# What free text that may have quoted the customer reads after erasure.
ERASED = "[erased]"
# The status an erasure gives the runs it found still active (their workflows were terminated).
TERMINATED = RunStatus.TERMINATED
TERMINATED_REASON = "terminated: customer erased"
# Run reasons the journey machinery writes from the journey's own names, never a customer's
# values: kept, so the analytics of how runs end still read the same. Any other goes.
SAFE_RUN_REASON = re.compile(r"completed all steps|(?:exited|converted) on [^\n]{1,200}")
# Audit data keys that hold codes, names from the journey's own definition, counts and times,
# never a customer's value; everything else (trait values, message ids) goes.
AUDIT_CODE_KEYS = frozenset(
    {
        "branch",
        "category",
        "channel",
        "chosen",
        "code",
        "count",
        "compliance",
        "delivery_id",
        "error_kind",
        "event",
        "group",
        "max",
        "messages_sent",
        "percent",
        "revenue",
        "split",
        "step",
        "step_id",
        "taken",
        "template",
        "template_version",
        "to",
        "until",
        "variant",
    }
)

# The same for what providers reported about a delivery: bounce types and codes stay, a bounce's
# free-text reason (which often quotes the address) goes.
DELIVERY_EVENT_CODE_KEYS = frozenset(
    {
        "asm_group_id",
        "bounce_classification",
        "bounce_type",
        "error_code",
        "group",
        "machine_open",
        "status",
    }
)


@dataclass(frozen=True)
class ErasureCounts:
    """Rows per table: deleted (profile, aliases, consents), pseudonymised (runs and what hangs
    off them), rewritten (operator log, audience imports), and left as they were (suppressions)."""

    customers: int = 0
    customer_aliases: int = 0
    consents: int = 0
    journey_runs: int = 0
    runs_terminated: int = 0
    deliveries: int = 0
    delivery_events: int = 0
    audit_events: int = 0
    conversions: int = 0
    operator_actions: int = 0
    audience_imports: int = 0
    suppressions_kept: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class CustomerNotFound(LookupError):
    """Nothing is held about this id: never seen, or already erased."""


def new_pseudonym() -> str:
    """A fresh random stand-in for an erased customer's ids (128 bits, not derived from them)."""
    return f"erased-{secrets.token_hex(16)}"


def customer_hash(customer_id: str) -> str:
    """SHA-256 (hex) of a customer id: how the operator log names an erased customer, so "was
    c-42 erased, and when?" has an answer without the log keeping the id."""
    return hashlib.sha256(customer_id.encode()).hexdigest()


async def identity_of(session: AsyncSession, customer_id: str) -> Identity | None:
    """The customer ``customer_id`` is (canonical id and aliases), or None when the store holds
    nothing about any of their ids: no profile, alias, consent or run."""
    identity = await resolve(session, customer_id)
    if identity.aliases:
        return identity
    ids = list(identity.ids)
    for model, column in (
        (Customer, Customer.id),
        (JourneyRun, JourneyRun.customer_id),
        (Consent, Consent.customer_id),
    ):
        found = await session.scalar(select(func.count()).select_from(model).where(column.in_(ids)))
        if found:
            return identity
    return None


# --- export ----------------------------------------------------------------------------------


async def export_customer(session: AsyncSession, customer_id: str) -> dict[str, Any] | None:
    """Everything held about the customer, JSON-ready, or None when nothing is.

    Rows are written out with every column they have, so a column added later is exported
    without a change here. Suppressions are matched by the hashes of the customer's addresses
    (the profile's and every delivery's recipient), which is the only way they refer to anyone.
    """
    identity = await identity_of(session, customer_id)
    if identity is None:
        return None
    ids = list(identity.ids)
    profiles = {
        row.id: row
        for row in (await session.scalars(select(Customer).where(Customer.id.in_(ids)))).all()
    }
    aliases = await session.scalars(
        select(CustomerAlias)
        .where(
            or_(
                CustomerAlias.customer_id == identity.customer_id,
                CustomerAlias.alias_id.in_(ids),
            )
        )
        .order_by(CustomerAlias.alias_id)
    )
    consents = await session.scalars(
        select(Consent).where(Consent.customer_id.in_(ids)).order_by(Consent.id)
    )
    runs = (
        await session.scalars(
            select(JourneyRun)
            .where(JourneyRun.customer_id.in_(ids))
            .options(selectinload(JourneyRun.deliveries), selectinload(JourneyRun.audit))
            .order_by(JourneyRun.started_at, JourneyRun.id)
        )
    ).all()
    conversions = await session.scalars(
        select(Conversion).where(Conversion.customer_id.in_(ids)).order_by(Conversion.id)
    )
    reported = await session.scalars(
        select(DeliveryEvent)
        .where(DeliveryEvent.delivery_id.in_([d.id for run in runs for d in run.deliveries]))
        .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
    )
    reports: dict[int, list[dict[str, Any]]] = {}
    for report in reported:
        reports.setdefault(report.delivery_id, []).append(_row(report))
    addresses = _addresses(profiles.values(), (d for run in runs for d in run.deliveries))
    suppressions = await _suppressions(session, addresses)
    canonical = profiles.get(identity.customer_id)
    return {
        "customer_id": identity.customer_id,
        "ids": ids,
        "exported_at": utcnow().isoformat(),
        "profile": None if canonical is None else _row(canonical),
        "alias_profiles": [_row(p) for i, p in sorted(profiles.items()) if p is not canonical],
        "aliases": [_row(a) for a in aliases],
        "consents": [_row(c) for c in consents],
        "suppressions": [
            {**_row(row), "address": addresses[(row.channel, row.address_hash)]}
            for row in suppressions
        ],
        "runs": [
            {
                **_row(run),
                "deliveries": [
                    {**_row(d), "events": reports.get(d.id, [])} for d in run.deliveries
                ],
                "audit": [_row(a) for a in run.audit],
            }
            for run in runs
        ],
        "conversions": [_row(c) for c in conversions],
    }


def _row(row: Base) -> dict[str, Any]:
    return {
        column.key: _json(getattr(row, column.key))
        for column in inspect_model(type(row)).mapper.column_attrs
    }


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _addresses(
    profiles: Iterable[Customer], deliveries: Iterable[Delivery]
) -> dict[tuple[str, str], str]:
    """(channel, address hash) -> address, for every address the customer was known by."""
    found: dict[tuple[str, str], str] = {}

    def add(channel: str, address: object) -> None:
        if isinstance(address, str | int) and str(address) != "":
            found[(channel, address_hash(channel, str(address)))] = str(address)

    for profile in profiles:
        for channel, trait in ADDRESS_TRAITS.items():
            add(channel, (profile.traits or {}).get(trait))
    for delivery in deliveries:
        add(delivery.channel, delivery.recipient)
    return found


async def _suppressions(
    session: AsyncSession, addresses: Mapping[tuple[str, str], str]
) -> Sequence[Suppression]:
    if not addresses:
        return []
    rows = await session.scalars(
        select(Suppression)
        .where(Suppression.address_hash.in_([digest for _, digest in addresses]))
        .order_by(Suppression.id)
    )
    return [row for row in rows if (row.channel, row.address_hash) in addresses]


# --- erasure ---------------------------------------------------------------------------------


async def erase_customer(
    session: AsyncSession, customer_id: str, *, pseudonym: str
) -> ErasureCounts:
    """Erase the customer in ``session``'s transaction (the caller commits); raises
    :class:`CustomerNotFound` when nothing is held about them.

    Their runs that are still ``active`` are ended as ``terminated``: the caller has terminated
    their workflows, which therefore never write their own end.
    """
    # First, so that on SQLite the transaction is a write transaction before its first read;
    # and no send check of theirs runs in between (the canonical id is locked once known).
    await lock_customer(session, customer_id)
    identity = await identity_of(session, customer_id)
    if identity is None:
        raise CustomerNotFound(customer_id)
    if identity.customer_id != customer_id:
        await lock_customer(session, identity.customer_id)
    ids = list(identity.ids)
    profiles = (await session.scalars(select(Customer).where(Customer.id.in_(ids)))).all()
    recipients = await session.scalars(
        select(Delivery).where(Delivery.customer_id.in_(ids), Delivery.recipient.is_not(None))
    )
    kept = len(await _suppressions(session, _addresses(profiles, recipients.all())))

    runs = (await session.scalars(select(JourneyRun).where(JourneyRun.customer_id.in_(ids)))).all()
    ended = 0
    now = utcnow()
    for run in runs:
        run.customer_id = pseudonym
        run.workflow_id = workflow_id(run.journey_key, pseudonym)
        run.trigger_message_id = new_pseudonym()
        run.entry_key = None
        if not SAFE_RUN_REASON.fullmatch(run.reason):
            run.reason = _erased(run.reason)
        if run.status == RunStatus.ACTIVE:
            run.status, run.reason, run.ended_at = TERMINATED, TERMINATED_REASON, now
            ended += 1
    delivery_ids = list(
        await session.scalars(select(Delivery.id).where(Delivery.customer_id.in_(ids)))
    )
    reports = (
        await session.scalars(
            select(DeliveryEvent).where(DeliveryEvent.delivery_id.in_(delivery_ids))
        )
    ).all()
    for report in reports:
        report.provider_message_id = None
        report.url = None
        report.detail = codes(report.detail, DELIVERY_EVENT_CODE_KEYS)
    deliveries = await session.execute(
        update(Delivery)
        .where(Delivery.customer_id.in_(ids))
        .values(
            customer_id=pseudonym,
            recipient=None,
            subject=None,
            body=None,
            html=None,
            provider_message_id=None,
            reason=_erased_column(Delivery.reason),
        )
    )
    audit = (await session.scalars(select(AuditEvent).where(AuditEvent.customer_id.in_(ids)))).all()
    for row in audit:
        row.customer_id = pseudonym
        row.reason = _erased(row.reason)
        row.data = codes(row.data, AUDIT_CODE_KEYS)
    conversions = await session.execute(
        update(Conversion)
        .where(Conversion.customer_id.in_(ids))
        .values(customer_id=pseudonym, message_id=ERASED)
    )
    consents = await session.execute(delete(Consent).where(Consent.customer_id.in_(ids)))
    aliases = await session.execute(
        delete(CustomerAlias).where(
            or_(CustomerAlias.alias_id.in_(ids), CustomerAlias.customer_id.in_(ids))
        )
    )
    customers = await session.execute(delete(Customer).where(Customer.id.in_(ids)))
    hashed = customer_hash(identity.customer_id)
    logged = await _rewrite_operator_log(session, ids, hashed)
    imports = await _rewrite_audience_imports(session, ids, pseudonym)
    await session.flush()
    return ErasureCounts(
        customers=_count(customers),
        customer_aliases=_count(aliases),
        consents=_count(consents),
        journey_runs=len(runs),
        runs_terminated=ended,
        deliveries=_count(deliveries),
        delivery_events=len(reports),
        audit_events=len(audit),
        conversions=_count(conversions),
        operator_actions=logged,
        audience_imports=imports,
        suppressions_kept=kept,
    )


def codes(data: Mapping[str, Any] | None, keys: frozenset[str]) -> dict[str, Any]:
    """The part of an audit row's or a delivery event's data that says what happened without
    saying to whom: the ``keys`` holding a plain value."""
    return {
        key: value
        for key, value in (data or {}).items()
        if key in keys and (value is None or isinstance(value, str | int | float))
    }


def _erased(text: str) -> str:
    return ERASED if text else text


def _erased_column(column: QueryableAttribute[str]) -> Any:
    return case((column == "", ""), else_=ERASED)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _mentions(column: QueryableAttribute[Any], ids: Sequence[str]) -> ColumnElement[bool]:
    """SQL prefilter: the column's text holds one of ``ids`` (as is, or JSON-escaped)."""
    text = cast(column, Text)
    forms = {form for i in ids for form in (i, json.dumps(i)[1:-1])}
    return or_(*(text.contains(form, autoescape=True) for form in sorted(forms)))


def _replacer(ids: Sequence[str], by: str) -> Any:
    """Replace each of ``ids`` where it stands as a whole token (``journey/k/<id>``, ``<id>:``),
    not inside a longer id."""
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.@+-])(?:{alternatives})(?![\w.@+-])")

    def replace(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(by, value)
        if isinstance(value, Mapping):
            return {k: replace(v) for k, v in value.items()}
        if isinstance(value, list):
            return [replace(v) for v in value]
        return value

    return replace


async def _rewrite_operator_log(session: AsyncSession, ids: Sequence[str], hashed: str) -> int:
    """Earlier log rows about the customer (an export, a cancelled run) name them by hash now,
    as the erasure's own row does, so the log still tells their story without their id."""
    replace = _replacer(ids, hashed)
    rows = await session.scalars(
        select(OperatorAction).where(
            or_(_mentions(OperatorAction.target, ids), _mentions(OperatorAction.detail, ids))
        )
    )
    changed = 0
    for row in rows:
        target, detail = replace(row.target), replace(row.detail)
        if (target, detail) != (row.target, row.detail):
            row.target, row.detail = target, detail
            changed += 1
    return changed


async def _rewrite_audience_imports(session: AsyncSession, ids: Sequence[str], by: str) -> int:
    """An import's error list may name the customer ("c-42: not found")."""
    replace = _replacer(ids, by)
    rows = await session.scalars(
        select(AudienceImport).where(_mentions(AudienceImport.errors, ids))
    )
    changed = 0
    for row in rows:
        errors = replace(row.errors)
        if errors != row.errors:
            row.errors = errors
            changed += 1
    return changed
