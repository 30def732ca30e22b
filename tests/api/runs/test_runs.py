"""Run management over HTTP: list and filter runs, cancel one or many (dry run, then the
confirmed count), and hand a waiting run an event; each change in the operator log.

Runs are real: the router's logic enters customers into the shipped journeys on the session's
Temporal dev server, served by a real worker, on both stores. The listing test seeds its rows
directly, since it is about the store's query, with times and statuses it must control.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from journeys.examples import CartRecovery, WelcomeSeries
from journeys.ingest.pipeline import EventPipeline
from journeys.store import customers
from journeys.store.models import JourneyRun, OperatorAction
from journeys.store.operator_log import actions
from journeys.workflows.dsl import Journey
from tests.conftest import Store
from tests.support.api import bearer, make_key
from tests.support.helpers import audit_of, customer_id, deliveries_of, eventually, runs_of, track

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def app_of(client: httpx.AsyncClient) -> FastAPI:
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    return app


# ``router`` (tests/api/runs/conftest.py) enters customers into these journeys.
@pytest.fixture
def code_journeys() -> list[type[Journey]]:
    return [CartRecovery, WelcomeSeries]


@pytest.fixture
async def editor(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await make_key(app_of(client), "editor", name="Grace"))


async def enter(router: EventPipeline, store: Store, event: str, customer: str) -> JourneyRun:
    """Route ``event`` for ``customer`` and wait until the run it started has entered."""
    result = await router.route(track(event, customer, cart_id="K1"))
    assert len(result.started) == 1

    async def entered() -> JourneyRun:
        runs = await runs_of(store.sessions, customer)
        assert [run.status for run in runs] == ["active"]
        return runs[0]

    return await eventually(entered)


async def audited(store: Store, customer: str, *kinds: str) -> None:
    """Wait until the customer's audit trail reads ``kinds``: the run is where the test wants."""

    async def reached() -> None:
        assert [a.kind for a in await audit_of(store.sessions, customer)] == list(kinds)

    await eventually(reached)


async def log_rows(store: Store, action: str) -> list[OperatorAction]:
    async with store.sessions() as session:
        return list(await actions(session, action=action))


def seeded(
    key: str, version: int, customer: str, status: str, minutes: int, run_id: str | None = None
) -> JourneyRun:
    return JourneyRun(
        id=run_id or str(uuid.uuid4()),
        workflow_id=f"journey/{key}/{customer}",
        journey_key=key,
        journey_version=version,
        customer_id=customer,
        status=status,
        reason="" if status == "active" else "completed all steps",
        trigger_event="Cart Abandoned",
        trigger_message_id=str(uuid.uuid4()),
        started_at=T0 + timedelta(minutes=minutes),
        ended_at=None if status == "active" else T0 + timedelta(minutes=minutes + 5),
    )


async def test_runs_are_filtered_and_paged_newest_first(
    client: httpx.AsyncClient, store: Store
) -> None:
    ada, anon, bob = customer_id(), customer_id(), customer_id()
    rows = [
        seeded("cart-recovery", 1, ada, "completed", 0),
        seeded("cart-recovery", 2, ada, "active", 10),
        seeded("cart-recovery", 2, bob, "active", 20),
        seeded("welcome-series", 1, anon, "active", 30),
        seeded("cart-recovery", 2, anon, "exited", 40),
        # Two runs started at the same instant: the id orders them, and paging keeps both.
        seeded("cart-recovery", 2, bob, "cancelled", 50, run_id="zz-same-time"),
        seeded("cart-recovery", 2, ada, "active", 50, run_id="aa-same-time"),
    ]
    async with store.sessions.begin() as session:
        session.add_all(rows)
        # Ada was anonymous first: the runs under that id are hers.
        await customers.link(session, anon, ada, source="identify")

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/runs", params=params)
        assert response.status_code == 200, response.text
        return [run["run_id"] for run in response.json()["runs"]]

    newest_first = [r.id for r in sorted(rows, key=lambda r: (r.started_at, r.id), reverse=True)]
    window = {
        "started_after": T0.isoformat(),
        "started_before": (T0 + timedelta(hours=1)).isoformat(),
    }
    assert await ids(**window) == newest_first
    assert await ids(journey="welcome-series", **window) == [rows[3].id]
    assert await ids(journey="cart-recovery", version=2, status="active") == [
        "aa-same-time",
        rows[2].id,
        rows[1].id,
    ]
    assert await ids(customer=ada) == [
        "aa-same-time",
        rows[4].id,
        rows[3].id,
        rows[1].id,
        rows[0].id,
    ]
    assert await ids(customer=anon) == await ids(customer=ada), "any of her ids finds them all"
    assert await ids(customer=bob, status="cancelled") == ["zz-same-time"]
    after = (T0 + timedelta(minutes=20)).isoformat()
    before = (T0 + timedelta(minutes=50)).isoformat()
    assert await ids(customer=ada, started_after=after, started_before=before) == [
        rows[4].id,
        rows[3].id,
    ]

    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 2, **window}
    while True:
        body = (await client.get("/v1/runs", params=params)).json()
        pages.append([run["run_id"] for run in body["runs"]])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [run_id for page in pages for run_id in page] == newest_first

    first = (await client.get("/v1/runs", params={"customer": bob})).json()["runs"][0]
    assert first == {
        "run_id": "zz-same-time",
        "workflow_id": f"journey/cart-recovery/{bob}",
        "journey_key": "cart-recovery",
        "journey_version": 2,
        "customer_id": bob,
        "customer_ref": bob,
        "status": "cancelled",
        "reason": "completed all steps",
        "trigger_event": "Cart Abandoned",
        "trigger_message_id": rows[5].trigger_message_id,
        "started_at": "2026-03-01T09:50:00Z",
        "ended_at": "2026-03-01T09:55:00Z",
        "holdout": False,
        "entry_key": None,
    }


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"status": "stuck"}, "status", "Input should be"),
        ({"version": 2}, "version", "needs its journey"),
        ({"started_after": "2026-03-01T09:00:00"}, "started_after", "time zone"),
        (
            {"started_after": "2026-03-02T00:00:00Z", "started_before": "2026-03-01T00:00:00Z"},
            "started_before",
            "later than",
        ),
        ({"cursor": "not-a-cursor"}, "cursor", "not a cursor"),
        ({"limit": 0}, "limit", "greater than"),
    ],
)
async def test_a_bad_filter_is_a_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, Any], field: str, words: str
) -> None:
    response = await client.get("/v1/runs", params=params)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert words in error["msg"]


