"""Keeping what providers and tracking report about a message against its delivery row.

The same events that are published for journeys are written to ``delivery_events``: what a
journey may react to, support can read in the customer's timeline. Each row is keyed by the
event's deterministic messageId, so a provider's retry, a reloaded pixel or the same request
answered twice stores nothing more, and the provider webhooks publish a report only while it
has no row (:func:`recorded_message_ids`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.ingest.events import Event
from journeys.ingest.webhooks import names
from journeys.ingest.webhooks.mapping import parse_delivery_id
from journeys.store.db import insert_or_skip
from journeys.store.models import DeliveryEvent

# Keeps each IN (...) list well under every database's bound-parameter limit.
_CHUNK = 500

# Event name -> the delivery event's kind: the outcome in a word, the same for every provider.
KINDS: Mapping[str, str] = {
    names.EMAIL_DELIVERED: "delivered",
    names.EMAIL_OPENED: "opened",
    names.EMAIL_LINK_CLICKED: "clicked",
    names.EMAIL_BOUNCED: "bounced",
    names.EMAIL_DROPPED: "dropped",
    names.EMAIL_MARKED_AS_SPAM: "spam_reported",
    names.UNSUBSCRIBED: "unsubscribed",
    names.GROUP_UNSUBSCRIBED: "group_unsubscribed",
    names.SMS_DELIVERED: "delivered",
    names.SMS_FAILED: "failed",
    names.SMS_UNDELIVERED: "undelivered",
}

# Properties every delivery event carries (mapping.DeliveryRef.properties) or that have their
# own column: the rest is what the provider added (bounce type, error code, machine open...).
_NOT_DETAIL = frozenset(
    {
        "delivery_id",
        "run_id",
        "journey_key",
        "step",
        "channel",
        "template",
        "source",
        "url",
        "provider_message_id",
    }
)


def delivery_event_row(event: Event) -> dict[str, Any] | None:
    """The ``delivery_events`` row of one published event; None if it reports on no delivery."""
    kind = KINDS.get(event.event or "")
    properties = event.properties
    delivery_id = parse_delivery_id(properties.get("delivery_id"))
    if kind is None or delivery_id is None:
        return None
    url, provider_id = properties.get("url"), properties.get("provider_message_id")
    return {
        "delivery_id": delivery_id,
        "kind": kind,
        "source": str(properties.get("source", ""))[:20],
        "message_id": event.message_id,
        "provider_message_id": str(provider_id)[:200] if provider_id else None,
        "url": str(url) if url else None,
        "detail": {k: v for k, v in properties.items() if k not in _NOT_DETAIL},
        "occurred_at": event.timestamp,
    }


async def recorded_message_ids(session: AsyncSession, events: Iterable[Event]) -> set[str]:
    """The messageIds of ``events`` already in ``delivery_events``: reports already published.

    The webhooks record a report only once JetStream stored its event, so a provider's replay
    of it, even past the stream's two-minute dedup window, is known here and published no
    more: the provider's own id (``sendgrid:<sg_event_id>``, ``twilio:<MessageSid>:<status>``)
    is the durable key.
    """
    wanted = sorted({event.message_id for event in events})
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = select(DeliveryEvent.message_id).where(DeliveryEvent.message_id.in_(chunk))
        found.update(await session.scalars(query))
    return found


async def record_delivery_events(session: AsyncSession, events: Iterable[Event]) -> None:
    """Insert the rows of ``events`` not stored yet, in the session's transaction (the caller
    commits). One statement that skips known messageIds, so concurrent retries cannot collide."""
    rows = [row for row in map(delivery_event_row, events) if row is not None]
    if not rows:
        return
    await session.execute(insert_or_skip(session, DeliveryEvent, ["message_id"]), rows)
