"""An audience upload entering a real declarative journey: the API, the ``AudienceImport``
workflow and its activities on a real worker, the Temporal dev server, NATS and both stores.

The journey caps its entries at 200, so an upload of 250 shows each count: 200 entered, 50
skipped by the entry rules. Uploading the same list again enters nobody: the 200 are already in
and the cap still refuses the rest. A batch run twice (as a retry would) counts the same.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from journeys.activities.audience import AudienceActivities
from journeys.audiences import AudienceBatch, AudienceProgress, entry_message_id
from journeys.ingest.audience_lists import save_list
from journeys.settings import Settings
from journeys.store.audiences import create_import
from journeys.store.models import AuditEvent, JourneyRun, OperatorAction
from journeys.worker_assembly import build_worker
from tests.conftest import Store, stack_settings
from tests.support.api import serve
from tests.support.helpers import eventually

CAPPED: dict[str, Any] = {
    "key": "spring-sale",
    "name": "Spring sale",
    "trigger": {"event": "Spring Sale"},
    "entry": {"cap": 200},
    "steps": [
        {"id": "rest", "type": "delay", "duration": "1d"},
        {"id": "offer", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
    ],
}


@pytest.fixture
def settings(store: Store, nats_url: str, temporal_address: str) -> Settings:
    return stack_settings(store, nats_url, temporal_address)


@pytest.fixture
async def api(
    settings: Settings, store: Store, temporal_dev: Client
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the journey published, and a worker serving its runs and the imports."""
    async with serve(settings) as client, build_worker(temporal_dev, settings, store.sessions, []):
        assert (await client.put("/v1/journeys/spring-sale/draft", json=CAPPED)).status_code == 201
        assert (await client.post("/v1/journeys/spring-sale/publish")).status_code == 201
        yield client


async def upload(client: httpx.AsyncClient, customers: list[str]) -> dict[str, Any]:
    response = await client.post(
        "/v1/audiences",
        json={"journey": "spring-sale", "customer_ids": customers, "properties": {"wave": 1}},
    )
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


async def finished(client: httpx.AsyncClient, import_id: str) -> dict[str, Any]:
    async def completed() -> dict[str, Any]:
        body: dict[str, Any] = (await client.get(f"/v1/audiences/{import_id}")).json()
        assert body["status"] == "completed", body
        return body

    return await eventually(completed, timeout=240, interval=0.5)


async def entered_runs(store: Store) -> list[JourneyRun]:
    async with store.sessions() as session:
        rows = await session.scalars(
            select(JourneyRun).where(
                JourneyRun.journey_key == "spring-sale", JourneyRun.status == "active"
            )
        )
        return list(rows)


@pytest.mark.timeout(600)
async def test_an_upload_enters_each_customer_once_with_its_counts(
    api: httpx.AsyncClient, store: Store
) -> None:
    prefix = f"aud-{uuid.uuid4().hex[:8]}"
    customers = [f"{prefix}-{n:03d}" for n in range(250)]

    started = await upload(api, [*customers, customers[0], customers[1]])
    assert (started["total"], started["duplicates"], started["status"]) == (250, 2, "running")
    done = await finished(api, started["id"])

    assert (done["total"], done["processed"]) == (250, 250)
    assert (done["entered"], done["skipped"], done["failed"]) == (200, 50, 0)
    assert done["errors"] == [] and done["finished_at"] is not None
    runs = await entered_runs(store)
    assert len(runs) == 200 and len({r.customer_id for r in runs}) == 200
    assert {r.trigger_event for r in runs} == {"Spring Sale"}
    assert all(r.trigger_message_id == entry_message_id(started["id"], r.customer_id) for r in runs)
    async with store.sessions() as session:
        refused = await session.scalars(
            select(JourneyRun.reason).where(
                JourneyRun.journey_key == "spring-sale", JourneyRun.status == "not_entered"
            )
        )
        assert set(refused) == {"entry cap of 200 reached"}
        entries = await session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.journey_key == "spring-sale", AuditEvent.kind == "entered"
            )
        )
        assert entries == 200
        logged = await session.scalar(
            select(OperatorAction).where(OperatorAction.target == f"audience:{started['id']}")
        )
    assert logged is not None and logged.action == "audience.upload"
    assert logged.detail["total"] == 250 and logged.detail["duplicates"] == 2
    listed = (await api.get("/v1/audiences", params={"journey": "spring-sale"})).json()
    assert [i["id"] for i in listed] == [started["id"]]

    again = await upload(api, customers)
    repeated = await finished(api, again["id"])

    assert (repeated["entered"], repeated["skipped"], repeated["failed"]) == (0, 250, 0)
    assert len(await entered_runs(store)) == 200, "nobody entered twice"


async def test_a_batch_run_twice_counts_and_enters_the_same(
    api: httpx.AsyncClient, store: Store, settings: Settings, temporal_dev: Client
) -> None:
    """What a retry of a batch whose first attempt got through does: the same runs, the same
    absolute counts, written again."""
    import_id = f"retry-{uuid.uuid4().hex[:8]}"
    customers = [f"{import_id}-{n}" for n in range(30)]
    app = api._transport.app  # type: ignore[attr-defined]
    await save_list(app.state.jetstream, import_id, customers)
    async with store.sessions.begin() as session:
        await create_import(session, import_id, "spring-sale", 30, created_by="test")
    batch = AudienceBatch(
        import_id=import_id,
        journey_key="spring-sale",
        offset=0,
        size=30,
        properties={},
        before=AudienceProgress(),
    )
    activities = AudienceActivities(store.sessions, settings)
    environment = ActivityEnvironment(client=temporal_dev)
    try:
        first = await environment.run(activities.enter_batch, batch)
        second = await environment.run(activities.enter_batch, batch)
    finally:
        await activities.aclose()

    assert first.progress == second.progress == AudienceProgress(entered=30)
    mine = [r for r in await entered_runs(store) if r.customer_id.startswith(import_id)]
    assert len(mine) == 30
    progress = (await api.get(f"/v1/audiences/{import_id}")).json()
    assert (progress["status"], progress["entered"], progress["processed"]) == ("running", 30, 30)
