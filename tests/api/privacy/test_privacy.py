"""Export and erasure of a customer who really went through the stack (API -> NATS -> router ->
Temporal -> worker -> store): erasure terminates what still runs in Temporal and leaves no trace
of them in any table, while the journeys' counts still add up and suppressions stay."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.engine import Connection
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from journeys.contracts import EVENT_SIGNAL, JourneyStart
from journeys.examples import CartRecovery
from journeys.ingest.tracking import click_url, open_pixel_url
from journeys.settings import Settings
from journeys.store import consent
from journeys.store.customers import merge_traits
from journeys.store.erasure import ERASED, customer_hash
from journeys.store.models import (
    AuditEvent,
    Consent,
    Conversion,
    Customer,
    CustomerAlias,
    Delivery,
    DeliveryEvent,
    JourneyRun,
    OperatorAction,
    Suppression,
)
from journeys.temporal import run_search_attributes, workflow_id
from journeys.worker_assembly import build_worker
from tests.conftest import Store, stack_settings
from tests.support.api import serve
from tests.support.helpers import customer_id, eventually, free_port, track
from tests.support.journeys.privacy import PrivacyWelcome
from tests.support.pipeline import running_pipeline
from workers.servers import start_server, temporal_command

JOURNEYS = [PrivacyWelcome, CartRecovery]
TERMINATED = WorkflowExecutionStatus.TERMINATED


@dataclass(frozen=True)
class Person:
    id: str
    anonymous_id: str
    email: str
    phone: str
    first_name: str

    @classmethod
    def new(cls) -> Person:
        tag = uuid.uuid4().hex
        return cls(
            id=customer_id(),
            anonymous_id=f"anon-{tag[:10]}",
            email=f"ada.{tag[:8]}@example.com",
            phone="+1555" + str(int(tag[8:16], 16))[:7].rjust(7, "0"),
            first_name=f"Zelda{tag[16:22]}",
        )


@pytest.fixture
def settings(store: Store, fresh_nats_url: str, temporal_address: str) -> Settings:
    return stack_settings(store, fresh_nats_url, temporal_address)


@asynccontextmanager
async def running_stack(
    settings: Settings, temporal: Client, store: Store
) -> AsyncIterator[httpx.AsyncClient]:
    """Router, worker and API on the test's own NATS; yields an admin client of the API."""
    async with (
        running_pipeline(settings, temporal, store.sessions, journeys=JOURNEYS),
        serve(settings) as client,
    ):
        yield client


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text


async def _one(store: Store, query: Any) -> Any:
    """The one row ``query`` finds; an AssertionError (so ``eventually`` retries) otherwise."""
    async with store.sessions() as session:
        rows = (await session.scalars(query)).all()
    assert len(rows) == 1, rows
    return rows[0]


async def live_customer(
    client: httpx.AsyncClient, store: Store, temporal: Client, who: Person
) -> None:
    """Identified from an anonymous visitor, welcomed by email (opened, a link clicked),
    converted with an order, unsubscribed from SMS, and now waiting in cart recovery."""
    await _post(
        client,
        "/v1/identify",
        {
            "userId": who.id,
            "anonymousId": who.anonymous_id,
            "traits": {
                "first_name": who.first_name,
                "email": who.email,
                "phone": who.phone,
                "consent": {"email": True},
            },
        },
    )
    await _post(client, "/v1/track", {"userId": who.id, "event": "Signed Up"})

    async def welcomed() -> None:
        delivery = await _one(store, select(Delivery).where(Delivery.customer_id == who.id))
        assert (delivery.status, delivery.recipient) == ("sent", who.email)

    await eventually(welcomed, timeout=30)
    delivery = await _one(store, select(Delivery).where(Delivery.customer_id == who.id))
    opened = await client.get(urlsplit(open_pixel_url(store.settings, delivery.id)).path)
    link = click_url(store.settings, delivery.id, f"https://shop.example.com/?who={who.email}")
    clicked = await client.get(urlsplit(link).path)
    assert (opened.status_code, clicked.status_code) == (200, 302)
    await _post(
        client,
        "/v1/track",
        {"userId": who.id, "event": "Order Completed", "properties": {"total": 42.5}},
    )

    async def converted() -> None:
        conversion = await _one(store, select(Conversion).where(Conversion.customer_id == who.id))
        assert conversion.revenue == 42.5
        run = await _one(store, select(JourneyRun).where(JourneyRun.id == conversion.run_id))
        assert run.status != "active"

    await eventually(converted, timeout=30)
    await _post(
        client,
        "/v1/track",
        {"userId": who.id, "event": "Unsubscribed", "properties": {"channel": "sms"}},
    )
    await _post(client, "/v1/track", {"userId": who.id, "event": "Cart Abandoned"})

    async def waiting_in_cart_recovery() -> None:
        async with store.sessions() as session:
            assert await consent.suppressions_of(session, "sms", who.phone)
        run = await _one(
            store, select(JourneyRun).where(JourneyRun.journey_key == CartRecovery.spec.key)
        )
        assert run.status == "active"
        running = [
            w
            async for w in temporal.list_workflows(
                f"CustomerId = '{who.id}' AND ExecutionStatus = 'Running'"
            )
        ]
        assert [w.id for w in running] == [workflow_id(CartRecovery.spec.key, who.id)]

    await eventually(waiting_in_cart_recovery, timeout=30)


