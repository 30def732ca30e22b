"""Timelines through the whole stack: a real journey run by the worker and the router on
Temporal's time-skipping server, its email's delivery reported by a signed SendGrid webhook, its
open and clicks by our tracking links, then read back over the API by an admin and by support."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from journeys.ingest import tracking
from journeys.ingest.events import Event
from journeys.ingest.pipeline import EventPipeline
from journeys.settings import Settings
from journeys.store.models import Conversion, Delivery
from journeys.temporal import workflow_id
from journeys.workflows.dsl import Journey
from tests.conftest import Store
from tests.support.api import serve
from tests.support.delivery_reports import (
    path_of,
    post_sendgrid,
    sg_event,
)
from tests.support.helpers import (
    ADA_TRAITS,
    audit_of,
    customer_id,
    deliveries_of,
    eventually,
    journey_outcome,
)
from tests.support.journeys.timeline import KEY, TimelineTour
from tests.support.signers import SendGridSigner

SHOP = "https://shop.example.com/cart/K7"
HELP = "https://shop.example.com/help"
EMAIL, PHONE = ADA_TRAITS["email"], ADA_TRAITS["phone"]


@pytest.fixture
def settings(api_settings: Settings, signer: SendGridSigner) -> Settings:
    return api_settings.model_copy(update={"sendgrid_webhook_public_key": signer.public_key})


# ``router``: the worker and the router's logic on the store; SMS marketing needs an opt-in.
@pytest.fixture
def code_journeys() -> list[type[Journey]]:
    return [TimelineTour]


@pytest.fixture
def worker_settings(store: Store) -> Settings:
    return store.settings.model_copy(update={"consent_opt_in_channels": ["sms"]})


def event(name: str, customer: str, at: datetime, **properties: Any) -> Event:
    """Stamped with the test server's clock, which runs ahead of ours once time is skipped."""
    return Event.model_validate(
        {
            "event": name,
            "userId": customer,
            "timestamp": at,
            "properties": properties,
            "context": {"traits": ADA_TRAITS},
        }
    )


async def play(
    env: WorkflowEnvironment, store: Store, router: EventPipeline, api: httpx.AsyncClient, **kw: Any
) -> str:
    """The tour for a new customer, to its exit; the customer id."""
    signer: SendGridSigner = kw["signer"]
    settings: Settings = kw["settings"]
    customer = customer_id()
    await router.route(
        event("Cart Abandoned", customer, await env.get_current_time(), cart_id="K7", total=120.5)
    )

    async def email_sent_and_waiting() -> Delivery:
        deliveries = await deliveries_of(store.sessions, customer)
        assert [d.status for d in deliveries] == ["sent"]
        email = deliveries[0]
        assert [a.kind for a in await audit_of(store.sessions, customer)][-1] == "waiting"
        return email

    email = await eventually(email_sent_and_waiting)
    # Providers and tracking report on the wall clock, not the test server's.
    delivered = sg_event("delivered", email, timestamp=int(time.time()) - 1)
    assert (await post_sendgrid(api, signer, [delivered])).status_code == 200
    assert (await post_sendgrid(api, signer, [delivered])).status_code == 200, "a retry"
    assert (await api.get(path_of(tracking.open_pixel_url(settings, email.id)))).status_code == 200
    for url in (SHOP, HELP):
        click = await api.get(path_of(tracking.click_url(settings, email.id, url)))
        assert (click.status_code, click.headers["location"]) == (302, url)

    await env.sleep(timedelta(hours=1, minutes=1))

    async def waiting_a_day() -> None:
        kinds = [a.kind for a in await audit_of(store.sessions, customer)]
        assert kinds[-3:] == ["branched", "skipped", "waiting"], kinds

    await eventually(waiting_a_day)
    await router.route(
        event("Order Completed", customer, await env.get_current_time(), total=120.5)
    )

    async def converted() -> None:
        async with store.sessions() as session:
            found = await session.scalar(
                select(Conversion).where(Conversion.customer_id == customer)
            )
        assert found is not None

    await eventually(converted)
    await router.route(event("Cart Emptied", customer, await env.get_current_time()))
    outcome = await journey_outcome(env, workflow_id(KEY, customer))
    assert (outcome.status, outcome.reason) == ("exited", "exited on Cart Emptied")
    return customer