async def test_cancelling_one_run_ends_it_at_once_and_logs_who_and_why(
    client: httpx.AsyncClient, store: Store, router: EventPipeline, editor: dict[str, str]
) -> None:
    customer = customer_id()
    run = await enter(router, store, "Cart Abandoned", customer)
    await audited(store, customer, "entered", "waiting")
    listed = await client.get("/v1/runs", params={"customer": customer, "status": "active"})
    assert [r["run_id"] for r in listed.json()["runs"]] == [run.id]

    response = await client.post(
        f"/v1/runs/{run.id}/cancel", json={"reason": "customer asked us to stop"}, headers=editor
    )

    assert response.status_code == 200, response.text
    stopped = "cancelled by Grace: customer asked us to stop"
    assert response.json() == {"run_id": run.id, "status": "cancelled", "reason": stopped}
    (row,) = await runs_of(store.sessions, customer)
    assert (row.status, row.reason) == ("cancelled", stopped)
    audit = await audit_of(store.sessions, customer)
    assert [a.kind for a in audit] == ["entered", "waiting", "cancelled"]
    assert await deliveries_of(store.sessions, customer) == []
    (logged,) = [a for a in await log_rows(store, "run.cancel") if a.target == f"run:{run.id}"]
    assert (logged.actor_name, logged.detail["reason"]) == ("Grace", "customer asked us to stop")
    assert (logged.detail["count"], logged.detail["run_ids"]) == (1, [run.id])

    again = await client.post(f"/v1/runs/{run.id}/cancel", json={"reason": "twice"})
    assert again.status_code == 409
    assert "already ended: cancelled" in again.json()["detail"]
    unknown = await client.post("/v1/runs/no-such-run/cancel", json={"reason": "x"})
    assert unknown.status_code == 404
    no_reason = await client.post(f"/v1/runs/{run.id}/cancel", json={"reason": ""})
    assert no_reason.status_code == 422
    assert no_reason.json()["detail"][0]["loc"] == ["body", "reason"]
    support = bearer(await make_key(app_of(client), "support"))
    refused = await client.post(f"/v1/runs/{run.id}/cancel", json={"reason": "x"}, headers=support)
    assert refused.status_code == 403