async def mentions(store: Store, needles: list[str]) -> tuple[set[str], list[str]]:
    """Every table of the database, read back whole: the tables scanned, and each
    ``table.column: needle`` where a value (text, or JSON as text) holds a needle."""

    def scan(connection: Connection) -> tuple[set[str], list[str]]:
        metadata = MetaData()
        metadata.reflect(connection)
        found = []
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    text = (
                        value
                        if isinstance(value, str)
                        else json.dumps(value, default=str, ensure_ascii=False)
                    )
                    found += [f"{table.name}.{column}: {n}" for n in needles if n in text]
        return set(metadata.tables), found

    async with store.sessions() as session:
        connection = await session.connection()
        return await connection.run_sync(scan)


async def snapshot(store: Store, run_ids: list[str]) -> dict[str, Any]:
    """What analytics reads of the runs: statuses, deliveries, audit kinds, conversions."""
    async with store.sessions() as session:
        runs = (await session.scalars(select(JourneyRun).where(JourneyRun.id.in_(run_ids)))).all()
        deliveries = await session.execute(
            select(Delivery.run_id, Delivery.step, Delivery.channel, Delivery.template)
            .where(Delivery.run_id.in_(run_ids))
            .order_by(Delivery.id)
        )
        audit = await session.execute(
            select(AuditEvent.run_id, AuditEvent.seq, AuditEvent.kind, AuditEvent.step)
            .where(AuditEvent.run_id.in_(run_ids))
            .order_by(AuditEvent.run_id, AuditEvent.seq)
        )
        reported = await session.execute(
            select(DeliveryEvent.delivery_id, DeliveryEvent.kind, DeliveryEvent.source)
            .join(Delivery)
            .where(Delivery.run_id.in_(run_ids))
            .order_by(DeliveryEvent.id)
        )
        conversions = await session.execute(
            select(Conversion.run_id, Conversion.event, Conversion.revenue)
            .where(Conversion.run_id.in_(run_ids))
            .order_by(Conversion.id)
        )
        return {
            "runs": sorted((r.id, r.journey_key, r.journey_version) for r in runs),
            "customers": {r.customer_id for r in runs},
            "statuses": {r.id: (r.status, r.reason) for r in runs},
            "deliveries": [tuple(row) for row in deliveries],
            "delivery_events": [tuple(row) for row in reported],
            "audit": [tuple(row) for row in audit],
            "conversions": [tuple(row) for row in conversions],
        }


