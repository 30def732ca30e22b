"""A router in the test process on its own NATS connection, what it dead-lettered, and what it
logged: the router's failure tests wait on these (a dead letter, a log record) rather than on
a window of wall time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from temporalio.client import Client

from journeys.settings import Settings
from journeys.store.db import Sessions
from workers.router import Router


@asynccontextmanager
async def running_router(
    settings: Settings, client: Client, sessions: Sessions, *, owner: str | None = None
) -> AsyncIterator[Router]:
    """A router with a NATS connection of its own, as a separate process would have; stopped
    gracefully (its pulls settled, its leases given back) on the way out."""
    connection = await nats.connect(settings.nats_url)
    router = Router(connection.jetstream(), client, sessions, settings, owner=owner)
    task = asyncio.create_task(router.run())
    try:
        yield router
    finally:
        router.stop()
        await asyncio.wait_for(task, 60)
        await connection.close()


async def dead_letters(js: JetStreamContext, settings: Settings, count: int) -> list[Msg]:
    """The first ``count`` letters of ``EVENTS_DLQ``, read with a consumer of the test's own
    (waiting up to 30 s for them); raises if fewer arrive."""
    reader = await js.pull_subscribe(f"{settings.dlq_subject_prefix}.>", stream=settings.dlq_stream)
    try:
        letters: list[Msg] = []
        while len(letters) < count:
            letters += await reader.fetch(count - len(letters), timeout=30)
        return letters
    finally:
        await reader.unsubscribe()


async def dead_lettered(js: JetStreamContext, settings: Settings) -> int:
    """How many events ``EVENTS_DLQ`` holds."""
    try:
        info = await js.stream_info(settings.dlq_stream)
    except NotFoundError:
        return 0
    return info.state.messages


async def unsettled(js: JetStreamContext, settings: Settings, partition: int) -> tuple[int, int]:
    """A partition's events not yet pulled, and pulled but not acknowledged; an assertion
    error (for :func:`tests.support.helpers.eventually`) until a router has subscribed."""
    durable = f"{settings.router_durable}-{partition}"
    try:
        info = await js.consumer_info(settings.events_stream, durable)
    except NotFoundError as err:
        raise AssertionError(f"no consumer {durable} yet") from err
    return info.num_pending, info.num_ack_pending


class LogWatch(logging.Handler):
    """The router's log records whose message contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.records.append(record)


@contextmanager
def router_log(text: str) -> Iterator[LogWatch]:
    """Collect the router's log records containing ``text`` meanwhile."""
    logger = logging.getLogger("workers.router")
    watch = LogWatch(text)
    logger.addHandler(watch)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)