async def test_the_story_of_a_run_for_admin_and_support(
    time_skipping: WorkflowEnvironment,
    store: Store,
    router: EventPipeline,
    settings: Settings,
    signer: SendGridSigner,
) -> None:
    async with serve(settings) as admin, serve(settings, role="support") as support:
        customer = await play(time_skipping, store, router, admin, signer=signer, settings=settings)
        full = await admin.get(f"/v1/customers/{customer}/timeline")
        masked = await support.get(f"/v1/customers/{customer}/timeline")
        (run,) = full.json()["runs"]
        by_run = await support.get(f"/v1/runs/{run['run_id']}/timeline")
        journeys_view = await support.get(f"/v1/customers/{customer}/journeys")
        missing = await support.get("/v1/runs/no-such-run/timeline")
        nobody = await support.get(f"/v1/customers/{customer_id()}/timeline")
    email, _sms = await deliveries_of(store.sessions, customer)

    assert full.status_code == masked.status_code == by_run.status_code == 200
    body = full.json()
    assert (body["customer_id"], body["aliases"], body["has_profile"]) == (customer, [], True)
    assert body["traits"] == ADA_TRAITS
    assert (run["journey_key"], run["journey_version"], run["status"]) == (KEY, 1, "exited")
    assert run["temporal_ui"] == (
        f"{settings.temporal_ui_url}/namespaces/default/workflows/"
        f"journey%2F{KEY}%2F{customer}/{run['run_id']}/history"
    )
    entries = run["entries"]
    assert [e["kind"] for e in entries] == [
        "entered",
        "sent",
        "waiting",
        "branched",
        "skipped",
        "waiting",
        "converted",
        "ended",
    ]
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert times == sorted(times)
    entered, sent, wait, branched, skipped, wait_day, conversion, ended = entries
    assert entered["summary"] == (
        f"Entered {KEY} v1 on Cart Abandoned (message {run['trigger_message_id']})"
    )
    assert sent["summary"] == (
        f"Sent email cart_recovery_email v{email.template_version} to {EMAIL} "
        f"(provider id {email.provider_message_id}): delivered, opened, clicked 2x"
    )
    assert sent["detail"]["body"] == email.body and "Hi Ada" in email.body
    assert sent["detail"]["subject"] == email.subject
    assert [(e["kind"], e["source"]) for e in sent["detail"]["events"]] == [
        ("delivered", "sendgrid"),
        ("opened", "tracking"),
        ("clicked", "tracking"),
        ("clicked", "tracking"),
    ]
    assert [e["url"] for e in sent["detail"]["events"][2:]] == [SHOP, HELP]
    until = datetime.fromisoformat(wait["detail"]["until"])
    assert until - datetime.fromisoformat(wait["at"]) == timedelta(hours=1)
    assert wait["summary"] == f"Waited until {until:%Y-%m-%d %H:%M} UTC (waiting 1 h)"
    assert branched["summary"] == (
        "Took branch 'big_cart' because trigger.properties.total > 100 was true"
    )
    assert skipped["summary"] == (
        "Skipped SMS cart_recovery_sms: no sms marketing opt-in (sms marketing needs one) "
        "(code no_opt_in)"
    )
    assert wait_day["summary"].endswith("(waiting 1 d)")
    assert conversion["summary"] == (
        f"Converted on Order Completed (message {conversion['detail']['message_id']}), "
        "revenue 120.50"
    )
    assert ended["summary"] == "Exited: exited on Cart Emptied (1 message sent)"

    # Support: the same story, every address masked, the message's content kept.
    shown = masked.json()
    assert shown["traits"] == {**ADA_TRAITS, "email": "a**@example.com", "phone": "+1******0001"}
    (support_run,) = shown["runs"]
    assert [e["kind"] for e in support_run["entries"]] == [e["kind"] for e in entries]
    support_sent = support_run["entries"][1]
    assert support_sent["summary"] == sent["summary"].replace(EMAIL, "a**@example.com")
    assert support_sent["detail"]["recipient"] == "a**@example.com"
    assert support_sent["detail"]["body"] == email.body
    assert by_run.json() == support_run
    for response in (masked, by_run, journeys_view):
        assert EMAIL not in response.text and PHONE not in response.text
    (journeys_run,) = journeys_view.json()["runs"]
    assert journeys_run["deliveries"][0]["recipient"] == "a**@example.com"
    assert "sent to a**@example.com" in journeys_run["timeline"][1]["reason"]

    assert missing.status_code == 404 and "no-such-run" in missing.json()["detail"]
    assert nobody.status_code == 404


async def test_ids_postgresql_cannot_hold_are_a_422_naming_them(
    client: httpx.AsyncClient,
) -> None:
    customer = await client.get("/v1/customers/c%001/timeline")
    run = await client.get("/v1/runs/r%001/timeline")

    assert (customer.status_code, run.status_code) == (422, 422)
    assert customer.json()["detail"][0]["loc"] == ["path", "customer_id"]
    assert run.json()["detail"][0]["loc"] == ["path", "run_id"]


async def test_roles_outside_staff_may_not_read_timelines(
    store: Store, api_settings: Settings
) -> None:
    async with serve(api_settings, role="ingest") as ingest, serve(api_settings, role=None) as anon:
        forbidden = await ingest.get(f"/v1/customers/{customer_id()}/timeline")
        unauthorized = await anon.get("/v1/runs/r1/timeline")

    assert forbidden.status_code == 403
    assert unauthorized.status_code == 401