async def test_export_then_erase_a_customer_who_went_through_the_stack(
    settings: Settings, store: Store, temporal_dev: Client
) -> None:
    who = Person.new()
    welcome_wid = workflow_id(PrivacyWelcome.spec.key, who.id)
    cart_wid = workflow_id(CartRecovery.spec.key, who.id)
    async with running_stack(settings, temporal_dev, store) as client:
        await live_customer(client, store, temporal_dev, who)

        export = await client.get(f"/v1/customers/{who.anonymous_id}/export")
        download = await client.get(f"/v1/customers/{who.id}/export", params={"download": True})

        assert export.status_code == 200, export.text
        held = export.json()
        assert (held["customer_id"], held["ids"]) == (who.id, [who.id, who.anonymous_id])
        assert held["profile"]["traits"]["email"] == who.email
        assert (held["profile"]["email"], held["profile"]["phone"]) == (who.email, who.phone)
        assert [(a["alias_id"], a["source"]) for a in held["aliases"]] == [
            (who.anonymous_id, "identify")
        ]
        assert sorted((c["name"], c["status"]) for c in held["consents"]) == [
            ("email", "opted_in"),
            ("sms", "opted_out"),
        ]
        assert [(s["channel"], s["address"], s["reason"]) for s in held["suppressions"]] == [
            ("sms", who.phone, "unsubscribe")
        ]
        welcome, cart = held["runs"]
        assert (welcome["workflow_id"], cart["workflow_id"]) == (welcome_wid, cart_wid)
        assert (welcome["status"], cart["status"]) == ("converted", "active")
        (email,) = welcome["deliveries"]
        assert (email["recipient"], email["status"]) == (who.email, "sent")
        assert [(e["kind"], e["url"]) for e in email["events"]] == [
            ("opened", None),
            ("clicked", f"https://shop.example.com/?who={who.email}"),
        ]
        assert email["subject"] == f"Welcome aboard, {who.first_name}"
        assert email["body"].startswith(f"Hi {who.first_name},")
        assert {"entered", "sent", "converted"} <= {a["kind"] for a in welcome["audit"]}
        assert [a["kind"] for a in cart["audit"]][:2] == ["entered", "waiting"]
        assert [(c["event"], c["revenue"]) for c in held["conversions"]] == [
            ("Order Completed", 42.5)
        ]
        assert download.status_code == 200
        assert download.headers["content-disposition"] == (
            f'attachment; filename="customer-{who.id}.json"'
        )
        assert download.json()["runs"] == held["runs"]

        run_ids = [welcome["id"], cart["id"]]
        before = await snapshot(store, run_ids)
        needles = [who.id, who.anonymous_id, who.email, who.phone, who.first_name]
        needles += [email["subject"], email["body"]]
        tables, found = await mentions(store, needles)
        assert {"customers", "customer_aliases", "deliveries", "audit_events"} <= {
            f.split(".")[0] for f in found
        }, "the scan must see the customer before the erasure"

        erased = await client.post(
            f"/v1/customers/{who.id}/erase",
            json={"reason": "erasure request, ticket SUP-1", "confirm": who.id},
        )

        assert erased.status_code == 200, erased.text
        outcome = erased.json()
        assert outcome["customer_hash"] == customer_hash(who.id)
        assert outcome["workflows_terminated"] == 1
        assert outcome["histories_deleted"] == 2
        counts = outcome["counts"]
        assert (counts["customers"], counts["customer_aliases"], counts["consents"]) == (1, 1, 2)
        assert (counts["journey_runs"], counts["runs_terminated"]) == (2, 1)
        assert (counts["deliveries"], counts["delivery_events"], counts["conversions"]) == (1, 2, 1)
        assert counts["audit_events"] == len(before["audit"])
        assert (counts["operator_actions"], counts["suppressions_kept"]) == (2, 1)

        again = await client.post(
            f"/v1/customers/{who.id}/erase", json={"reason": "twice", "confirm": who.id}
        )
        gone = await client.get(f"/v1/customers/{who.id}/export")
        assert (again.status_code, gone.status_code) == (404, 404)

        # Terminated at once; deleted by Temporal a little later (test_erasure_deletes_...).
        assert await _status(temporal_dev, cart_wid) in (TERMINATED, RPCStatusCode.NOT_FOUND)
        query = f"CustomerId IN ('{who.id}', '{who.anonymous_id}') AND ExecutionStatus = 'Running'"
        assert [w.id async for w in temporal_dev.list_workflows(query)] == []

    tables_after, found = await mentions(store, needles)
    assert found == []
    assert tables_after == tables and "operator_actions" in tables

    after = await snapshot(store, run_ids)
    (pseudonym,) = after["customers"]
    assert pseudonym.startswith("erased-") and pseudonym not in (who.id, who.anonymous_id)
    assert after["statuses"] == {
        welcome["id"]: ("converted", "converted on Order Completed"),
        cart["id"]: ("terminated", "terminated: customer erased"),
    }
    for kept in ("runs", "deliveries", "delivery_events", "audit", "conversions"):
        assert after[kept] == before[kept], kept

    async with store.sessions() as session:
        delivery = await session.scalar(select(Delivery).where(Delivery.run_id == welcome["id"]))
        assert delivery is not None
        assert (delivery.recipient, delivery.subject, delivery.body, delivery.html) == (None,) * 4
        assert (delivery.status, delivery.reason) == ("sent", ERASED)
        audit = {
            row.seq: row
            for row in await session.scalars(
                select(AuditEvent).where(AuditEvent.run_id == welcome["id"])
            )
        }
        # Codes stay (channel, template, step id, revenue); ids that lead back to them go.
        (held_sent,) = [a for a in welcome["audit"] if a["kind"] == "sent"]
        (held_goal,) = [a for a in welcome["audit"] if "revenue" in a["data"]]
        sent, goal = audit[held_sent["seq"]], audit[held_goal["seq"]]
        assert {row.reason for row in audit.values()} == {ERASED}
        assert "provider_message_id" in held_sent["data"]
        assert sent.data == {
            k: v for k, v in held_sent["data"].items() if k != "provider_message_id"
        }
        assert sent.data["channel"] == "email"
        assert "message_id" in held_goal["data"]
        assert goal.data == {"revenue": 42.5}
        reports = (
            await session.scalars(
                select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery.id)
            )
        ).all()
        assert [(r.kind, r.url, r.provider_message_id) for r in reports] == [
            ("opened", None, None),
            ("clicked", None, None),
        ]
        for model in (Customer, CustomerAlias, Consent):
            assert await session.scalar(select(func.count()).select_from(model)) == 0
        assert await consent.suppressions_of(session, "sms", who.phone)
        assert await session.scalar(select(func.count()).select_from(Suppression)) == 1
        actions = (await session.scalars(select(OperatorAction).order_by(OperatorAction.id))).all()
    assert [(a.action, a.target) for a in actions] == [
        ("customer.exported", f"customer:{customer_hash(who.id)}"),
        ("customer.exported", f"customer:{customer_hash(who.id)}"),
        ("customer.erased", f"customer:{customer_hash(who.id)}"),
    ]
    assert actions[2].detail["reason"] == "erasure request, ticket SUP-1"
    assert actions[2].detail["workflows_terminated"] == 1


