"""The DSL's steps and rules beyond the cart example, with time skipping and the real router."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from journeys.examples import CartRecovery, WelcomeSeries
from journeys.ingest.events import Event
from journeys.ingest.pipeline import EventPipeline
from journeys.temporal import workflow_id
from journeys.worker_assembly import build_worker
from journeys.workflows.dsl import Journey
from tests.conftest import Store
from tests.support.fixtures import routing_to
from tests.support.helpers import audit_of, customer_id, deliveries_of, journey_outcome, track
from tests.support.journeys.sample import TemplateProbe, UndeclaredWait

JOURNEYS: list[type[Journey]] = [CartRecovery, WelcomeSeries, UndeclaredWait, TemplateProbe]


@pytest.fixture
def code_journeys() -> list[type[Journey]]:
    return JOURNEYS


async def test_welcome_series_without_activation_sends_the_tips_after_three_days(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    await router.route(track("Signed Up", customer))
    outcome = await journey_outcome(time_skipping, workflow_id("welcome-series", customer))

    assert (outcome.status, outcome.messages_sent) == ("completed", 2)
    templates = [d.template for d in await deliveries_of(store.sessions, customer)]
    assert templates == ["welcome_email", "welcome_tips_email"]
    kinds = [a.kind for a in await audit_of(store.sessions, customer)]
    assert kinds == ["entered", "sent", "waiting", "timed_out", "sent", "completed"]


async def test_welcome_series_activation_during_the_wait_skips_the_tips(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    await router.route(track("Signed Up", customer))
    await time_skipping.sleep(timedelta(days=1))
    result = await router.route(track("Activated", customer))
    assert result.signalled == [workflow_id("welcome-series", customer)]
    outcome = await journey_outcome(time_skipping, workflow_id("welcome-series", customer))

    assert (outcome.status, outcome.messages_sent) == ("completed", 1)
    audit = await audit_of(store.sessions, customer)
    assert [a.kind for a in audit] == ["entered", "sent", "waiting", "received", "completed"]
    assert audit[3].reason == "received Activated"


async def test_a_customer_without_a_phone_is_skipped_with_the_reason_and_the_journey_goes_on(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    event = Event.model_validate(
        {
            "event": "Cart Abandoned",
            "userId": customer,
            "context": {"traits": {"email": "no-phone@example.com"}},
        }
    )
    await router.route(event)
    outcome = await journey_outcome(time_skipping, workflow_id("cart-recovery", customer))

    assert (outcome.status, outcome.messages_sent) == ("completed", 1)
    sms, email = await deliveries_of(store.sessions, customer)
    assert (sms.status, sms.reason) == ("skipped", "no phone on the customer's profile")
    assert (email.status, email.recipient) == ("sent", "no-phone@example.com")
    skipped = [a for a in await audit_of(store.sessions, customer) if a.kind == "skipped"]
    assert [a.reason for a in skipped] == ["no phone on the customer's profile"]


async def test_a_second_trigger_while_in_the_journey_is_ignored(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    await router.route(track("Cart Abandoned", customer, cart_id="first"))
    await time_skipping.sleep(timedelta(minutes=5))
    again = await router.route(track("Cart Abandoned", customer, cart_id="second"))
    assert again.started == [workflow_id("cart-recovery", customer)]
    await journey_outcome(time_skipping, workflow_id("cart-recovery", customer))

    sms, _email = await deliveries_of(store.sessions, customer)
    assert sms.body is not None and "first" in sms.body
    assert [a.kind for a in await audit_of(store.sessions, customer)].count("entered") == 1


async def test_waiting_for_an_undeclared_event_fails_the_run_naming_it(
    time_skipping: WorkflowEnvironment, router: EventPipeline
) -> None:
    customer = customer_id()
    await router.route(track("Test Started", customer))
    with pytest.raises(WorkflowFailureError) as failure:
        await journey_outcome(time_skipping, workflow_id("test-undeclared-wait", customer))
    message = str(failure.value.cause)
    assert "waits for ['Never Declared']" in message and "listens_to" in message


@pytest.fixture
def templates(tmp_path: Path, store: Store) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "plain.txt.j2").write_text("Hello {{ customer.id }}")
    (folder / "undefined.txt.j2").write_text("Hi {{ customer.nickname }}")
    (folder / "escape.txt.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    store.settings = store.settings.model_copy(update={"templates_dir": folder})
    return folder


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (
            "undefined",
            "template error: template 'undefined' v1 (sms) text line 1: "
            "'customer.nickname' is undefined",
        ),
        (
            "escape",
            "template error: template 'escape' v1 (sms) text line 1: unsafe expression refused",
        ),
        ("missing", "template error: template 'missing' not found"),
    ],
)
async def test_a_template_that_cannot_render_fails_that_step_only(
    time_skipping: WorkflowEnvironment,
    templates: Path,
    router: EventPipeline,
    store: Store,
    template: str,
    reason: str,
) -> None:
    """``templates`` comes before ``router``: the worker renders from the test's folder."""
    customer = customer_id()
    await router.route(track("Template Test", customer, template=template))
    outcome = await journey_outcome(time_skipping, workflow_id("test-templates", customer))

    assert (outcome.status, outcome.messages_sent) == ("completed", 1)
    broken, after = await deliveries_of(store.sessions, customer)
    assert broken.status == "failed" and broken.reason.startswith(reason), broken.reason
    assert (after.status, after.body) == ("sent", f"Hello {customer}")


async def test_a_purchase_that_arrives_with_the_cart_ends_the_run_before_any_step(
    time_skipping: WorkflowEnvironment, store: Store
) -> None:
    """Both events reach the run before a worker has picked it up: the first workflow task sees
    the trigger and the exit together, and the customer leaves on entry."""
    router = await routing_to(time_skipping.client, store.settings, store.sessions, JOURNEYS)
    customer = customer_id()
    await router.route(track("Cart Abandoned", customer))
    assert (await router.route(track("Order Completed", customer))).signalled
    async with build_worker(time_skipping.client, store.settings, store.sessions, JOURNEYS):
        outcome = await journey_outcome(time_skipping, workflow_id("cart-recovery", customer))

    assert (outcome.status, outcome.reason) == ("exited", "exited on Order Completed")
    assert await deliveries_of(store.sessions, customer) == []
    assert [a.kind for a in await audit_of(store.sessions, customer)] == ["entered", "exited"]
