"""A run's first workflow task writes its entry and first audit rows in one local activity
(journeys/bookkeeping.py), on Temporal's time-skipping server with the real worker and router.

Three writes there (entry, "entered", "waiting") were most of what a journey's start cost on top
of a raw signal-with-start (docs/scaling.md); the history is where that shows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from journeys.bookkeeping import ACTIVITY_RECORD_PROGRESS
from journeys.examples import CartRecovery
from journeys.registry import register_code_journeys
from journeys.routing import load_index
from journeys.temporal import workflow_id
from tests.conftest import Store
from tests.helpers import audit_of, customer_id, journey_outcome, runs_of, track
from workers.router import EventRouter
from workers.worker import build_worker


@pytest.fixture
async def router(time_skipping: WorkflowEnvironment, store: Store) -> AsyncIterator[EventRouter]:
    await register_code_journeys(store.sessions, [CartRecovery])
    async with build_worker(time_skipping.client, store.settings, store.sessions, [CartRecovery]):
        yield EventRouter(
            time_skipping.client, store.settings, await load_index(store.sessions), store.sessions
        )


def _local_activities(history: WorkflowHistory, until: EventType.ValueType) -> list[str]:
    """The local activities recorded before the first event of type ``until``."""
    names = []
    for event in history.events:
        if event.event_type == until:
            break
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and "data" in marker.details:
            data = json.loads(marker.details["data"].payloads[0].data)
            names.append(data["activity_type"])
    return names


async def test_the_first_task_enters_the_run_and_audits_it_in_one_write(
    time_skipping: WorkflowEnvironment, store: Store, router: EventRouter
) -> None:
    customer = customer_id()
    wid = workflow_id("cart-recovery", customer)

    await router.route(track("Cart Abandoned", customer, cart_id="K1", total=10))
    await journey_outcome(time_skipping, wid)

    history = await time_skipping.client.get_workflow_handle(wid).fetch_history()
    first_task = _local_activities(history, EventType.EVENT_TYPE_TIMER_STARTED)
    assert first_task == [ACTIVITY_RECORD_PROGRESS]
    [run] = await runs_of(store.sessions, customer)
    rows = [row for row in await audit_of(store.sessions, customer) if row.run_id == run.id]
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    assert [row.kind for row in rows[:2]] == ["entered", "waiting"]
    assert run.status == "completed"