async def _status(temporal: Client, wid: str) -> WorkflowExecutionStatus | RPCStatusCode | None:
    """The workflow's status, or NOT_FOUND once Temporal deleted it."""
    try:
        return (await temporal.get_workflow_handle(wid).describe()).status
    except RPCError as err:
        return err.status


async def _waiting_cart(temporal: Client, settings: Settings, store: Store, customer: str) -> str:
    """A cart recovery run started in Temporal (its worker records the entry in the store)."""
    wid = workflow_id(CartRecovery.spec.key, customer)
    await temporal.start_workflow(
        CartRecovery.spec.workflow_type,
        JourneyStart(journey_key="cart-recovery", journey_version=1, customer_id=customer),
        id=wid,
        task_queue=settings.task_queue,
        start_signal=EVENT_SIGNAL,
        start_signal_args=[track("Cart Abandoned", customer).to_journey_event()],
        search_attributes=run_search_attributes(customer, "cart-recovery", 1),
    )

    async def entered() -> None:
        run = await _one(store, select(JourneyRun).where(JourneyRun.workflow_id == wid))
        assert run.status == "active"

    await eventually(entered)
    return wid


async def test_erasure_keeping_histories_leaves_the_run_terminated_in_temporal(
    settings: Settings, store: Store, temporal_dev: Client
) -> None:
    customer = customer_id()
    async with (
        build_worker(temporal_dev, settings, store.sessions, [CartRecovery]),
        serve(settings) as client,
    ):
        wid = await _waiting_cart(temporal_dev, settings, store, customer)

        response = await client.post(
            f"/v1/customers/{customer}/erase",
            json={"reason": "ticket SUP-2", "confirm": customer, "delete_histories": False},
        )

    assert response.status_code == 200, response.text
    assert (response.json()["workflows_terminated"], response.json()["histories_deleted"]) == (
        1,
        0,
    )
    assert await _status(temporal_dev, wid) == TERMINATED
    _, found = await mentions(store, [customer])
    assert found == []


