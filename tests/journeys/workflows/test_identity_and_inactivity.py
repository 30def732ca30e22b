"""Identity merges, one entry per trigger, and inactivity triggers, through the router's logic
on Temporal's time-skipping server and a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import JourneyOutcome
from journeys.examples import CartRecovery
from journeys.ingest.events import Event
from journeys.ingest.pipeline import EventPipeline
from journeys.settings import Settings
from journeys.store import customers
from journeys.temporal import watcher_id, workflow_id
from journeys.workflows.dsl import Journey
from tests.conftest import Store, new_time_skipping
from tests.support.helpers import (
    customer_id,
    deliveries_of,
    eventually,
    journey_outcome,
    runs_of,
    track,
)
from tests.support.journeys.sample import WinBack

JOURNEYS: list[type[Journey]] = [CartRecovery, WinBack]


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A virtual clock of the test's own: these tests sleep through days with ``env.sleep``,
    which stalls on the shared server once an earlier test's worker (and its sticky queue) is
    gone."""
    async with new_time_skipping() as env:
        yield env


@pytest.fixture
def code_journeys() -> list[type[Journey]]:
    return JOURNEYS


@pytest.fixture
def worker_settings(store: Store, tmp_path: Path) -> Settings:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "win_back.txt.j2").write_text("We miss you, {{ customer.first_name }}")
    for name in ("cart_recovery_sms.txt.j2", "cart_recovery_email.txt.j2"):
        (folder / name).write_text("Cart of {{ customer.first_name }}")
    (folder / "cart_recovery_email.subject.j2").write_text("Your cart")
    store.settings = store.settings.model_copy(update={"templates_dir": folder})
    return store.settings


def call(kind: str, **fields: Any) -> Event:
    return Event.model_validate({"type": kind, **fields})


