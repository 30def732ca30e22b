"""GET /v1/customers/{id}/journeys: the support view of what happened to a customer, and why."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import Client

from journeys.activities.journey import JourneyActivities
from journeys.contracts import (
    EVENT_SIGNAL,
    AuditRecord,
    EntryRecord,
    ExitRecord,
    JourneyOutcome,
    JourneyStart,
    RunRef,
    SendRequest,
)
from journeys.delivery.channels import build_providers
from journeys.delivery.templates_catalog import TemplateCatalog, seed_templates
from journeys.examples import CartRecovery
from journeys.settings import Settings
from journeys.temporal import run_search_attributes, workflow_id
from journeys.worker_assembly import build_worker
from tests.conftest import Store
from tests.support.helpers import customer_id, eventually, track

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _run(key: str, customer: str) -> RunRef:
    return RunRef(
        run_id=str(uuid.uuid4()),
        workflow_id=workflow_id(key, customer),
        journey_key=key,
        journey_version=1,
        customer_id=customer,
    )


async def _seed(store: Store, customer: str) -> tuple[RunRef, RunRef]:
    """An exited cart recovery that sent one SMS, then a welcome series still running."""
    await seed_templates(store.sessions, store.settings)
    activities = JourneyActivities(
        store.sessions, TemplateCatalog(store.sessions), build_providers(store.settings)
    )
    trigger = track("Cart Abandoned", customer, cart_id="K9", total=19.9).to_journey_event()
    cart = _run("cart-recovery", customer)
    await activities.record_entry(EntryRecord(cart, trigger, entered_at=T0))
    # Written out of order, as retried activities may: the timeline must still follow seq.
    await activities.record_audit(
        AuditRecord(cart, 2, "waiting", "waiting 15 min", T0, step="waiting 15 min")
    )
    await activities.record_audit(AuditRecord(cart, 1, "entered", "entered on Cart Abandoned", T0))
    sent_at = T0 + timedelta(minutes=15)
    await activities.send_message(
        SendRequest(cart, 3, "send-1", "sms", "cart_recovery_sms", trigger, sent_at)
    )
    ended = T0 + timedelta(minutes=20)
    outcome = JourneyOutcome("exited", "exited on Order Completed", ended, messages_sent=1)
    await activities.record_exit(ExitRecord(cart, 4, outcome))

    signed_up = track("Signed Up", customer).to_journey_event()
    welcome = _run("welcome-series", customer)
    next_day = T0 + timedelta(days=1)
    await activities.record_entry(EntryRecord(welcome, signed_up, entered_at=next_day))
    await activities.record_audit(
        AuditRecord(welcome, 1, "entered", "entered on Signed Up", next_day)
    )
    return cart, welcome


async def test_runs_newest_first_with_deliveries_and_ordered_timeline(
    client: httpx.AsyncClient, store: Store, api_settings: Settings
) -> None:
    customer = customer_id()
    cart, welcome = await _seed(store, customer)

    response = await client.get(f"/v1/customers/{customer}/journeys")

    assert response.status_code == 200
    body = response.json()
    assert body["customer_id"] == customer
    assert body["traits"] == {
        "first_name": "Ada",
        "phone": "+15550000001",
        "email": "ada@example.com",
    }
    newest, oldest = body["runs"]
    assert (newest["run_id"], newest["status"], newest["ended_at"]) == (
        welcome.run_id,
        "active",
        None,
    )
    assert newest["current_step"] is None, "no workflow answers for a seeded run"
    assert [a["kind"] for a in newest["timeline"]] == ["entered"]

    assert oldest["run_id"] == cart.run_id
    assert (oldest["journey_key"], oldest["journey_version"]) == ("cart-recovery", 1)
    assert (oldest["status"], oldest["reason"]) == ("exited", "exited on Order Completed")
    assert oldest["started_at"] == "2026-03-01T09:00:00Z"
    assert oldest["ended_at"] == "2026-03-01T09:20:00Z"
    assert oldest["trigger_event"] == "Cart Abandoned"
    assert oldest["temporal_ui"] == (
        f"{api_settings.temporal_ui_url}/namespaces/default/workflows/"
        f"journey%2Fcart-recovery%2F{customer}/{cart.run_id}/history"
    )
    (sms,) = oldest["deliveries"]
    assert (sms["channel"], sms["template"], sms["step"]) == ("sms", "cart_recovery_sms", "send-1")
    assert (sms["status"], sms["recipient"], sms["subject"]) == ("sent", "+15550000001", None)
    assert sms["body"].startswith("Hi Ada, your cart K9 is waiting (19.90 USD)")
    assert sms["provider_message_id"].startswith("console-")
    assert sms["requested_at"] == "2026-03-01T09:15:00Z"
    timeline = oldest["timeline"]
    assert [(a["seq"], a["kind"]) for a in timeline] == [
        (1, "entered"),
        (2, "waiting"),
        (3, "sent"),
        (4, "exited"),
    ]
    assert timeline[1]["step"] == "waiting 15 min"
    assert timeline[2]["reason"] == "sms cart_recovery_sms v1 sent to +15550000001"
    assert timeline[2]["data"]["channel"] == "sms"
    assert timeline[3]["data"] == {"messages_sent": 1}


async def test_active_run_reports_its_current_step_from_the_workflow(
    client: httpx.AsyncClient, store: Store, temporal_dev: Client
) -> None:
    customer = customer_id()
    wid = workflow_id("cart-recovery", customer)
    settings = store.settings
    trigger = track("Cart Abandoned", customer, cart_id="K1").to_journey_event()
    async with build_worker(temporal_dev, settings, store.sessions, [CartRecovery]):
        handle = await temporal_dev.start_workflow(
            CartRecovery.spec.workflow_type,
            JourneyStart(journey_key="cart-recovery", journey_version=1, customer_id=customer),
            id=wid,
            task_queue=settings.task_queue,
            start_signal=EVENT_SIGNAL,
            start_signal_args=[trigger],
            search_attributes=run_search_attributes(customer, "cart-recovery", 1),
        )
        try:

            async def waiting_first_delay() -> dict[str, Any]:
                response = await client.get(f"/v1/customers/{customer}/journeys")
                assert response.status_code == 200
                (run,) = response.json()["runs"]
                assert run["current_step"] is not None
                assert run["current_step"]["kind"] == "wait"
                return dict(run)

            run = await eventually(waiting_first_delay)
            run_id = (await handle.describe()).run_id
        finally:
            await handle.terminate("test over")

    assert (run["workflow_id"], run["run_id"], run["status"]) == (wid, run_id, "active")
    step = run["current_step"]
    assert step["description"] == "waiting 15 min"
    assert step["until"] is not None


async def test_unknown_customer_is_a_404(client: httpx.AsyncClient) -> None:
    customer = customer_id()

    response = await client.get(f"/v1/customers/{customer}/journeys")

    assert response.status_code == 404
    assert customer in response.json()["detail"]
