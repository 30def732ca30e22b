"""Per-customer order and sharing: two routers on the same partitions, real NATS and Temporal.

A purchase published right after an abandoned cart must always end the run it follows, whichever
router pulls either event and however the events fall into batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import nats
import pytest
from nats.js.errors import NoKeysError
from temporalio.client import Client

from journeys.examples import CartRecovery
from journeys.ingest import bus
from journeys.registry import register_code_journeys
from journeys.settings import Settings
from journeys.worker_assembly import build_worker
from tests.conftest import Store, stack_settings
from tests.support.helpers import customer_id, eventually, runs_of, track
from workers.router import Router

CUSTOMERS = 40


@pytest.fixture
def settings(store: Store, fresh_nats_url: str, temporal_address: str) -> Settings:
    # Small pulls and few partitions: many batch boundaries, several customers per partition.
    return stack_settings(store, fresh_nats_url, temporal_address).model_copy(
        update={
            "router_batch": 7,
            "router_concurrency": 4,
            "event_partitions": 4,
            "router_ack_wait_seconds": 3.0,
            "router_fetch_timeout_seconds": 0.5,
        }
    )


@asynccontextmanager
async def running_router(settings: Settings, client: Client, store: Store) -> AsyncIterator[Router]:
    """A router with a NATS connection of its own, as a separate process would have."""
    connection = await nats.connect(settings.nats_url)
    router = Router(connection.jetstream(), client, store.sessions, settings)
    task = asyncio.create_task(router.run())
    try:
        yield router
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
        await connection.close()


async def test_two_routers_keep_each_customers_order_and_drain_on_stop(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    await register_code_journeys(store.sessions, [CartRecovery])
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)
    customers = [customer_id() for _ in range(CUSTOMERS)]

    async def shop(customer: str) -> None:
        await bus.publish_event(js, settings, track("Cart Abandoned", customer))
        await bus.publish_event(js, settings, track("Order Completed", customer))

    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            build_worker(temporal_dev, settings, store.sessions, [CartRecovery])
        )
        first = await stack.enter_async_context(running_router(settings, temporal_dev, store))
        second = await stack.enter_async_context(running_router(settings, temporal_dev, store))

        async def shared() -> None:
            assert first.leases.owned and second.leases.owned
            assert not first.leases.owned & second.leases.owned

        await eventually(shared, timeout=20)
        await asyncio.gather(*(shop(c) for c in customers))

        async def all_exited() -> None:
            for customer in customers:
                runs = await runs_of(store.sessions, customer)
                assert [(r.status, r.reason) for r in runs] == [
                    ("exited", "exited on Order Completed")
                ], customer

        await eventually(all_exited, timeout=60)

    # Both routers stopped gracefully: every pull acknowledged, every lease given back.
    for partition in range(settings.event_partitions):
        info = await js.consumer_info(settings.events_stream, f"router-{partition}")
        assert (info.num_ack_pending, info.num_pending) == (0, 0)
    leases = await js.key_value(settings.router_lease_bucket)
    try:
        keys = await leases.keys()
    except NoKeysError:
        keys = []
    assert keys == []
    await connection.close()


async def test_the_pull_after_a_crash_holds_every_event_the_dead_router_held(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    """A pull is settled by one ack-all on its newest event, which would also settle any older
    event out but not in the pull. A dead router's events come back one ack wait after each was
    fetched, so the next router must wait for all of them before it applies any.

    The ack wait is the fixture's 3 s, not shorter: the dead router's second fetch must come
    before its first event's ack wait ends (else that fetch takes the event back itself), and
    the live router gathers the rest within twice the ack wait. A 1 s ack wait left a busy
    machine a fraction of a second for both; the fetches are checked to be first deliveries."""
    settings = settings.model_copy(
        update={
            "event_partitions": 1,
            "router_batch": 20,
            "router_fetch_timeout_seconds": 10.0,
        }
    )
    assert settings.router_ack_wait_seconds == 3.0
    dead_connection = await nats.connect(settings.nats_url)
    dead_js = dead_connection.jetstream()
    await bus.ensure_streams(dead_js, settings)
    for _ in range(15):
        await bus.publish_event(dead_js, settings, track("Page Viewed", customer_id()))
    dead = Router(dead_js, temporal_dev, store.sessions, settings, owner="dead")
    subscription = await dead._subscribe(0)
    # The dead router took its pull in two fetches, 0.3 s apart, and never acknowledged it.
    taken = await subscription.fetch(1, timeout=2)
    await asyncio.sleep(0.3)
    taken += await subscription.fetch(14, timeout=2)
    await dead_connection.close()
    assert len(taken) == 15
    assert all((msg.metadata.num_delivered or 1) == 1 for msg in taken)

    connection = await nats.connect(settings.nats_url)
    try:
        alive = Router(
            connection.jetstream(), temporal_dev, store.sessions, settings, owner="alive"
        )
        pull = await alive._fetch(await alive._subscribe(0), 0)
    finally:
        await connection.close()

    held = sorted(msg.metadata.sequence.stream for msg in taken if msg.metadata.sequence)
    assert [msg.metadata.sequence.stream for msg in pull if msg.metadata.sequence] == held
    assert all((msg.metadata.num_delivered or 1) == 2 for msg in pull)