async def test_an_anonymous_journey_continues_for_the_identified_customer(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    anonymous, user = f"anon-{customer_id()}", customer_id()
    await router.route(call("track", event="Cart Abandoned", anonymousId=anonymous))
    identified = await router.route(
        call(
            "identify",
            userId=user,
            anonymousId=anonymous,
            traits={"first_name": "Grace", "phone": "+15550000002", "timezone": "Europe/Paris"},
        )
    )
    assert identified.customer_id == user

    async with store.sessions() as session:
        identity = await customers.resolve(session, anonymous)
        profile = await customers.profile(session, anonymous)
    assert identity.customer_id == user and identity.aliases == (anonymous,)
    assert profile is not None
    assert (profile.id, profile.phone, profile.timezone) == (user, "+15550000002", "Europe/Paris")

    # The SMS of the anonymous run goes to the identified customer's phone.
    await time_skipping.sleep(timedelta(minutes=16))
    (sms,) = await deliveries_of(store.sessions, anonymous)
    assert (sms.status, sms.recipient, sms.body) == ("sent", "+15550000002", "Cart of Grace")

    # The purchase, sent with the userId only, reaches the run begun anonymously.
    result = await router.route(call("track", event="Order Completed", userId=user))
    assert result.signalled == [workflow_id("cart-recovery", anonymous)]
    outcome = await journey_outcome(time_skipping, workflow_id("cart-recovery", anonymous))
    assert (outcome.status, outcome.reason) == ("exited", "exited on Order Completed")

    # A new trigger of the known customer joins the anonymous run rather than starting another.
    again = await router.route(call("track", event="Cart Abandoned", userId=user))
    assert again.started == [workflow_id("cart-recovery", user)]
    await end(time_skipping, *again.started)


async def test_alias_merges_profiles_and_later_events_of_the_old_id(
    store: Store, router: EventPipeline
) -> None:
    old, new = customer_id(), customer_id()
    await router.route(call("identify", userId=old, traits={"email": "old@example.com", "a": 1}))
    await router.route(call("identify", userId=new, traits={"email": "new@example.com"}))
    await router.route(call("alias", previousId=old, userId=new))

    async with store.sessions() as session:
        identity = await customers.resolve(session, old)
        profile = await customers.profile(session, old)
    assert identity.customer_id == new
    assert profile is not None and profile.traits == {"email": "new@example.com", "a": 1}
    assert profile.email == "new@example.com"


async def test_a_redelivered_trigger_after_the_run_ended_enters_no_one_twice(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    trigger = track("Cart Abandoned", customer)
    await router.route(trigger)
    await router.route(track("Order Completed", customer))
    first = await journey_outcome(time_skipping, workflow_id("cart-recovery", customer))
    assert first.status == "exited"

    # The same messageId again, past JetStream's dedup window: the run ended, so a new one
    # starts, sees the trigger already entered the customer, and ends without a step.
    await router.route(trigger)
    second = await journey_outcome(time_skipping, workflow_id("cart-recovery", customer))
    assert second.status == "duplicate"
    assert len(await runs_of(store.sessions, customer)) == 1
    assert await deliveries_of(store.sessions, customer) == []


async def end(env: WorkflowEnvironment, *workflow_ids: str) -> None:
    """Leave no run behind: a timer of a run whose worker is gone stalls the skipping clock."""
    for wid in workflow_ids:
        await env.client.get_workflow_handle(wid).terminate("test finished")


async def _status(env: WorkflowEnvironment, wid: str) -> WorkflowExecutionStatus | None:
    try:
        return (await env.client.get_workflow_handle(wid).describe()).status
    except RPCError:
        return None


async def test_inactivity_enters_after_the_period_without_the_event(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    journey = workflow_id("test-win-back", customer)
    await router.route(track("Login", customer))
    await time_skipping.sleep(timedelta(days=5))
    # Each Login restarts the countdown.
    await router.route(track("Login", customer))
    await time_skipping.sleep(timedelta(days=5))
    assert await _status(time_skipping, journey) is None
    assert await _status(time_skipping, watcher_id("test-win-back", customer)) == (
        WorkflowExecutionStatus.RUNNING
    )

    await time_skipping.sleep(timedelta(days=2, hours=1))
    assert await _status(time_skipping, journey) == WorkflowExecutionStatus.RUNNING
    (run,) = await runs_of(store.sessions, customer)
    assert run.trigger_event == "No Login for 7 d"
    (message,) = await deliveries_of(store.sessions, customer)
    assert message.body == "We miss you, Ada"

    # Coming back ends the journey at once, and starts a new countdown.
    result = await router.route(track("Login", customer))
    assert result.signalled == [journey]
    assert result.started == [watcher_id("test-win-back", customer)]
    outcome: JourneyOutcome = await journey_outcome(time_skipping, journey)
    assert (outcome.status, outcome.reason) == ("exited", "exited on Login")
    await end(time_skipping, *result.started)


async def test_an_opt_out_or_unsubscribe_routed_in_ends_running_marketing_journeys(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    opted_out, unsubscribed = customer_id(), customer_id()
    for customer in (opted_out, unsubscribed):
        await router.route(track("Cart Abandoned", customer))

    async def entered() -> None:
        for customer in (opted_out, unsubscribed):
            assert len(await runs_of(store.sessions, customer)) == 1

    await eventually(entered)
    identify = call("identify", userId=opted_out, traits={"consent": {"sms": False}})
    result = await router.route(identify)
    assert result.signalled == [workflow_id("cart-recovery", opted_out)]
    result = await router.route(track("Unsubscribed", unsubscribed, channel="email"))
    assert result.signalled == [workflow_id("cart-recovery", unsubscribed)]

    for customer in (opted_out, unsubscribed):
        outcome = await journey_outcome(time_skipping, workflow_id("cart-recovery", customer))
        assert (outcome.status, outcome.reason) == ("exited", "exited on Suppressed")
        assert await deliveries_of(store.sessions, customer) == []
