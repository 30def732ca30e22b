"""Activities: every side effect of a journey (database rows, rendering, delivery) happens here.

They receive their clients in ``__init__`` so the worker, the tests and later the benchmarks hand in
real engines and providers. Every write is idempotent, because Temporal may run an activity again
after a crash: runs by id, audit rows by (run, seq), deliveries by (run, step).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from journeys.contracts import (
    ACTIVITY_RECORD_AUDIT,
    ACTIVITY_RECORD_ENTRY,
    ACTIVITY_RECORD_EXIT,
    ACTIVITY_RECORD_PROGRESS,
    ACTIVITY_SEND,
    AuditRecord,
    EntryRecord,
    EntryResult,
    ExitRecord,
    JourneyEvent,
    ProgressRecord,
    SendRequest,
    SendResult,
    in_holdout,
    with_step,
)
from journeys.definitions.document import AFTER_EXIT, ALWAYS, NEVER, Entry
from journeys.definitions.durations import parse_duration
from journeys.delivery.channels import (
    ADDRESS_TRAITS,
    OutboundMessage,
    PermanentDeliveryError,
    Provider,
    RetryableDeliveryError,
)
from journeys.delivery.rendering import RenderedTemplate, TemplateError
from journeys.delivery.templates_catalog import TemplateCatalog
from journeys.store import customers
from journeys.store.consent import ALLOWED
from journeys.store.db import Sessions
from journeys.store.models import AuditEvent, Delivery, JourneyRun, JourneyState

log = logging.getLogger(__name__)


class JourneyActivities:
    def __init__(
        self, sessions: Sessions, catalog: TemplateCatalog, providers: Mapping[str, Provider]
    ) -> None:
        self.sessions = sessions
        self.catalog = catalog
        self.providers = providers

    def all(self) -> list[Any]:
        return [
            self.record_entry,
            self.record_audit,
            self.record_progress,
            self.record_exit,
            self.send_message,
        ]

    @activity.defn(name=ACTIVITY_RECORD_ENTRY)
    async def record_entry(self, record: EntryRecord) -> EntryResult:
        """A run's entry on its own: what runs recorded before ``record_progress`` call."""
        return await self._enter(record, [])

    @activity.defn(name=ACTIVITY_RECORD_AUDIT)
    async def record_audit(self, record: AuditRecord) -> None:
        async with self.sessions.begin() as session:
            await add_audits_once(session, [record])

    @activity.defn(name=ACTIVITY_RECORD_PROGRESS)
    async def record_progress(self, record: ProgressRecord) -> EntryResult:
        """A run's queued bookkeeping (journeys/workflows/bookkeeping.py): its entry, if still
        pending, and its audit rows, in one transaction. Rows of a refused entry are not written."""
        if record.entry is not None:
            return await self._enter(record.entry, record.audits)
        async with self.sessions.begin() as session:
            await add_audits_once(session, record.audits)
        return EntryResult(entered=True)

    async def _enter(self, record: EntryRecord, audits: list[AuditRecord]) -> EntryResult:
        """Create the run row, apply the entry rules, merge the trigger's traits, and write the
        run's first audit rows if it entered.

        One trigger event enters a customer into a journey once: if another run already entered
        on this messageId (a redelivery after the first run ended), this one is a duplicate.
        The entry rules are checked here, where every earlier run is visible: re-entry and
        cooldown per customer (and entry key), the journey's cap, and the holdout draw. A
        refused entry is kept as a ``not_entered`` run with the reason, for support to see.
        """
        run = record.run
        rules = Entry.model_validate(record.rules)
        try:
            async with self.sessions.begin() as session:
                known = await session.get(JourneyRun, run.run_id)
                if known is not None:  # a retry after the write committed
                    return _entry_result(known)
                identity = await customers.resolve(session, run.customer_id)
                await customers.merge_traits(session, identity.customer_id, record.trigger.traits)
                refusal = await entry_refusal(session, record, rules)
                capped = rules.cap is not None and refusal is None
                if capped and not await count_entry(session, run.journey_key, rules.cap or 0):
                    refusal = f"entry cap of {rules.cap} reached"
                row = JourneyRun(
                    id=run.run_id,
                    workflow_id=run.workflow_id,
                    journey_key=run.journey_key,
                    journey_version=run.journey_version,
                    customer_id=run.customer_id,
                    status="active" if refusal is None else "not_entered",
                    reason=refusal or "",
                    trigger_event=record.trigger.name,
                    trigger_message_id=record.trigger.message_id,
                    started_at=record.entered_at,
                    ended_at=None if refusal is None else record.entered_at,
                    holdout=refusal is None and in_holdout(run.run_id, rules.holdout_percent),
                    entry_key=record.entry_key,
                )
                session.add(row)
                if refusal is None:
                    await _insert_audits(session, audits)
                return _entry_result(row)
        except IntegrityError:
            async with self.sessions() as session:
                first = await session.scalar(
                    select(JourneyRun.id).where(
                        JourneyRun.journey_key == run.journey_key,
                        JourneyRun.customer_id == run.customer_id,
                        JourneyRun.trigger_message_id == record.trigger.message_id,
                    )
                )
            if first is None or first == run.run_id:
                raise  # not another run's entry: Temporal retries the activity
            log.info(
                "%s: trigger %s already entered run %s",
                run.workflow_id,
                record.trigger.message_id,
                first,
            )
            return EntryResult(entered=False, duplicate_of=first)

    @activity.defn(name=ACTIVITY_RECORD_EXIT)
    async def record_exit(self, record: ExitRecord) -> None:
        outcome = record.outcome
        async with self.sessions.begin() as session:
            run = await session.get(JourneyRun, record.run.run_id)
            if run is not None:
                run.status = outcome.status
                run.reason = outcome.reason
                run.ended_at = outcome.ended_at
            await add_audit_once(
                session,
                AuditRecord(
                    run=record.run,
                    seq=record.seq,
                    kind=outcome.status,
                    reason=outcome.reason,
                    occurred_at=outcome.ended_at,
                    data=with_step({"messages_sent": outcome.messages_sent}, record.step),
                ),
            )

    @activity.defn(name=ACTIVITY_SEND)
    async def send_message(self, request: SendRequest) -> SendResult:
        """Render and deliver one step's message, at most once per (run, step).

        The delivery row is the step's lock and its memory (``docs/delivery.md``, "Exactly one
        delivery per step"). It is claimed as ``sending`` before the provider is called, so a
        retry knows where the previous attempt stopped:

        - ``sent``/``failed``/``skipped``/``unconfirmed``: concluded; returned as it is.
        - ``retrying``: the provider refused the last attempt with a retryable error, so nothing
          went out: claim it again and resend, with the same idempotency key.
        - ``sending``: an attempt died while handing the message over (worker killed, activity
          timed out). The provider may have accepted it, so it is not sent again: concluded as
          ``unconfirmed``, audited. That is the one window left: such a message may have been
          lost, never doubled.

        A ``PermanentDeliveryError`` concludes the step as ``failed`` (``"<kind>: <reason>"``)
        and returns, so the journey goes on; a ``RetryableDeliveryError`` marks the row
        ``retrying`` and is raised as an ``ApplicationError`` for Temporal to retry with the
        step's backoff (or after the provider's ``retry_after``).

        The attempt heartbeats from its first line to its last: the heartbeat timeout is how a
        dead worker's attempt is given up in seconds, and a live one that waits for a store
        connection on a busy worker is not dead. (Heartbeating only around the provider call
        let a burst of sends on an overloaded worker time out before their claim, be retried,
        and add the retries to the load: docs/scaling.md.)
        """
        async with _heartbeating():
            return await self._send(request)

    async def _send(self, request: SendRequest) -> SendResult:
        run = request.run
        async with self.sessions() as session:
            existing = await _delivery(session, run.run_id, request.step)
            if existing is not None and existing.status not in ("sending", "retrying", ALLOWED):
                return _result(existing)
            customer = await customers.profile(session, run.customer_id)
            traits = dict(customer.traits) if customer else {}

        provider = self.providers.get(request.channel)
        address_trait = ADDRESS_TRAITS.get(request.channel, request.channel)
        recipient = traits.get(address_trait)
        try:
            rendered = await self.catalog.render(
                request.template,
                request.channel,
                _template_context(request, traits),
                # A resend after a retryable refusal renders what the first attempt rendered.
                version=existing.template_version if existing is not None else None,
            )
        except TemplateError as err:
            return await self._conclude(request, "failed", f"template error: {err}", None, None)
        if provider is None:
            reason = f"no provider configured for channel {request.channel!r}"
            return await self._conclude(request, "failed", reason, None, None)
        if not recipient:
            # A provider with a configured target (the webhook URL) serves profiles without one.
            recipient = getattr(provider, "default_recipient", None)
        if not recipient:
            reason = f"no {address_trait} on the customer's profile"
            return await self._conclude(request, "skipped", reason, None, None)

        if existing is not None and existing.status == "sending":
            reason = (
                f"an earlier attempt stopped while handing the message to {existing.provider}; "
                "not sent again, so it cannot arrive twice"
            )
            return await self._conclude(request, "unconfirmed", reason, existing.id, None)
        if existing is None:
            claimed = await self._claim(request, provider.name, str(recipient), rendered)
        elif existing.status == ALLOWED:
            # The compliance check's claim on a capped send: take it over as a fresh claim.
            claimed = await self._take_over(existing, provider.name, str(recipient), rendered)
        elif await self._mark(existing.id, "retrying", "sending", ""):
            claimed = existing
        else:
            claimed = None
        if claimed is None:  # another attempt got there first: its outcome is the step's
            async with self.sessions() as session:
                current = await _delivery(session, run.run_id, request.step)
            assert current is not None
            return _result(current)
        delivery = claimed
        try:
            receipt = await provider.deliver(
                OutboundMessage(
                    channel=request.channel,
                    recipient=str(recipient),
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    idempotency_key=f"{run.run_id}:{request.step}",
                    delivery_id=delivery.id,
                    customer_id=run.customer_id,
                    metadata={
                        **_message_metadata(request),
                        "template_version": str(rendered.version),
                    },
                )
            )
        except PermanentDeliveryError as err:
            reason = f"{err.kind}: {err.reason}"
            return await self._conclude(
                request, "failed", reason, delivery.id, None, data={"error_kind": err.kind}
            )
        except RetryableDeliveryError as err:
            log.warning(
                "step %s of %s: delivery attempt %d failed, will retry: %s",
                request.step,
                run.workflow_id,
                activity.info().attempt,
                err.reason,
            )
            # Nothing went out: the next attempt may send. If this write is lost, the row stays
            # ``sending`` and the next attempt concludes ``unconfirmed``: lost, never doubled.
            await self._mark(delivery.id, "sending", "retrying", err.reason)
            delay = timedelta(seconds=err.retry_after) if err.retry_after is not None else None
            raise ApplicationError(
                err.reason, type="RetryableDeliveryError", next_retry_delay=delay
            ) from err
        reason = f"{request.channel} {request.template} v{rendered.version} sent to {recipient}"
        return await self._conclude(
            request,
            "sent",
            reason,
            delivery.id,
            receipt.provider_message_id,
            data={"template_version": rendered.version},
        )

    async def _mark(self, delivery_id: int, expected: str, status: str, reason: str) -> bool:
        """Move a delivery from ``expected`` to ``status``; False if it was not ``expected``."""
        async with self.sessions.begin() as session:
            changed = await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == expected)
                .values(status=status, reason=reason)
            )
        return bool(getattr(changed, "rowcount", 0))

    async def _claim(
        self, request: SendRequest, provider: str, recipient: str, rendered: RenderedTemplate
    ) -> Delivery | None:
        """Insert the step's row as ``sending``; None if another attempt inserted it first."""
        try:
            async with self.sessions.begin() as session:
                delivery = _new_delivery(request, provider, recipient, rendered)
                session.add(delivery)
            return delivery
        except IntegrityError:
            return None

    async def _take_over(
        self, claim: Delivery, provider: str, recipient: str, rendered: RenderedTemplate
    ) -> Delivery | None:
        """Move the check's ``allowed`` row to ``sending`` with what this attempt rendered, as
        ``_claim`` would insert it; None if another attempt took it first."""
        async with self.sessions.begin() as session:
            changed = await session.execute(
                update(Delivery)
                .where(Delivery.id == claim.id, Delivery.status == ALLOWED)
                .values(
                    status="sending",
                    reason="",
                    provider=provider,
                    recipient=recipient,
                    template_version=rendered.version,
                    subject=rendered.subject,
                    body=rendered.text,
                    html=rendered.html,
                )
            )
        return claim if getattr(changed, "rowcount", 0) else None

    async def _conclude(
        self,
        request: SendRequest,
        status: str,
        reason: str,
        delivery_id: int | None,
        provider_message_id: str | None,
        *,
        data: dict[str, Any] | None = None,
    ) -> SendResult:
        """Record the step's outcome: the delivery row and its audit row, in one transaction;
        ``data`` adds to the audit row's data (e.g. a permanent failure's ``error_kind``)."""
        run = request.run
        async with self.sessions.begin() as session:
            delivery = (
                await session.get(Delivery, delivery_id)
                if delivery_id is not None
                else await _delivery(session, run.run_id, request.step)
            )
            if delivery is None:
                provider = self.providers.get(request.channel)
                delivery = _new_delivery(request, provider.name if provider else "none")
                session.add(delivery)
            if delivery.status == "sent" and status != "sent":
                # A zombie attempt (timed out, still running) delivered meanwhile: sent stands.
                return _result(delivery)
            delivery.status = status
            delivery.reason = reason
            delivery.provider_message_id = provider_message_id
            await session.flush()
            await add_audit_once(
                session,
                AuditRecord(
                    run=run,
                    seq=request.seq,
                    kind=status,
                    reason=reason,
                    occurred_at=request.requested_at,
                    step=request.step,
                    data={
                        "delivery_id": delivery.id,
                        "channel": request.channel,
                        "template": request.template,
                        "provider_message_id": provider_message_id,
                        **(data or {}),
                    },
                ),
            )
            if status != "sent":
                log.info("step %s of %s %s: %s", request.step, run.workflow_id, status, reason)
            return _result(delivery)


