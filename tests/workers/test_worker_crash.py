"""A worker SIGKILLed in the middle of the 15-minute wait: after a restart the journey finishes
with exactly one SMS and one email.

The worker is a real `journeys worker` process and Temporal a real dev server, so recovery goes
the production way: the dead worker's sticky task times out and the new worker replays the run
from history. (Temporal's time-skipping test server cannot do this: it measures the sticky
timeout on its virtual clock, which stays locked while that task is outstanding.) To keep the
test short the run is started with the demo clock, ``time_scale=360``: 15 min take 2.5 s.
The kill waits on the wait's timer being started in the run's history (read from the server, not
through the worker it is about to kill) and follows it at once; the history then shows the dead
worker had scheduled nothing after the timer, so the kill landed in the wait.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from journeys.contracts import JourneyOutcome
from journeys.ingest.pipeline import EventPipeline
from journeys.ingest.routing import load_index
from journeys.settings import Settings
from journeys.store.models import JourneyDefinition
from journeys.temporal import workflow_id
from tests.conftest import Store
from tests.support.helpers import (
    audit_of,
    customer_id,
    deliveries_of,
    eventually,
    runs_of,
    start_process,
    track,
)

pytestmark = pytest.mark.slow

TIME_SCALE = 360.0


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return start_process("worker", settings, log)


async def history(handle: WorkflowHandle[object, object]) -> list[EventType.ValueType]:
    """The run's history as event types, read from the server."""
    return [event.event_type async for event in handle.fetch_history_events()]


async def test_worker_killed_during_the_wait_finishes_with_one_sms_and_one_email(
    temporal_dev: Client, temporal_address: str, store: Store, tmp_path: Path
) -> None:
    settings = store.settings.model_copy(
        update={"temporal_address": temporal_address, "time_scale": TIME_SCALE}
    )
    customer = customer_id()
    wid = workflow_id("cart-recovery", customer)
    log = tmp_path / "worker.log"
    first = start_worker(settings, log)
    try:

        async def registered() -> None:
            async with store.sessions() as session:
                keys = set(await session.scalars(select(JourneyDefinition.key)))
            assert "cart-recovery" in keys, log.read_text()

        await eventually(registered, timeout=60)
        router = EventPipeline(
            temporal_dev, settings, await load_index(store.sessions), store.sessions
        )
        await router.route(track("Cart Abandoned", customer, cart_id="K9"))

        async def waiting_fifteen_minutes() -> None:
            assert EventType.EVENT_TYPE_TIMER_STARTED in await history(run), "not waiting yet"

        run = temporal_dev.get_workflow_handle(wid)
        await eventually(waiting_fifteen_minutes, timeout=30, interval=0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    at_kill = await history(run)
    after_timer = at_kill[at_kill.index(EventType.EVENT_TYPE_TIMER_STARTED) :]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in after_timer, "killed after the wait"
    assert await deliveries_of(store.sessions, customer) == []

    second = start_worker(settings, log)
    try:
        handle = temporal_dev.get_workflow_handle(wid, result_type=JourneyOutcome)
        outcome = await handle.result()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    assert (outcome.status, outcome.messages_sent) == ("completed", 2)
    deliveries = await deliveries_of(store.sessions, customer)
    assert [(d.channel, d.status) for d in deliveries] == [("sms", "sent"), ("email", "sent")]
    (run,) = await runs_of(store.sessions, customer)
    assert run.status == "completed"
    kinds = [a.kind for a in await audit_of(store.sessions, customer)]
    assert kinds == ["entered", "waiting", "sent", "waiting", "sent", "completed"]
