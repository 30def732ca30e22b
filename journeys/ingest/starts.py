"""How a customer enters a journey, and how an event reaches a run: the one place that starts
and signals runs, for the router (:mod:`journeys.ingest.pipeline`) and the audience import
(:mod:`journeys.activities.audience`) alike, so both name and start a run the same way.

A start is a signal-with-start: it starts the run with the trigger as its first event, or only
signals it when it is already running, so a redelivered trigger enters nobody twice. Runs are
named ``journey/<key>/<customer>``, with the entry key's value and, for journeys entered on
every trigger, the trigger's messageId appended for keyed journeys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from journeys.contracts import (
    EVENT_SIGNAL,
    WATCHER_WORKFLOW,
    JourneyEvent,
    JourneyStart,
    WatchStart,
)
from journeys.definitions.document import ALWAYS
from journeys.definitions.expressions import ExpressionError, compile_expression, scope
from journeys.ingest.routing import RouteTarget
from journeys.settings import Settings
from journeys.workflow_ids import keyed_workflow_id, run_search_attributes, watcher_id, workflow_id


def entry_key(target: RouteTarget, event: JourneyEvent) -> str | None:
    """The entry key's value for ``event`` (``event.properties.cart_id``), or ``None`` when the
    journey has no entry key or the event does not carry it."""
    if not target.entry.key:
        return None
    names = scope(now=datetime.now(UTC), trigger=event, event=event)
    try:
        value = compile_expression(target.entry.key).evaluate(names)
    except ExpressionError:
        return None
    return None if value is None or value == "" else str(value)


def run_id(target: RouteTarget, customer_id: str, event: JourneyEvent, key: str | None) -> str:
    """The workflow id of the run ``event`` enters: one per customer, or for keyed journeys one
    per entry key value and, for journeys entered on every trigger, per trigger messageId."""
    if not target.keyed:
        return workflow_id(target.key, customer_id)
    parts = [key] if key is not None else []
    if target.entry.reentry == ALWAYS:
        parts.append(event.message_id)
    return keyed_workflow_id(target.key, customer_id, *parts)


async def start_run(
    client: Client,
    settings: Settings,
    target: RouteTarget,
    customer_id: str,
    trigger: JourneyEvent,
    wid: str,
    key: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Signal-with-start the customer's run of ``target`` with ``trigger``; a declarative
    journey's run gets its version's document as its snapshot."""
    start = JourneyStart(
        journey_key=target.key,
        journey_version=target.version,
        customer_id=customer_id,
        time_scale=settings.time_scale,
        definition=target.definition,
        entry_key=key,
    )
    return await _signal_with_start(client, settings, target.workflow_type, start, wid, trigger)


async def restart_countdown(
    client: Client, settings: Settings, target: RouteTarget, customer_id: str, event: JourneyEvent
) -> str:
    """Signal-with-start the customer's inactivity watcher for ``target``; its workflow id."""
    assert target.inactivity_seconds is not None
    start = WatchStart(
        journey_key=target.key,
        journey_version=target.version,
        workflow_type=target.workflow_type,
        customer_id=customer_id,
        event_name=event.name,
        period_seconds=target.inactivity_seconds,
        time_scale=settings.time_scale,
    )
    wid = watcher_id(target.key, customer_id)
    await _signal_with_start(client, settings, WATCHER_WORKFLOW, start, wid, event)
    return wid


async def signal(client: Client, wid: str, event: JourneyEvent) -> bool:
    """Send ``event`` to the run ``wid``; False when no such run is running."""
    try:
        await client.get_workflow_handle(wid).signal(EVENT_SIGNAL, event)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def _signal_with_start(
    client: Client,
    settings: Settings,
    workflow: str,
    start: JourneyStart | WatchStart,
    wid: str,
    event: JourneyEvent,
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        workflow,
        start,
        id=wid,
        task_queue=settings.task_queue,
        start_signal=EVENT_SIGNAL,
        start_signal_args=[event],
        search_attributes=run_search_attributes(
            start.customer_id, start.journey_key, start.journey_version
        ),
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
