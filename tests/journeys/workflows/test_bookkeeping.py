"""A run's first workflow task writes its entry and first audit rows in one local activity
(journeys/workflows/bookkeeping.py), on Temporal's time-skipping server with the real worker and
router.

Three writes there (entry, "entered", "waiting") were most of what a journey's start cost on top
of a raw signal-with-start (docs/scaling.md); the history is where that shows. So does a patch
marker, with the search-attribute upsert that comes with it: a new run takes its changes by its
start version instead (journeys/workflows/changes.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import ACTIVITY_RECORD_PROGRESS, EVENT_SIGNAL, JourneyEvent, JourneyStart
from journeys.examples import CartRecovery
from journeys.ingest.pipeline import EventPipeline
from journeys.temporal import workflow_id
from journeys.workflow_ids import run_search_attributes
from journeys.workflows.changes import ONE_BOOKKEEPING_WRITE
from tests.conftest import Store
from tests.support.helpers import audit_of, customer_id, journey_outcome, runs_of, track


def _first_task_commands(history: WorkflowHistory) -> list[str]:
    """What the run's first workflow task did: its events up to and including its timer."""
    events = iter(history.events)
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            break
    names = []
    for event in events:
        names.append(EventType.Name(event.event_type))
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return names
    raise AssertionError("the run never started a timer")


def _patches(history: WorkflowHistory) -> list[str]:
    """The patch markers in a history."""
    return [
        json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)[
            "id"
        ]
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


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
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
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


async def test_a_new_run_takes_its_changes_without_a_marker(
    time_skipping: WorkflowEnvironment, router: EventPipeline
) -> None:
    """No patch marker and no ``TemporalChangeVersion`` upsert: the first task is the one
    bookkeeping write and the timer."""
    customer = customer_id()
    wid = workflow_id("cart-recovery", customer)

    await router.route(track("Cart Abandoned", customer, cart_id="K1", total=10))
    await journey_outcome(time_skipping, wid)

    history = await time_skipping.client.get_workflow_handle(wid).fetch_history()
    assert _first_task_commands(history) == [
        "EVENT_TYPE_MARKER_RECORDED",
        "EVENT_TYPE_TIMER_STARTED",
    ]
    assert _patches(history) == []


async def test_a_run_started_as_version_1_takes_the_change_by_its_marker(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    """A starter still on the old code (a rolling deploy) starts version 1 runs: they take the
    one-write bookkeeping through the patch, as runs did before start versions."""
    customer = customer_id()
    wid = workflow_id("cart-recovery", customer)
    trigger = JourneyEvent(
        name="Cart Abandoned",
        message_id=f"m-{customer}",
        customer_id=customer,
        timestamp=datetime.now(UTC),
        properties={"cart_id": "K1", "total": 10},
    )
    await time_skipping.client.start_workflow(
        CartRecovery.spec.workflow_type,
        JourneyStart(
            journey_key="cart-recovery", journey_version=1, customer_id=customer, version=1
        ),
        id=wid,
        task_queue=store.settings.task_queue,
        start_signal=EVENT_SIGNAL,
        start_signal_args=[trigger],
        search_attributes=run_search_attributes(customer, "cart-recovery", 1),
    )
    await journey_outcome(time_skipping, wid)

    history = await time_skipping.client.get_workflow_handle(wid).fetch_history()
    assert _patches(history)[0] == ONE_BOOKKEEPING_WRITE
    assert _local_activities(history, EventType.EVENT_TYPE_TIMER_STARTED) == [
        ACTIVITY_RECORD_PROGRESS
    ]
    [run] = await runs_of(store.sessions, customer)
    assert run.status == "completed"
