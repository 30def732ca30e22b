"""A router that starts on a backlog takes its first pulls whole without waiting out an ack wait.

A router's first pull on a partition is checked against the consumer (``Router._whole_pull``):
it must hold every event that is out before it applies any. Under a backlog, events the server
delivered after a fetch gave up sit in the client's buffer. Fetching those had once waited the
whole ack wait, as if they were a dead router's, on every partition's first pull: the 04:45
bench run's non-matching figure (docs/scaling.md, "A pull is applied whole").

Not a speed test: with a 60 s ack wait, a router that waits it out once takes over a minute,
and one that does not drains the backlog in a few seconds. The bound sits far from both.
"""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js.errors import NotFoundError
from temporalio.client import Client

from journeys.ingest import bus
from journeys.settings import Settings
from tests.conftest import Store, stack_settings
from tests.support.helpers import customer_id, eventually, track
from workers.router import Router

ACK_WAIT_SECONDS = 60.0
BACKLOG = 2000


@pytest.fixture
def settings(store: Store, fresh_nats_url: str, temporal_address: str) -> Settings:
    return stack_settings(store, fresh_nats_url, temporal_address).model_copy(
        update={
            "event_partitions": 4,
            "router_batch": 100,
            "router_ack_wait_seconds": ACK_WAIT_SECONDS,
        }
    )


async def test_a_router_started_on_a_backlog_drains_it_without_waiting_an_ack_wait(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)
    # Page views no journey wants: the router settles each with its pull's one ack.
    await asyncio.gather(
        *(
            bus.publish_event(js, settings, track("Page Viewed", customer_id()))
            for _ in range(BACKLOG)
        )
    )

    router = Router(js, temporal_dev, store.sessions, settings)
    task = asyncio.create_task(router.run())

    async def drained() -> None:
        left = 0
        for partition in range(settings.event_partitions):
            durable = f"{settings.router_durable}-{partition}"
            try:
                info = await js.consumer_info(settings.events_stream, durable)
            except NotFoundError:
                raise AssertionError(f"no consumer {durable} yet") from None
            left += (info.num_pending or 0) + (info.num_ack_pending or 0)
        assert left == 0, f"{left} of {BACKLOG} events not yet acknowledged"

    try:
        await eventually(drained, timeout=ACK_WAIT_SECONDS / 3, interval=0.2)
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
        await connection.close()
