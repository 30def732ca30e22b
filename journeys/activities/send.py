"""Activities: a journey's sends, rendered and delivered at most once per (run, step).

They receive their clients in ``__init__`` so the worker and the tests hand in real engines and
providers. Every write is idempotent, because Temporal may run an activity again after a crash:
deliveries by (run, step), audit rows by (run, seq).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from journeys import metrics
from journeys.activities.runs import add_audit_once
from journeys.audit import Message
from journeys.contracts import (
    ACTIVITY_SEND,
    MARKETING,
    AuditRecord,
    JourneyEvent,
    SendRequest,
    SendResult,
)
from journeys.delivery.channels import (
    ADDRESS_TRAITS,
    OutboundMessage,
    PermanentDeliveryError,
    Provider,
    RetryableDeliveryError,
)
from journeys.delivery.rendering import RenderedTemplate, TemplateError
from journeys.delivery.templates_catalog import TemplateCatalog
from journeys.delivery.unsubscribe import Links, UnsubscribeLinks
from journeys.ingest.webhooks.errors import NotConfigured
from journeys.settings import Environment
from journeys.store import customers
from journeys.store.db import Sessions
from journeys.store.models import Delivery
from journeys.vocabulary import AuditKind, DeliveryStatus

log = logging.getLogger(__name__)
# Delivery rows a send attempt may still act on: being sent (an earlier attempt died), refused
# for now by the provider, or let through by the compliance check.
_IN_HAND = (DeliveryStatus.SENDING, DeliveryStatus.RETRYING, DeliveryStatus.ALLOWED)


class SendActivities:
    def __init__(
        self,
        sessions: Sessions,
        catalog: TemplateCatalog,
        providers: Mapping[str, Provider],
        links: UnsubscribeLinks | None = None,
    ) -> None:
        """``links`` mints each email's unsubscribe and preference links (None: emails have
        none, for tests of other things)."""
        self.sessions = sessions
        self.catalog = catalog
        self.providers = providers
        self.links = links

    def all(self) -> list[Any]:
        return [self.send_message]

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
            if existing is not None and existing.status not in _IN_HAND:
                return _result(existing)
            customer = await customers.profile(session, run.customer_id)
            traits = dict(customer.traits) if customer else {}

        provider = self.providers.get(request.channel)
        address_trait = ADDRESS_TRAITS.get(request.channel, request.channel)
        recipient = traits.get(address_trait)
        links, no_links = self._links(request)
        if no_links is not None:
            return await self._conclude(request, DeliveryStatus.FAILED, no_links, None, None)
        try:
            rendered = await self.catalog.render(
                request.template,
                request.channel,
                _template_context(request, traits, links),
                # A resend after a retryable refusal renders what the first attempt rendered.
                version=existing.template_version if existing is not None else None,
            )
        except TemplateError as err:
            return await self._conclude(
                request, DeliveryStatus.FAILED, f"template error: {err}", None, None
            )
        if provider is None:
            reason = f"no provider configured for channel {request.channel!r}"
            return await self._conclude(request, DeliveryStatus.FAILED, reason, None, None)
        if not recipient:
            # A provider with a configured target (the webhook URL) serves profiles without one.
            recipient = getattr(provider, "default_recipient", None)
        if not recipient:
            reason = f"no {address_trait} on the customer's profile"
            return await self._conclude(request, DeliveryStatus.SKIPPED, reason, None, None)

        if existing is not None and existing.status == DeliveryStatus.SENDING:
            reason = (
                f"an earlier attempt stopped while handing the message to {existing.provider}; "
                "not sent again, so it cannot arrive twice"
            )
            return await self._conclude(
                request, DeliveryStatus.UNCONFIRMED, reason, existing.id, None
            )
        if existing is None:
            claimed = await self._claim(request, provider.name, str(recipient), rendered)
        elif existing.status == DeliveryStatus.ALLOWED:
            # The compliance check's claim on a capped send: take it over as a fresh claim.
            claimed = await self._take_over(existing, provider.name, str(recipient), rendered)
        elif await self._mark(existing.id, DeliveryStatus.RETRYING, DeliveryStatus.SENDING, ""):
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
            with metrics.send_timer(request.channel, provider.name):
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
                        unsubscribe_url=_list_unsubscribe(request, links, rendered),
                        metadata={
                            **_message_metadata(request),
                            "template_version": str(rendered.version),
                        },
                    )
                )
        except PermanentDeliveryError as err:
            reason = f"{err.kind}: {err.reason}"
            return await self._conclude(
                request, DeliveryStatus.FAILED, reason, delivery.id, None, error_kind=err.kind
            )
        except RetryableDeliveryError as err:
            log.warning(
                "step %s of %s: delivery attempt %d failed, will retry: %s",
                request.step,
                run.workflow_id,
                activity.info().attempt,
                err.reason,
            )
            metrics.send_retried(request.channel, provider.name)
            # Nothing went out: the next attempt may send. If this write is lost, the row stays
            # ``sending`` and the next attempt concludes ``unconfirmed``: lost, never doubled.
            await self._mark(
                delivery.id, DeliveryStatus.SENDING, DeliveryStatus.RETRYING, err.reason
            )
            delay = timedelta(seconds=err.retry_after) if err.retry_after is not None else None
            raise ApplicationError(
                err.reason, type="RetryableDeliveryError", next_retry_delay=delay
            ) from err
        reason = f"{request.channel} {request.template} v{rendered.version} sent to {recipient}"
        return await self._conclude(
            request,
            DeliveryStatus.SENT,
            reason,
            delivery.id,
            receipt.provider_message_id,
            template_version=rendered.version,
        )

    def _links(self, request: SendRequest) -> tuple[Links | None, str | None]:
        """An email's links, or why a marketing email cannot go out without them.

        Marketing email must let its reader leave in one click (RFC 8058; Gmail's and Yahoo's
        rules for bulk senders): while the secret that signs the links is unfit it is not sent
        (failed, naming the setting), except in dev where it goes out without them."""
        if request.channel != "email" or self.links is None:
            return None, None
        try:
            return self.links.for_recipient(request.run.customer_id, "email", request.group), None
        except NotConfigured as err:
            if request.category != MARKETING or self.links.settings.env is Environment.DEV:
                log.warning("email without unsubscribe links: %s", err)
                return None, None
            return None, f"marketing email needs an unsubscribe link: {err}"

    async def _mark(
        self, delivery_id: int, expected: DeliveryStatus, status: DeliveryStatus, reason: str
    ) -> bool:
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
                .where(Delivery.id == claim.id, Delivery.status == DeliveryStatus.ALLOWED)
                .values(
                    status=DeliveryStatus.SENDING,
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
        status: DeliveryStatus,
        reason: str,
        delivery_id: int | None,
        provider_message_id: str | None,
        *,
        error_kind: str | None = None,
        template_version: int | None = None,
    ) -> SendResult:
        """Record the step's outcome: the delivery row and its audit row (its payload a
        :class:`Message`), in one transaction."""
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
            if delivery.status == DeliveryStatus.SENT and status != DeliveryStatus.SENT:
                # A zombie attempt (timed out, still running) delivered meanwhile: sent stands.
                return _result(delivery)
            delivery.status = status
            delivery.reason = reason
            delivery.provider_message_id = provider_message_id
            await session.flush()
            metrics.sent(request.channel, delivery.provider, status)
            await add_audit_once(
                session,
                AuditRecord(
                    run=run,
                    seq=request.seq,
                    kind=AuditKind(status),
                    reason=reason,
                    occurred_at=request.requested_at,
                    step=request.step,
                    data=Message(
                        delivery.id,
                        request.channel,
                        request.template,
                        provider_message_id,
                        error_kind=error_kind,
                        template_version=template_version,
                    ).data(),
                ),
            )
            if status != DeliveryStatus.SENT:
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
        status=DeliveryStatus.SENDING,
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


def _template_context(
    request: SendRequest, traits: dict[str, Any], links: Links | None
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "customer": {**traits, "id": request.run.customer_id},
        "event": _event_context(request.trigger),
        "journey": {"key": request.run.journey_key, "version": request.run.journey_version},
        "data": request.data,
    }
    if request.channel == "email":  # "" when the links cannot be signed (dev without a secret)
        context["unsubscribe_url"] = links.unsubscribe_url if links else ""
        context["preferences_url"] = links.preferences_url if links else ""
    return context


def _list_unsubscribe(
    request: SendRequest, links: Links | None, rendered: RenderedTemplate
) -> str | None:
    """The link for ``List-Unsubscribe``: on every marketing email, and on a transactional one
    only when its template asks for it by showing ``unsubscribe_url`` or ``preferences_url``."""
    if links is None:
        return None
    if request.category == MARKETING:
        return links.unsubscribe_url
    shown = f"{rendered.text or ''}{rendered.html or ''}"
    if links.unsubscribe_url in shown or links.preferences_url in shown:
        return links.unsubscribe_url
    return None


def _event_context(event: JourneyEvent) -> dict[str, Any]:
    return {
        "name": event.name,
        "message_id": event.message_id,
        "timestamp": event.timestamp,
        "properties": event.properties,
    }