async def test_bulk_cancel_needs_the_dry_runs_count_and_refuses_a_changed_set(
    client: httpx.AsyncClient, store: Store, router: EventPipeline, editor: dict[str, str]
) -> None:
    carts = [customer_id() for _ in range(3)]
    for customer in carts:
        await enter(router, store, "Cart Abandoned", customer)
    welcomed = customer_id()
    await enter(router, store, "Signed Up", welcomed)
    dry = await client.post(
        "/v1/runs/cancel", json={"journey": "cart-recovery", "dry_run": True}, headers=editor
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["count"] == 3
    assert sorted(r["customer_id"] for r in dry.json()["sample"]) == sorted(carts)
    assert await log_rows(store, "run.cancel") == [], "a dry run changes nothing"

    latecomer = customer_id()
    await enter(router, store, "Cart Abandoned", latecomer)
    stale = {"journey": "cart-recovery", "reason": "v1 misfires", "expected_count": 3}
    conflict = await client.post("/v1/runs/cancel", json=stale, headers=editor)
    assert conflict.status_code == 409
    assert conflict.json()["detail"]["count"] == 4
    assert "now matches 4 active runs, not 3" in conflict.json()["detail"]["message"]
    assert {r.status for r in await runs_of(store.sessions, latecomer)} == {"active"}

    confirmed = await client.post(
        "/v1/runs/cancel", json={**stale, "expected_count": 4}, headers=editor
    )

    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert (body["dry_run"], body["count"], len(body["requested"])) == (False, 4, 4)
    assert (body["already_ended"], body["failed"]) == ({}, {})

    async def all_cancelled() -> None:
        for customer in [*carts, latecomer]:
            (run,) = await runs_of(store.sessions, customer)
            assert (run.status, run.reason) == ("cancelled", "cancelled by Grace: v1 misfires")

    await eventually(all_cancelled)
    (other,) = await runs_of(store.sessions, welcomed)
    assert other.status == "active", "another journey's run goes on"
    (logged,) = await log_rows(store, "run.cancel")
    assert (logged.target, logged.actor_name) == ("journey:cart-recovery", "Grace")
    assert logged.detail["count"] == 4 and sorted(logged.detail["run_ids"]) == sorted(
        body["requested"]
    )
    assert logged.detail["filter"] == {"journey": "cart-recovery"}
    after = await client.post(
        "/v1/runs/cancel", json={"journey": "cart-recovery", "dry_run": True}, headers=editor
    )
    assert after.json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dry_run": True, "started_after": "2026-03-01T09:00:00Z"}, "journey"),
        ({"journey": "cart-recovery", "expected_count": 1}, "reason"),
        ({"journey": "cart-recovery", "reason": "stop"}, "expected_count"),
        ({"journey": "cart-recovery", "dry_run": True, "status": "completed"}, "status"),
        ({"customer": "c-1", "version": 2, "dry_run": True}, "version"),
    ],
)
async def test_a_bulk_cancel_without_its_safeguards_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/runs/cancel", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]


async def test_an_event_sent_by_hand_moves_a_waiting_run_on(
    client: httpx.AsyncClient, store: Store, router: EventPipeline, editor: dict[str, str]
) -> None:
    customer = customer_id()
    run = await enter(router, store, "Signed Up", customer)
    await audited(store, customer, "entered", "sent", "waiting")

    response = await client.post(
        "/v1/runs/events",
        json={"customer_id": customer, "event": "Activated", "properties": {"via": "support"}},
        headers=editor,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    (nudged,) = body["runs"]
    assert (nudged["run_id"], nudged["journey_key"], nudged["listens"]) == (
        run.id,
        "welcome-series",
        True,
    )
    assert nudged["message_id"].startswith("manual/")

    async def completed() -> None:
        (row,) = await runs_of(store.sessions, customer)
        assert (row.status, row.reason) == ("completed", "completed all steps")

    await eventually(completed)
    audit = await audit_of(store.sessions, customer)
    assert [a.kind for a in audit] == ["entered", "sent", "waiting", "received", "completed"]
    assert audit[3].data["message_id"] == nudged["message_id"]
    templates = [d.template for d in await deliveries_of(store.sessions, customer)]
    assert templates == ["welcome_email"], "activated: no tips email"
    (logged,) = [
        a for a in await log_rows(store, "run.event") if a.target == f"customer:{customer}"
    ]
    assert logged.actor_name == "Grace"
    assert logged.detail["event"] == "Activated"
    assert logged.detail["runs"] == {run.id: nudged["message_id"]}

    gone = await client.post("/v1/runs/events", json={"customer_id": customer, "event": "X"})
    assert gone.status_code == 404
    assert "has no active run" in gone.json()["detail"]


async def test_an_event_no_journey_waits_for_is_delivered_and_flagged(
    client: httpx.AsyncClient, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    run = await enter(router, store, "Cart Abandoned", customer)

    misspelt = await client.post(
        "/v1/runs/events",
        json={"customer_id": customer, "event": "Order Complete", "journey": "cart-recovery"},
    )
    other_journey = await client.post(
        "/v1/runs/events",
        json={"customer_id": customer, "event": "Activated", "journey": "welcome-series"},
    )

    assert misspelt.status_code == 200, misspelt.text
    assert [(r["run_id"], r["listens"]) for r in misspelt.json()["runs"]] == [(run.id, False)]
    (row,) = await runs_of(store.sessions, customer)
    assert row.status == "active"
    assert other_journey.status_code == 404
    assert "in journey 'welcome-series'" in other_journey.json()["detail"]
