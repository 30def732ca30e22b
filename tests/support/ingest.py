"""Helpers for the Segment-compatible ingestion tests (tests/api/events/test_ingest_*.py):
what the EVENTS stream holds, the subject an event goes to, and request bodies."""

from __future__ import annotations

import json
import uuid
from typing import Any

from journeys.ingest.bus import partition_of
from journeys.settings import Settings
from tests.support.helpers import customer_id
from tests.support.real_network import message_ids, stream_messages


async def stored(settings: Settings) -> list[dict[str, Any]]:
    """The whole EVENTS stream, each message's JSON plus its ``_subject`` and ``_msg_id``."""
    messages = await stream_messages(settings.nats_url)
    return [
        {**json.loads(m.data), "_subject": m.subject, "_msg_id": msg_id}
        for m, msg_id in zip(messages, message_ids(messages), strict=True)
    ]


def subject(settings: Settings, customer: str, tail: str) -> str:
    return f"events.{partition_of(customer, settings.event_partitions)}.{tail}"


def mid() -> str:
    return f"m-{uuid.uuid4()}"


def track_body(customer: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "event": "Cart Abandoned",
        "userId": customer or customer_id(),
        "messageId": mid(),
        "properties": {"cart_id": "K1", "total": 42.5},
        **fields,
    }