async def _delivery(session: AsyncSession, run_id: str, step: str) -> Delivery | None:
    found: Delivery | None = await session.scalar(
        select(Delivery).where(Delivery.run_id == run_id, Delivery.step == step)
    )
    return found


def _new_delivery(
    request: SendRequest,
    provider: str,
    recipient: str | None = None,
    rendered: RenderedTemplate | None = None,
) -> Delivery:
    """A delivery row in its first state, ``sending``; the step's outcome updates it."""
    return Delivery(
        run_id=request.run.run_id,
        customer_id=request.run.customer_id,
        step=request.step,
        channel=request.channel,
        provider=provider,
        template=request.template,
        template_version=rendered.version if rendered else None,
        recipient=recipient,
        subject=rendered.subject if rendered else None,
        body=rendered.text if rendered else None,
        html=rendered.html if rendered else None,
        status="sending",
        reason="",
        category=request.category,
        requested_at=request.requested_at,
    )


def _message_metadata(request: SendRequest) -> dict[str, str]:
    """Where the message comes from, for channels that carry metadata (the webhook body)."""
    return {
        "journey_key": request.run.journey_key,
        "journey_version": str(request.run.journey_version),
        "run_id": request.run.run_id,
        "step": request.step,
        "template": request.template,
    }


@asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat every 2 s while the block runs (the send's heartbeat timeout is 10 s)."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(2)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()


def _result(delivery: Delivery) -> SendResult:
    return SendResult(
        status=delivery.status,
        reason=delivery.reason,
        delivery_id=delivery.id,
        recipient=delivery.recipient,
    )


def _entry_result(run: JourneyRun) -> EntryResult:
    if run.status == "not_entered":
        return EntryResult(entered=False, reason=run.reason)
    return EntryResult(entered=True, holdout=run.holdout)


async def entry_refusal(session: AsyncSession, record: EntryRecord, rules: Entry) -> str | None:
    """Why the re-entry rules refuse this entry, or ``None``. Earlier runs count per customer
    and entry key; runs that never entered (refused, duplicates) do not count."""
    if rules.reentry == ALWAYS or (rules.reentry == AFTER_EXIT and rules.cooldown is None):
        return None  # a run in progress is already kept single by its workflow id
    run = record.run
    earlier = (
        select(JourneyRun)
        .where(
            JourneyRun.journey_key == run.journey_key,
            JourneyRun.customer_id == run.customer_id,
            JourneyRun.id != run.run_id,
            JourneyRun.status != "not_entered",
        )
        .order_by(JourneyRun.started_at.desc())
        .limit(1)
    )
    if record.entry_key is not None:
        earlier = earlier.where(JourneyRun.entry_key == record.entry_key)
    previous = await session.scalar(earlier)
    if previous is None:
        return None
    if rules.reentry == NEVER:
        return f"re-entry is never: entered before on {previous.started_at:%Y-%m-%d %H:%M} UTC"
    if rules.cooldown is not None and previous.ended_at is not None:
        allowed = previous.ended_at + parse_duration(rules.cooldown)
        if record.entered_at < allowed:
            return f"cooldown {rules.cooldown}: may re-enter from {allowed:%Y-%m-%d %H:%M} UTC"
    return None


async def count_entry(session: AsyncSession, journey_key: str, cap: int) -> bool:
    """Count one entry into a capped journey; ``False`` when its cap is reached. One conditional
    UPDATE, so concurrent entries cannot both take the last place (the row is locked by the
    first writer until its transaction ends). Uncapped journeys are not counted here: every
    entry would queue on that one row."""
    counted = (
        update(JourneyState)
        .where(JourneyState.key == journey_key, JourneyState.entries < cap)
        .values(entries=JourneyState.entries + 1)
    )
    result = await session.execute(counted)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return await session.get(JourneyState, journey_key) is None
    return True


async def add_audit_once(session: AsyncSession, record: AuditRecord) -> None:
    await add_audits_once(session, [record])


async def add_audits_once(session: AsyncSession, records: list[AuditRecord]) -> None:
    """Add one run's audit rows, skipping those a retried write already added (by ``seq``)."""
    if not records:
        return
    run = records[0].run
    written = set(
        await session.scalars(
            select(AuditEvent.seq).where(
                AuditEvent.run_id == run.run_id, AuditEvent.seq.in_([r.seq for r in records])
            )
        )
    )
    await _insert_audits(session, [r for r in records if r.seq not in written])


async def _insert_audits(session: AsyncSession, records: list[AuditRecord]) -> None:
    """One INSERT for a run's audit rows. Added as ORM objects, each row was an INSERT of its
    own (the ORM reads back every new id), and a journey's first bookkeeping write usually
    carries two or three: docs/scaling.md, "Where the matching gap is"."""
    if not records:
        return
    rows = [
        {
            "run_id": r.run.run_id,
            "customer_id": r.run.customer_id,
            "journey_key": r.run.journey_key,
            "seq": r.seq,
            "kind": r.kind,
            "step": r.step,
            "reason": r.reason,
            "data": r.data,
            "occurred_at": r.occurred_at,
        }
        for r in records
    ]
    # render_nulls: a row whose step is None stays in the same INSERT as one with a step.
    await session.execute(insert(AuditEvent).execution_options(render_nulls=True), rows)


def _template_context(request: SendRequest, traits: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer": {**traits, "id": request.run.customer_id},
        "event": _event_context(request.trigger),
        "journey": {"key": request.run.journey_key, "version": request.run.journey_version},
        "data": request.data,
    }


def _event_context(event: JourneyEvent) -> dict[str, Any]:
    return {
        "name": event.name,
        "message_id": event.message_id,
        "timestamp": event.timestamp,
        "properties": event.properties,
    }
