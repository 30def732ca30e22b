"""A router SIGKILLed in the middle of 10,000 events, then restarted: every journey the events
trigger exists exactly once, and every event reached its run exactly once and in order.

The router is a real `journeys router` process; NATS, Temporal (dev server) and the store are real.
After the kill, the events the dead router had pulled but not acknowledged are redelivered (the
consumers' ``ack_wait`` is short here) and applied again: starts and signals are idempotent.
The kill is checked to have landed mid-stream: at that moment events were still unsettled, some
of them pulled by the dead router and not acknowledged.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import func, select
from temporalio.client import Client

from journeys.contracts import RECEIVED_EVENTS_QUERY
from journeys.ingest import bus
from journeys.ingest.events import Event
from journeys.registry import register_code_journeys
from journeys.settings import Settings
from journeys.store.models import JourneyRun
from journeys.temporal import workflow_id
from journeys.worker_assembly import build_worker
from tests.conftest import Store, stack_settings
from tests.support.helpers import customer_id, eventually, start_process, track
from tests.support.journeys.sample import Tally

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

CUSTOMERS = 1000
EVENTS_EACH = 10  # one Tally Started, then nine Tally: 10,000 events in all


def start_router(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return start_process(
        "router",
        settings,
        log,
        JOURNEYS_EVENT_PARTITIONS=str(settings.event_partitions),
        JOURNEYS_ROUTER_ACK_WAIT_SECONDS=str(settings.router_ack_wait_seconds),
        JOURNEYS_ROUTER_CONCURRENCY="64",
    )


async def consumers(js: JetStreamContext, settings: Settings) -> tuple[int, int]:
    """All partitions together: events never pulled, and events pulled and not yet
    acknowledged."""
    pending = in_hand = 0
    for partition in range(settings.event_partitions):
        try:
            info = await js.consumer_info(settings.events_stream, f"router-{partition}")
        except nats.js.errors.NotFoundError:
            return CUSTOMERS * EVENTS_EACH, 0
        pending += info.num_pending
        in_hand += info.num_ack_pending
    return pending, in_hand


async def unsettled(js: JetStreamContext, settings: Settings) -> int:
    """Events not yet acknowledged by a router (never pulled, or pulled and pending), all
    partitions together."""
    pending, in_hand = await consumers(js, settings)
    return pending + in_hand


# The router is under test here, not the store: SQLite only keeps CI short.
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_router_killed_mid_stream_loses_and_doubles_nothing(
    store: Store, fresh_nats_url: str, temporal_address: str, temporal_dev: Client, tmp_path: Path
) -> None:
    settings = stack_settings(store, fresh_nats_url, temporal_address).model_copy(
        update={"router_ack_wait_seconds": 3.0}
    )
    await register_code_journeys(store.sessions, [Tally])
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)

    customers = [customer_id() for _ in range(CUSTOMERS)]
    sent: dict[str, list[str]] = {c: [] for c in customers}
    for position in range(EVENTS_EACH):
        wave: list[Event] = [
            track("Tally Started" if position == 0 else "Tally", c, n=position) for c in customers
        ]
        for event in wave:
            sent[event.customer_id].append(event.message_id)
        for start in range(0, len(wave), 500):
            acks = await asyncio.gather(
                *(bus.publish_event(js, settings, e) for e in wave[start : start + 500])
            )
            assert not any(a.duplicate for a in acks)

    log = tmp_path / "router.log"
    async with build_worker(temporal_dev, settings, store.sessions, [Tally]):
        router = start_router(settings, log)
        try:

            async def under_way() -> None:
                pending, in_hand = await consumers(js, settings)
                settled = CUSTOMERS * EVENTS_EACH - pending - in_hand
                assert settled >= 2500, log.read_text()[-2000:]
                assert in_hand > 0, "the router holds events it has not acknowledged"

            await eventually(under_way, timeout=120, interval=0.05)
            router.send_signal(signal.SIGKILL)
            router.wait(10)
            # What the dead router left: with nothing consuming, the counts stand still.
            pending, in_hand = await consumers(js, settings)
            assert pending + in_hand > 0, "killed before the end of the stream"
            assert in_hand > 0, "killed holding events pulled and not acknowledged"
            router = start_router(settings, log)

            async def all_settled() -> None:
                assert await unsettled(js, settings) == 0

            await eventually(all_settled, timeout=240, interval=0.5)
            router.send_signal(signal.SIGTERM)
            assert router.wait(30) == 0, log.read_text()[-2000:]
        finally:
            if router.poll() is None:
                router.kill()

        async def one_run_each() -> None:
            async with store.sessions() as session:
                rows = await session.execute(
                    select(JourneyRun.customer_id, func.count()).group_by(JourneyRun.customer_id)
                )
            assert dict(rows.all()) == {c: 1 for c in customers}

        # The worker enters the runs the router started at its own pace.
        await eventually(one_run_each, timeout=180, interval=1)

        async def received(customer: str) -> list[str]:
            handle = temporal_dev.get_workflow_handle(workflow_id("test-tally", customer))
            result: list[str] = await handle.query(RECEIVED_EVENTS_QUERY, result_type=list[str])
            return result

        for start in range(0, CUSTOMERS, 100):
            chunk = customers[start : start + 100]
            seen = await asyncio.gather(*(received(c) for c in chunk))
            for customer, ids in zip(chunk, seen, strict=True):
                assert ids == sent[customer], customer
        for customer in customers:
            await temporal_dev.get_workflow_handle(workflow_id("test-tally", customer)).terminate(
                "test finished"
            )

    dead = await js.stream_info(settings.dlq_stream)
    assert dead.state.messages == 0
    await connection.close()
