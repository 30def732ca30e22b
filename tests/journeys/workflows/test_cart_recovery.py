"""The cart-recovery journey on Temporal's time-skipping server, through the real router logic."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from journeys.contracts import JourneyOutcome, StepState
from journeys.ingest.pipeline import EventPipeline
from journeys.temporal import workflow_id
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


async def test_no_purchase_sends_sms_then_email_and_completes(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    entered = await time_skipping.get_current_time()
    await router.route(track("Cart Abandoned", customer, cart_id="K1", total=42.5))
    outcome = await journey_outcome(time_skipping, workflow_id("cart-recovery", customer))

    assert outcome.status == "completed"
    assert outcome.messages_sent == 2
    sms, email = await deliveries_of(store.sessions, customer)
    assert (sms.channel, sms.status, sms.recipient) == ("sms", "sent", "+15550000001")
    assert sms.body is not None and "Hi Ada, your cart K1 is waiting (42.50 USD)" in sms.body
    assert on_time(sms.requested_at - entered, timedelta(minutes=15))
    assert (email.channel, email.status, email.recipient) == ("email", "sent", "ada@example.com")
    assert email.subject == "Ada, you left something in your cart"
    assert on_time(email.requested_at - entered, timedelta(hours=2, minutes=15))
    (run,) = await runs_of(store.sessions, customer)
    assert (run.status, run.reason) == ("completed", "completed all steps")
    kinds = [a.kind for a in await audit_of(store.sessions, customer)]
    assert kinds == ["entered", "waiting", "sent", "waiting", "sent", "completed"]


async def test_purchase_mid_wait_exits_at_once_without_email(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    entered = await time_skipping.get_current_time()
    await router.route(track("Cart Abandoned", customer, cart_id="K2"))
    handle = time_skipping.client.get_workflow_handle(
        workflow_id("cart-recovery", customer), result_type=JourneyOutcome
    )
    await time_skipping.sleep(timedelta(minutes=20))
    step = await handle.query("current_step", result_type=StepState)
    assert step.kind == "wait" and step.description == "waiting 2 h"
    result = await router.route(track("Order Completed", customer, order_id="O1"))
    assert result.signalled == [handle.id]
    outcome = await journey_outcome(time_skipping, handle.id)

    assert outcome.status == "exited"
    assert outcome.reason == "exited on Order Completed"
    assert on_time(outcome.ended_at - entered, timedelta(minutes=20))
    (sms,) = await deliveries_of(store.sessions, customer)
    assert sms.channel == "sms"
    (run,) = await runs_of(store.sessions, customer)
    assert (run.status, run.reason) == ("exited", "exited on Order Completed")
    assert run.ended_at is not None and on_time(run.ended_at - entered, timedelta(minutes=20))
    history = await handle.fetch_history()
    cancelled = [e for e in history.events if e.HasField("timer_canceled_event_attributes")]
    assert len(cancelled) == 1, "the pending 2 h timer must be cancelled by the exit"


async def test_same_event_published_twice_starts_one_journey_and_sends_one_sms(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    event = track("Cart Abandoned", customer, cart_id="K3")
    first = await router.route(event)
    second = await router.route(event)
    assert first.started == second.started == [workflow_id("cart-recovery", customer)]
    handle = time_skipping.client.get_workflow_handle(first.started[0], result_type=JourneyOutcome)
    await time_skipping.sleep(timedelta(minutes=16))
    purchase = track("Order Completed", customer)
    await router.route(purchase)
    outcome = await journey_outcome(time_skipping, handle.id)

    assert outcome.reason == "exited on Order Completed"
    runs = await runs_of(store.sessions, customer)
    assert len(runs) == 1
    sms = [d for d in await deliveries_of(store.sessions, customer) if d.channel == "sms"]
    assert len(sms) == 1
    assert [a.kind for a in await audit_of(store.sessions, customer)].count("entered") == 1
