"""Publishing a request's events, in order, each acknowledged by JetStream before the next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext

from journeys.ingest import bus
from journeys.ingest.events import Event
from journeys.settings import Settings


@dataclass(frozen=True)
class Published:
    stored: int
    # JetStream already held these messageIds: a provider retry, dropped by dedup.
    duplicates: int


async def publish_all(
    js: JetStreamContext, settings: Settings, events: Sequence[Event]
) -> Published:
    """One at a time, so a customer's events keep the provider's order (delivered, then opened).

    Raises the NATS error of the first event JetStream did not acknowledge; those before it are
    stored, and the provider's retry of the whole request finds them as duplicates.
    """
    duplicates = 0
    for event in events:
        ack = await bus.publish_event(js, settings, event)
        duplicates += bool(ack.duplicate)
    return Published(stored=len(events) - duplicates, duplicates=duplicates)
