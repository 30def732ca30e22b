"""An operator's cancel ends a run at once, from any step, on Temporal's time-skipping server.

The ``cancel`` signal (journeys/workflows/dsl.py, ``Journey.on_cancel``) is sent here as the API
sends it (api/run_control.py): a code journey in the middle of a long wait, a declarative one
likewise, and a run stuck retrying a send against a provider that keeps failing, which must stop
trying.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import CANCEL_SIGNAL, CancelRequest, JourneyOutcome, StepState
from journeys.ingest.pipeline import EventPipeline
from journeys.store import templates
from journeys.temporal import workflow_id
from journeys.testing import JourneyTestKit
from tests.conftest import Store
from tests.support.helpers import (
    audit_of,
    customer_id,
    deliveries_of,
    journey_outcome,
    on_time,
    runs_of,
    track,
)
from tests.support.local_servers import serve_app

STOP = CancelRequest(actor="Grace Ops", reason="wrong audience", key_id="k1")
STOPPED = "cancelled by Grace Ops: wrong audience"

SLOW_LANE: dict[str, Any] = {
    "key": "cancel-slow-lane",
    "trigger": {"event": "Trial Started"},
    "steps": [
        {"id": "hello", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
        {"id": "rest", "type": "delay", "duration": "3d"},
        {"id": "nudge", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
    ],
}
FAILING_SEND: dict[str, Any] = {
    "key": "cancel-failing-send",
    "trigger": {"event": "Probe Started"},
    "steps": [
        {"id": "shout", "type": "send", "channel": "webhook", "template": "cancel_probe"},
        {"id": "after", "type": "send", "channel": "email", "template": "cart_recovery_email"},
    ],
}


async def test_a_code_journey_cancelled_mid_wait_ends_at_once_and_sends_nothing_more(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    entered = await time_skipping.get_current_time()
    await router.route(track("Cart Abandoned", customer, cart_id="K1"))
    handle = time_skipping.client.get_workflow_handle(
        workflow_id("cart-recovery", customer), result_type=JourneyOutcome
    )
    await time_skipping.sleep(timedelta(minutes=20))
    step = await handle.query("current_step", result_type=StepState)
    assert (step.kind, step.description) == ("wait", "waiting 2 h")

    await handle.signal(CANCEL_SIGNAL, STOP)
    outcome = await journey_outcome(time_skipping, handle.id)

    assert (outcome.status, outcome.reason) == ("cancelled", STOPPED)
    assert on_time(outcome.ended_at - entered, timedelta(minutes=20))
    assert outcome.messages_sent == 1
    assert [d.channel for d in await deliveries_of(store.sessions, customer)] == ["sms"]
    (run,) = await runs_of(store.sessions, customer)
    assert (run.status, run.reason) == ("cancelled", STOPPED)
    audit = await audit_of(store.sessions, customer)
    assert [a.kind for a in audit] == ["entered", "waiting", "sent", "waiting", "cancelled"]
    assert audit[-1].reason == STOPPED
    history = await handle.fetch_history()
    cancelled = [e for e in history.events if e.HasField("timer_canceled_event_attributes")]
    assert len(cancelled) == 1, "the pending 2 h timer must be cancelled by the cancel"


async def test_an_exit_before_the_cancel_wins_and_the_cancel_changes_nothing(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    await router.route(track("Cart Abandoned", customer, cart_id="K2"))
    handle = time_skipping.client.get_workflow_handle(
        workflow_id("cart-recovery", customer), result_type=JourneyOutcome
    )
    await time_skipping.sleep(timedelta(minutes=5))
    # The exit arrived first: whether the cancel lands while the run records its exit or after
    # it ended (then Temporal refuses the signal), the run ends as the exit made it.
    await router.route(track("Order Completed", customer))
    with_cancel = asyncio.create_task(handle.signal(CANCEL_SIGNAL, STOP))
    outcome = await journey_outcome(time_skipping, handle.id)
    await asyncio.gather(with_cancel, return_exceptions=True)

    assert (outcome.status, outcome.reason) == ("exited", "exited on Order Completed")
    (run,) = await runs_of(store.sessions, customer)
    assert run.status == "exited"


async def test_a_declarative_journey_cancelled_in_a_long_delay() -> None:
    async with JourneyTestKit.start(definitions=[SLOW_LANE]) as kit:
        customer = customer_id()
        began = await kit.env.get_current_time()
        result = await kit.route(track("Trial Started", customer))
        (wid,) = result.started
        await kit.env.sleep(timedelta(days=1))
        await kit.env.client.get_workflow_handle(wid).signal(CANCEL_SIGNAL, STOP)
        (outcome,) = await kit.finish(wid)
        (run,) = await runs_of(kit.sessions, customer)
        audit = await audit_of(kit.sessions, customer)
        sent = await deliveries_of(kit.sessions, customer)

    assert (outcome.status, outcome.reason) == ("cancelled", STOPPED)
    assert on_time(outcome.ended_at - began, timedelta(days=1))
    assert (run.status, run.reason) == ("cancelled", STOPPED)
    assert [d.step for d in sent] == ["hello"], "the step after the delay never runs"
    assert [a.kind for a in audit] == ["entered", "sent", "waiting", "cancelled"]
    assert audit[-1].reason == STOPPED


async def test_a_run_retrying_a_failing_send_stops_trying_when_cancelled() -> None:
    """The provider answers 500 to every attempt: Temporal would retry the send for ever. The
    cancel abandons it: the run ends, no attempt follows, and the next step never runs."""
    attempts: list[Request] = []
    retried = asyncio.Event()

    async def refuse(request: Request) -> Response:
        attempts.append(request)
        if len(attempts) >= 2:
            retried.set()
        return JSONResponse({"error": "down"}, status_code=500)

    app = Starlette(routes=[Route("/hook", refuse, methods=["POST"])])
    async with (
        serve_app(app) as url,
        JourneyTestKit.start(
            channel_providers={"webhook": "webhook", "email": "console"},
            webhook_url=f"{url}/hook",
            webhook_secret=SecretStr("cancel-test-secret"),
            webhook_allow_private_targets=True,
        ) as kit,
    ):
        async with kit.sessions.begin() as session:
            await templates.add_version(
                session,
                "cancel_probe",
                "webhook",
                templates.Content(None, "Hello {{ customer.first_name }}", None),
                previous=None,
                source=templates.API,
            )
        await kit.publish(FAILING_SEND)
        customer = customer_id()
        result = await kit.route(track("Probe Started", customer))
        (wid,) = result.started
        handle = kit.env.client.get_workflow_handle(wid, result_type=JourneyOutcome)
        await asyncio.wait_for(retried.wait(), 30)
        step = await handle.query("current_step", result_type=StepState)
        assert step.kind == "send"

        await handle.signal(CANCEL_SIGNAL, STOP)
        (outcome,) = await kit.finish(wid)
        tried = len(attempts)
        await kit.env.sleep(timedelta(minutes=10))
        await asyncio.sleep(1)
        (run,) = await runs_of(kit.sessions, customer)
        deliveries = await deliveries_of(kit.sessions, customer)
        audit = await audit_of(kit.sessions, customer)

    assert (outcome.status, outcome.reason, outcome.messages_sent) == ("cancelled", STOPPED, 0)
    assert len(attempts) == tried, "no send attempt after the cancel"
    assert (run.status, run.reason) == ("cancelled", STOPPED)
    assert [d.status for d in deliveries if d.status == "sent"] == []
    assert all(d.step == "shout" for d in deliveries), "the step after the send never runs"
    assert [a.kind for a in audit] == ["entered", "cancelled"]