@pytest.fixture(scope="module")
def prompt_deleting_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Temporal dev server of this module's own that deletes a closed execution at once.

    By default Temporal deletes it only once its visibility record is confirmed closed, which
    the dev server takes 30 to 90 s to do; production deletes the same way, just later.
    """
    folder = tmp_path_factory.mktemp("prompt-delete")
    port = free_port()
    command = [
        *temporal_command(folder / "temporal.db", "127.0.0.1", port, None),
        "--dynamic-config-value",
        "history.transferProcessorEnsureCloseBeforeDelete=false",
    ]
    server = start_server("temporal", command, "127.0.0.1", port, folder / "temporal.log")
    yield f"127.0.0.1:{port}"
    server.stop()


async def test_erasure_deletes_the_workflow_histories(
    store: Store, fresh_nats_url: str, prompt_deleting_temporal: str
) -> None:
    settings = stack_settings(store, fresh_nats_url, prompt_deleting_temporal)
    temporal = await Client.connect(prompt_deleting_temporal)
    customer = customer_id()
    async with (
        build_worker(temporal, settings, store.sessions, [CartRecovery]),
        serve(settings) as client,
    ):
        wid = await _waiting_cart(temporal, settings, store, customer)

        response = await client.post(
            f"/v1/customers/{customer}/erase", json={"reason": "ticket SUP-4", "confirm": customer}
        )

    assert response.status_code == 200, response.text
    assert (response.json()["workflows_terminated"], response.json()["histories_deleted"]) == (
        1,
        1,
    )

    async def deleted() -> None:
        assert await _status(temporal, wid) == RPCStatusCode.NOT_FOUND
        query = f"CustomerId = '{customer}'"
        assert [w.id async for w in temporal.list_workflows(query)] == []

    await eventually(deleted, timeout=30)


async def test_temporal_unreachable_is_a_503_and_erases_nothing(
    settings: Settings, store: Store
) -> None:
    customer = customer_id()
    async with store.sessions.begin() as session:
        await merge_traits(session, customer, {"email": "grace@example.com"})
    nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})

    async with serve(nowhere) as client:
        response = await client.post(
            f"/v1/customers/{customer}/erase", json={"reason": "ticket SUP-3", "confirm": customer}
        )
        exported = await client.get(f"/v1/customers/{customer}/export")

    assert response.status_code == 503
    assert "nothing was erased" in response.json()["detail"]
    assert exported.status_code == 200
    assert exported.json()["profile"]["email"] == "grace@example.com"
    async with store.sessions() as session:
        erasures = await session.scalar(
            select(func.count())
            .select_from(OperatorAction)
            .where(OperatorAction.action == "customer.erased")
        )
    assert erasures == 0


async def test_confirm_must_repeat_the_id_and_unknown_customers_are_404(
    settings: Settings, store: Store
) -> None:
    customer = customer_id()
    async with store.sessions.begin() as session:
        await merge_traits(session, customer, {"email": "grace@example.com"})

    async with serve(settings) as client:
        wrong = await client.post(
            f"/v1/customers/{customer}/erase", json={"reason": "ticket", "confirm": "someone"}
        )
        no_reason = await client.post(f"/v1/customers/{customer}/erase", json={"confirm": customer})
        unknown = customer_id()
        not_held = await client.post(
            f"/v1/customers/{unknown}/erase", json={"reason": "ticket", "confirm": unknown}
        )
        not_exported = await client.get(f"/v1/customers/{unknown}/export")
        nul = await client.get("/v1/customers/c%00d/export")

    assert wrong.status_code == 422
    assert [e["loc"] for e in wrong.json()["detail"]] == [["body", "confirm"]]
    assert no_reason.status_code == 422
    assert [e["loc"] for e in no_reason.json()["detail"]] == [["body", "reason"]]
    assert (not_held.status_code, not_exported.status_code) == (404, 404)
    assert unknown in not_held.json()["detail"]
    assert nul.status_code == 422, "PostgreSQL cannot hold NUL: refused, not a 500"
    assert [e["loc"] for e in nul.json()["detail"]] == [["path", "customer_id"]]
    async with store.sessions() as session:
        assert await session.get(Customer, customer) is not None
