"""The I/O behind the journey steps beyond sending: traits, local-time windows, emitted events,
webhook calls and conversions. Each is idempotent, so Temporal may retry it freely.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from journeys.activities.runs import add_audit_once
from journeys.audit import Converted, TraitsUpdated
from journeys.contracts import (
    ACTIVITY_CUSTOMER_TRAITS,
    ACTIVITY_EMIT,
    ACTIVITY_NEXT_WINDOW,
    ACTIVITY_RECORD_CONVERSION,
    ACTIVITY_UPDATE_TRAITS,
    ACTIVITY_WEBHOOK,
    WEBHOOK_REFUSED,
    AuditRecord,
    ConversionRecord,
    EmitRequest,
    TraitsUpdate,
    WebhookCall,
    WebhookResult,
    WindowRequest,
    with_step,
)
from journeys.delivery.channels.errors import PermanentDeliveryError
from journeys.delivery.channels.webhook import WebhookProvider
from journeys.delivery.compliance import first_instant, timezone_of
from journeys.ingest.events import Event, InvalidEvent
from journeys.settings import Settings
from journeys.store import customers
from journeys.store.db import Sessions
from journeys.store.models import Conversion
from journeys.vocabulary import AuditKind

log = logging.getLogger(__name__)

Publish = Callable[[Event], Awaitable[None]]
EMIT_INVALID = "EmitInvalid"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class StepActivities:
    """``publish`` puts an event on the bus (the worker's is NATS JetStream); ``webhooks`` is
    the webhook channel, whose target checks and signature the webhook step shares."""

    def __init__(
        self, sessions: Sessions, settings: Settings, publish: Publish, webhooks: WebhookProvider
    ) -> None:
        self.sessions = sessions
        self.default_zone = timezone_of(settings.default_timezone, ZoneInfo("UTC"))
        self.publish = publish
        self.webhooks = webhooks

    def all(self) -> list[Any]:
        return [
            self.customer_traits,
            self.update_traits,
            self.next_window,
            self.emit_event,
            self.call_webhook,
            self.record_conversion,
        ]

    @activity.defn(name=ACTIVITY_CUSTOMER_TRAITS)
    async def customer_traits(self, customer_id: str) -> dict[str, Any]:
        async with self.sessions() as session:
            found = await customers.profile(session, customer_id)
        return dict(found.traits) if found is not None else {}

    @activity.defn(name=ACTIVITY_UPDATE_TRAITS)
    async def update_traits(self, update: TraitsUpdate) -> None:
        async with self.sessions.begin() as session:
            identity = await customers.resolve(session, update.run.customer_id)
            await customers.merge_traits(session, identity.customer_id, update.traits)
            await add_audit_once(
                session,
                AuditRecord(
                    run=update.run,
                    seq=update.seq,
                    kind=AuditKind.TRAITS_UPDATED,
                    reason="set " + ", ".join(sorted(update.traits)),
                    occurred_at=update.occurred_at,
                    data=with_step(TraitsUpdated(update.traits).data(), update.step),
                ),
            )

    @activity.defn(name=ACTIVITY_NEXT_WINDOW)
    async def next_window(self, request: WindowRequest) -> datetime:
        """The first instant at or after ``request.after`` inside the customer's local window."""
        async with self.sessions() as session:
            found = await customers.profile(session, request.customer_id)
        zone = timezone_of(found.timezone if found else None, self.default_zone)
        return window_opens(request, zone)

    @activity.defn(name=ACTIVITY_EMIT)
    async def emit_event(self, request: EmitRequest) -> None:
        """An event the router would refuse (too large, nested too deep, a bad field) fails the
        step at once rather than being retried: no retry can make it valid."""
        try:
            event = Event.model_validate(
                {
                    "type": "track",
                    "event": request.event,
                    "userId": request.run.customer_id,
                    "messageId": request.message_id,
                    "properties": request.properties,
                    "context": {"journey": request.run.journey_key, "run": request.run.run_id},
                }
            )
            await self.publish(event)
        except (ValidationError, InvalidEvent) as err:
            raise ApplicationError(
                f"emitted event {request.event!r} is invalid: {err}",
                type=EMIT_INVALID,
                non_retryable=True,
            ) from err

    @activity.defn(name=ACTIVITY_WEBHOOK)
    async def call_webhook(self, call: WebhookCall) -> WebhookResult:
        """POST the step's body; 5xx, 429 and transport errors are retried by Temporal. Any
        other answer (a 4xx) is the step's result; a call the channel refuses before sending it
        (e.g. an invalid URL, a private address) fails at once, as :data:`WEBHOOK_REFUSED`,
        which the step audits as its outcome (``Journey.call_webhook``)."""
        payload = {"journey": call.run.journey_key, "customer_id": call.run.customer_id}
        try:
            response = await self.webhooks.post_json(
                call.url, payload | {"data": call.body}, f"{call.run.run_id}:{call.step}"
            )
        except PermanentDeliveryError as err:
            raise ApplicationError(str(err), type=WEBHOOK_REFUSED, non_retryable=True) from err
        if response.status_code >= 500 or response.status_code == 429:
            raise ApplicationError(f"{call.url} answered {response.status_code}")
        return WebhookResult(status_code=response.status_code, body=response.text[:2000])

    @activity.defn(name=ACTIVITY_RECORD_CONVERSION)
    async def record_conversion(self, record: ConversionRecord) -> None:
        run, event = record.run, record.event
        try:
            async with self.sessions.begin() as session:
                if await session.scalar(
                    select(Conversion.id).where(Conversion.run_id == run.run_id)
                ):
                    return
                session.add(
                    Conversion(
                        run_id=run.run_id,
                        journey_key=run.journey_key,
                        journey_version=run.journey_version,
                        customer_id=run.customer_id,
                        holdout=record.holdout,
                        event=event.name,
                        message_id=event.message_id,
                        revenue=record.revenue,
                        occurred_at=event.timestamp,
                    )
                )
                revenue = "" if record.revenue is None else f", revenue {record.revenue:g}"
                await add_audit_once(
                    session,
                    AuditRecord(
                        run=run,
                        seq=record.seq,
                        kind=AuditKind.CONVERTED,
                        reason=f"converted on {event.name}{revenue}",
                        occurred_at=event.timestamp,
                        data=Converted(event.message_id, record.revenue).data(),
                    ),
                )
        except IntegrityError:
            log.info("%s: conversion already recorded", run.workflow_id)


def window_opens(request: WindowRequest, zone: ZoneInfo) -> datetime:
    """When the window ``days`` ``start``-``end`` (local wall time in ``zone``) is next open at
    or after ``request.after``: ``after`` itself if it is open then."""
    start, end = time.fromisoformat(request.start), time.fromisoformat(request.end)
    today = request.after.astimezone(zone).date()
    for offset in range(8):
        day = today + timedelta(days=offset)
        if _WEEKDAYS[day.weekday()] not in request.days:
            continue
        opens, closes = first_instant(day, start, zone), first_instant(day, end, zone)
        if request.after < closes:
            return max(opens, request.after)
    raise ValueError(f"window {request.days} {request.start}-{request.end} never opens")
