"""NATS JetStream: the stream every event lands in, its dead-letter stream, and publishing.

An event is acknowledged to its producer only after JetStream stored it (invariant 1), and its
``messageId`` is sent as ``Nats-Msg-Id`` so the stream drops a retried publish (invariant 2).
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from journeys.events import Event
from journeys.settings import Settings

log = logging.getLogger(__name__)

HEADER_DLQ_REASON = "Journeys-Dlq-Reason"
HEADER_ORIGINAL_SUBJECT = "Journeys-Original-Subject"
HEADER_ORIGINAL_SEQUENCE = "Journeys-Original-Sequence"


class NatsUnavailable(ConnectionError):
    """NATS could not be reached in time; the message says where."""


async def connect(settings: Settings, name: str, *, timeout: float | None = None) -> NATS:
    """Connect with callbacks that log every disconnect and error instead of swallowing them.

    Once connected the client reconnects forever. The first connection is retried forever too
    (a long-running process waits for NATS to come up) unless ``timeout`` bounds it.
    """
    connection = NATS()

    async def error_cb(err: Exception) -> None:
        log.error("NATS error (%s): %s", name, err)

    async def disconnected_cb() -> None:
        if not (connection.is_closed or connection.is_draining):
            log.warning("NATS disconnected (%s)", name)

    async def reconnected_cb() -> None:
        log.warning("NATS reconnected (%s)", name)

    connecting = connection.connect(
        settings.nats_servers,
        name=f"journeys-{name}",
        error_cb=error_cb,
        disconnected_cb=disconnected_cb,
        reconnected_cb=reconnected_cb,
        max_reconnect_attempts=-1,
    )
    try:
        await asyncio.wait_for(connecting, timeout)
    except TimeoutError as err:
        await connection.close()
        raise NatsUnavailable(f"NATS at {settings.nats_url} unreachable for {timeout:g} s") from err
    return connection


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    """Create (or bring up to date) the events stream and its dead-letter stream."""
    streams = [
        StreamConfig(
            name=settings.events_stream,
            subjects=[settings.events_subjects],
            storage=StorageType.FILE,
            duplicate_window=settings.dedup_window_seconds,
            num_replicas=settings.stream_replicas,
        ),
        StreamConfig(
            name=settings.dlq_stream,
            subjects=[f"{settings.dlq_subject_prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=settings.dedup_window_seconds,
            num_replicas=settings.stream_replicas,
        ),
    ]
    for config in streams:
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


async def publish_event(js: JetStreamContext, event: Event) -> PubAck:
    """Publish and wait for JetStream's ack; ``ack.duplicate`` tells a dropped re-publish."""
    return await js.publish(
        event.subject, event.to_json(), headers={"Nats-Msg-Id": event.message_id}
    )
