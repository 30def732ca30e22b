"""NATS JetStream: the stream every event lands in, its dead-letter stream, and publishing.

An event is acknowledged to its producer only after JetStream stored it (invariant 1), and its
``messageId`` is sent as ``Nats-Msg-Id`` so the stream drops a retried publish (invariant 2).
"""

from __future__ import annotations

import asyncio
import logging
import zlib

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from journeys.ingest.events import Event, encode_event
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
            # Only partitioned subjects: a producer publishing elsewhere gets an error at once
            # instead of a message no router consumes.
            subjects=[partition_subjects(settings, p) for p in range(settings.event_partitions)],
            storage=StorageType.FILE,
            duplicate_window=settings.dedup_window_seconds,
            max_age=settings.events_max_age_days * 86400,
            num_replicas=settings.stream_replicas,
        ),
        StreamConfig(
            name=settings.dlq_stream,
            subjects=[f"{settings.dlq_subject_prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=settings.dedup_window_seconds,
            max_age=settings.events_max_age_days * 86400,
            num_replicas=settings.stream_replicas,
        ),
    ]
    for config in streams:
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


SUBJECT_PREFIX = "events"


def partition_of(customer_id: str, partitions: int) -> int:
    """The partition of a customer: CRC-32 of the id's UTF-8 bytes, modulo the partition count.

    Stable across processes and languages (any producer can compute it), unlike ``hash()``.
    """
    return zlib.crc32(customer_id.encode()) % partitions


def partition_subjects(settings: Settings, partition: int) -> str:
    """The subjects of one partition, as a stream or consumer filter: ``events.3.>``."""
    return f"{SUBJECT_PREFIX}.{partition}.>"


def event_subject(settings: Settings, event: Event) -> str:
    """``events.<partition>.track.cart_abandoned``: where ``event`` is published."""
    partition = partition_of(event.partition_key, settings.event_partitions)
    return f"{SUBJECT_PREFIX}.{partition}.{event.subject_tail}"


async def publish_event(
    js: JetStreamContext, settings: Settings, event: Event, encoded: bytes | None = None
) -> PubAck:
    """Publish and wait for JetStream's ack; ``ack.duplicate`` tells a dropped re-publish.

    Raises :class:`~journeys.ingest.events.InvalidEvent` before publishing an event the router would
    dead-letter (its size once encoded, its nesting): the router's own check decides. A caller
    that already checked the event passes what :func:`~journeys.ingest.events.encode_event` returned
    as ``encoded``, so the check is not made twice.
    """
    return await js.publish(
        event_subject(settings, event),
        encode_event(event) if encoded is None else encoded,
        headers={"Nats-Msg-Id": event.message_id},
    )


class EventPublisher:
    """Publishes events to JetStream for a process that only sometimes needs to (the worker,
    for journeys' emit steps): the connection opens on the first publish and is kept."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: NATS | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, event: Event) -> None:
        async with self._lock:
            if self._connection is None:
                self._connection = await connect(self.settings, "publisher", timeout=10)
        await publish_event(self._connection.jetstream(), self.settings, event)

    async def aclose(self) -> None:
        if self._connection is not None:
            await self._connection.drain()
            self._connection = None
