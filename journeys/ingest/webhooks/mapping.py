"""From a provider's report about a message to an event of the customer that message concerns.

A webhook only knows the provider's message id (or the delivery id we gave it); the customer,
run and template come from our ``deliveries`` row. Those are copied into the event's properties
so a journey can react to "clicked the email of this run" rather than to any click.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.ingest.events import Event
from journeys.store.models import Delivery, JourneyRun

T = TypeVar("T")

# deliveries.id is a 32-bit INTEGER.
MAX_DELIVERY_ID = 2**31 - 1

# Keeps each IN (...) list well under every database's bound-parameter limit.
_CHUNK = 500


# Our delivery id as channels attach it: SendGrid custom arg / SMTP unique arg, and a query
# parameter of Twilio's StatusCallback URL. Providers hand it back with every report.
DELIVERY_ID_ARG = "journeys_delivery_id"


def parse_delivery_id(value: object) -> int | None:
    """A delivery id as it comes back from a provider (usually a string); None if it is none."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        delivery_id = int(value)
    except ValueError:
        return None
    return delivery_id if 0 < delivery_id <= MAX_DELIVERY_ID else None


@dataclass(frozen=True)
class DeliveryRef:
    """What an event needs to know about the message it concerns."""

    id: int
    customer_id: str
    run_id: str
    journey_key: str
    step: str
    channel: str
    template: str
    provider_message_id: str | None

    def properties(self) -> dict[str, Any]:
        return {
            "delivery_id": self.id,
            "run_id": self.run_id,
            "journey_key": self.journey_key,
            "step": self.step,
            "channel": self.channel,
            "template": self.template,
        }


@dataclass
class Translation:
    """The events a webhook request turns into, and what it holds that becomes no event."""

    events: list[Event] = field(default_factory=list)
    # Provider reports we do not turn into events (SendGrid "processed", Twilio "sent", ...).
    ignored: int = 0
    # Reports that should become events but match no delivery: someone else's message on a
    # shared provider account, or a row since erased. Acknowledged so the provider stops retrying.
    unknown: list[str] = field(default_factory=list)


def delivery_event(
    delivery: DeliveryRef,
    name: str,
    *,
    message_id: str,
    source: str,
    timestamp: datetime,
    **properties: Any,
) -> Event:
    """A track call of the delivery's customer; the delivery's fields win over provider fields."""
    return Event.model_validate(
        {
            "type": "track",
            "event": name,
            "userId": delivery.customer_id,
            "messageId": message_id,
            "timestamp": timestamp,
            "properties": {**properties, "source": source, **delivery.properties()},
        }
    )


async def deliveries_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, DeliveryRef]:
    """Ids outside the column's range match nothing (PostgreSQL would refuse the query)."""
    found: dict[int, DeliveryRef] = {}
    for chunk in _chunks(sorted({i for i in ids if 0 < i <= MAX_DELIVERY_ID})):
        for ref in await _load(session, Delivery.id.in_(chunk)):
            found[ref.id] = ref
    return found


async def deliveries_by_provider_message_id(
    session: AsyncSession, message_ids: Iterable[str]
) -> dict[str, DeliveryRef]:
    found: dict[str, DeliveryRef] = {}
    for chunk in _chunks(sorted(set(message_ids))):
        for ref in await _load(session, Delivery.provider_message_id.in_(chunk)):
            assert ref.provider_message_id is not None
            found[ref.provider_message_id] = ref
    return found


async def _load(session: AsyncSession, condition: ColumnElement[bool]) -> list[DeliveryRef]:
    query = (
        select(Delivery, JourneyRun.journey_key)
        .join(JourneyRun, JourneyRun.id == Delivery.run_id)
        .where(condition)
    )
    rows = (await session.execute(query)).all()
    return [
        DeliveryRef(
            id=row.id,
            customer_id=row.customer_id,
            run_id=row.run_id,
            journey_key=journey_key,
            step=row.step,
            channel=row.channel,
            template=row.template,
            provider_message_id=row.provider_message_id,
        )
        for row, journey_key in rows
    ]


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
