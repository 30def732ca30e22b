"""POST /v1/audiences refuses what it cannot enter, naming why, and accepts JSON or CSV.

The entering itself, through a real worker, is tests/workers/test_audience.py; here no worker
serves the task queue, so an accepted import stays ``running``, as it would until one does.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from journeys.settings import Settings
from journeys.store.models import AudienceImport, OperatorAction
from tests.conftest import Store
from tests.support.api import serve


def journey(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "trigger": {"event": "Spring Sale"},
        "steps": [{"id": "rest", "type": "delay", "duration": "1d"}],
    }


@pytest.fixture
async def journeys(client: httpx.AsyncClient) -> None:
    """``open`` takes entries; ``held`` is paused, ``gone`` archived, ``draft`` unpublished."""
    for key in ("open", "held", "gone", "draft"):
        assert (await client.put(f"/v1/journeys/{key}/draft", json=journey(key))).is_success
    for key in ("open", "held", "gone"):
        assert (await client.post(f"/v1/journeys/{key}/publish")).is_success
    assert (await client.post("/v1/journeys/held/pause")).is_success
    assert (await client.post("/v1/journeys/gone/archive")).is_success


async def post(client: httpx.AsyncClient, key: str, ids: Any, **extra: Any) -> httpx.Response:
    return await client.post("/v1/audiences", json={"journey": key, "customer_ids": ids, **extra})


async def test_a_json_list_is_accepted_deduplicated_logged_and_followed(
    client: httpx.AsyncClient, store: Store, journeys: None
) -> None:
    response = await post(client, "open", ["c-1", "c-2", "c-1"], properties={"wave": 2})

    assert response.status_code == 202, response.text
    started = response.json()
    assert {k: started[k] for k in ("journey", "status", "total", "duplicates")} == {
        "journey": "open",
        "status": "running",
        "total": 2,
        "duplicates": 1,
    }
    progress = (await client.get(f"/v1/audiences/{started['id']}")).json()
    assert {k: progress[k] for k in ("status", "total", "processed", "entered", "errors")} == {
        "status": "running",
        "total": 2,
        "processed": 0,
        "entered": 0,
        "errors": [],
    }
    assert progress["created_by"] == "test admin"
    async with store.sessions() as session:
        (logged,) = await session.scalars(
            select(OperatorAction).where(OperatorAction.target == f"audience:{started['id']}")
        )
    assert (logged.action, logged.actor_name) == ("audience.upload", "test admin")
    assert logged.detail == {
        "journey": "open",
        "total": 2,
        "duplicates": 1,
        "properties": {"wave": 2},
    }


async def test_a_csv_list_names_its_journey_in_the_query(
    client: httpx.AsyncClient, journeys: None
) -> None:
    csv_body = "Name,Customer_ID\nAda,c-10\n\nGrace, c-11 \n"

    response = await client.post(
        "/v1/audiences",
        params={"journey": "open"},
        content=csv_body.encode(),
        headers={"Content-Type": "text/csv"},
    )

    assert response.status_code == 202, response.text
    assert (response.json()["total"], response.json()["journey"]) == (2, "open")
    listed = (await client.get("/v1/audiences", params={"journey": "open"})).json()
    assert [i["id"] for i in listed] == [response.json()["id"]]


@pytest.mark.parametrize(
    ("key", "code", "words"),
    [
        ("nowhere", 404, "no journey has the key 'nowhere'"),
        ("held", 409, "is paused: resume it first"),
        ("gone", 409, "is archived"),
        ("draft", 409, "has no published version"),
    ],
)
async def test_a_journey_that_takes_no_list_is_refused(
    client: httpx.AsyncClient, journeys: None, key: str, code: int, words: str
) -> None:
    response = await post(client, key, ["c-1"])

    assert response.status_code == code
    assert words in response.json()["detail"]
    assert (await client.get("/v1/audiences")).json() == [], "nothing was started"


@pytest.mark.parametrize(
    ("ids", "extra", "loc", "words"),
    [
        ([], {}, ["body", "customer_ids"], "empty"),
        (["c-1", "  ", "x" * 201], {}, ["body", "customer_ids", 1], "empty customer id"),
        ("c-1", {}, ["body", "customer_ids"], "valid list"),
        (["c-1"], {"propertys": {}}, ["body", "propertys"], "Extra inputs"),
        (["c-1"], {"properties": {"note": "a\x00b"}}, ["body", "properties"], "NUL"),
    ],
)
async def test_a_bad_list_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
    journeys: None,
    ids: Any,
    extra: dict[str, Any],
    loc: list[Any],
    words: str,
) -> None:
    response = await post(client, "open", ids, **extra)

    assert response.status_code == 422, response.text
    first = response.json()["detail"][0]
    assert first["loc"] == loc
    assert words in first["msg"]


async def test_the_too_long_id_is_named_too(client: httpx.AsyncClient, journeys: None) -> None:
    response = await post(client, "open", ["c-1", "x" * 201])

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "customer_ids", 1]
    assert "longer than 200" in problem["msg"]


async def test_properties_jsonb_cannot_store_are_refused(
    client: httpx.AsyncClient, journeys: None
) -> None:
    raw = b'{"journey": "open", "customer_ids": ["c-1"], "properties": {"n": [NaN]}}'
    response = await client.post(
        "/v1/audiences", content=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "properties"]
    assert "not finite" in problem["msg"]


async def test_more_than_100000_customers_is_a_413(
    client: httpx.AsyncClient, journeys: None
) -> None:
    response = await post(client, "open", [f"c{n}" for n in range(100_001)])

    assert response.status_code == 413
    assert "100,001 customers; at most 100,000" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "params", "loc", "words"),
    [
        ("customer_id\nc-1\n", {}, ["query", "journey"], "names its journey"),
        ("id,name\nc-1,Ada\n", {"journey": "open"}, ["body", "customer_id"], "customer_id column"),
        ("customer_id,name\nc-1,Ada\n,Grace\n", {"journey": "open"}, None, "no customer_id"),
        ("customer_id\n", {"journey": "open"}, ["body", "customer_ids"], "empty"),
    ],
)
async def test_a_bad_csv_is_a_422_naming_the_column_or_line(
    client: httpx.AsyncClient,
    journeys: None,
    body: str,
    params: dict[str, str],
    loc: list[str] | None,
    words: str,
) -> None:
    response = await client.post(
        "/v1/audiences", params=params, content=body, headers={"Content-Type": "text/csv"}
    )

    assert response.status_code == 422, response.text
    first = response.json()["detail"][0]
    assert first["loc"] == (loc or ["body", "customer_id", "line 3"])
    assert words in first["msg"]


async def test_other_media_and_unknown_imports(client: httpx.AsyncClient) -> None:
    text = await client.post(
        "/v1/audiences", content=b"c-1\nc-2", headers={"Content-Type": "text/plain"}
    )
    unknown = await client.get("/v1/audiences/no-such-import")

    assert text.status_code == 415
    assert unknown.status_code == 404
    assert "no audience import has the id 'no-such-import'" in unknown.json()["detail"]


async def test_support_reads_an_imports_errors_with_contact_ids_masked(
    client: httpx.AsyncClient, store: Store, journeys: None, api_settings: Settings
) -> None:
    """An import's errors name customers by the ids uploaded, which may be addresses."""
    response = await post(client, "open", ["ada@example.com", "+15550001111"])
    import_id = response.json()["id"]
    async with store.sessions() as session:
        row = await session.get(AudienceImport, import_id)
        assert row is not None
        row.errors = ["ada@example.com: not started: boom", "+15550001111: not started: boom"]
        await session.commit()

    async with serve(api_settings, role="support") as support:
        one = (await support.get(f"/v1/audiences/{import_id}")).json()
        listed = (await support.get("/v1/audiences")).json()
    masked = ["a**@example.com: not started: boom", "+1******1111: not started: boom"]
    assert one["errors"] == masked
    assert [i["errors"] for i in listed if i["id"] == import_id] == [one["errors"]]
    admin = (await client.get(f"/v1/audiences/{import_id}")).json()
    assert admin["errors"][0] == "ada@example.com: not started: boom"
