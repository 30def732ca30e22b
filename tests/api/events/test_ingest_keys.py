"""Segment-compatible HTTP ingestion over real HTTP (uvicorn) into a real JetStream: who may
send events. A configured write key (Basic auth, any password) or an API key of the ``ingest``
role (Bearer or Basic) is accepted; anything else is 401 or 403 and nothing is stored.

Each test has its own nats-server, so "nothing was stored" is checked on the whole stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from journeys.settings import Settings
from journeys.store.api_keys import Role, split_key
from tests.api.conftest import WRITE_KEY
from tests.conftest import Store, stack_settings
from tests.support.api import bearer, make_key
from tests.support.ingest import stored, track_body
from tests.support.real_network import serve_http


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic " + "d3Jvbmc6", "Basic not-base64!", "Bearer " + WRITE_KEY],
    ids=["missing", "wrong-key", "malformed", "not-basic"],
)
async def test_without_a_valid_write_key_is_401_and_nothing_is_stored(
    base_url: str, ingest_settings: Settings, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
        single = await client.post("/v1/track", json=track_body())
        batch = await client.post("/v1/batch", json={"batch": [{"type": "track", **track_body()}]})

    for response in (single, batch):
        assert response.status_code == 401
        assert 'Basic realm="journeys"' in response.headers["WWW-Authenticate"]
        assert "write key" in response.json()["detail"]
    assert await stored(ingest_settings) == []


async def test_right_key_with_any_password_is_accepted(
    base_url: str, ingest_settings: Settings
) -> None:
    async with httpx.AsyncClient(base_url=base_url, auth=(WRITE_KEY, "ignored")) as client:
        response = await client.post("/v1/track", json=track_body())

    assert response.status_code == 200


async def test_without_configured_write_keys_nothing_is_stored_without_a_key(
    ingest_settings: Settings,
) -> None:
    """No write keys configured (the default) is not an open door: ingestion still wants a key."""
    no_write_keys = ingest_settings.model_copy(update={"write_keys": []})
    async with serve_http(no_write_keys) as url, httpx.AsyncClient(base_url=url) as client:
        single = await client.post("/v1/track", json=track_body())
        batch = await client.post("/v1/batch", json={"batch": [{"type": "track", **track_body()}]})

    assert (single.status_code, batch.status_code) == (401, 401)
    assert await stored(ingest_settings) == []


@pytest.fixture
async def keyed_api(
    store: Store, fresh_nats_url: str, temporal_address: str
) -> AsyncIterator[tuple[FastAPI, str, Settings]]:
    """The API on a migrated store with no write keys configured: (app, base URL, settings),
    for API keys made in that store."""
    settings = stack_settings(store, fresh_nats_url, temporal_address)
    app = create_app(settings)
    async with serve_http(settings, app) as url:
        yield app, url, settings


async def test_an_ingest_api_key_is_accepted_as_bearer_and_as_basic_username(
    keyed_api: tuple[FastAPI, str, Settings],
) -> None:
    app, url, settings = keyed_api
    key = await make_key(app, "ingest", "backend")
    first, second = track_body(), track_body()

    async with httpx.AsyncClient(base_url=url) as client:
        as_bearer = await client.post("/v1/track", json=first, headers=bearer(key))
        as_basic = await client.post("/v1/track", json=second, auth=(key, ""))
        elsewhere = await client.get("/v1/journeys", headers=bearer(key))

    assert (as_bearer.status_code, as_basic.status_code) == (200, 200), as_basic.text
    assert sorted(e["_msg_id"] for e in await stored(settings)) == sorted(
        [first["messageId"], second["messageId"]]
    )
    assert elsewhere.status_code == 403, "an ingest key sends events and does nothing else"


@pytest.mark.parametrize("role", ["editor", "support"])
async def test_a_key_of_another_role_is_403_and_nothing_is_stored(
    keyed_api: tuple[FastAPI, str, Settings], role: Role
) -> None:
    app, url, settings = keyed_api
    key = await make_key(app, role)

    async with httpx.AsyncClient(base_url=url) as client:
        as_bearer = await client.post("/v1/track", json=track_body(), headers=bearer(key))
        as_basic = await client.post("/v1/batch", json={"batch": []}, auth=(key, ""))

    for response in (as_bearer, as_basic):
        assert response.status_code == 403, response.text
        assert f"has role {role!r}" in response.json()["detail"]
    assert await stored(settings) == []


async def test_a_revoked_ingest_key_is_401(keyed_api: tuple[FastAPI, str, Settings]) -> None:
    app, url, settings = keyed_api
    key = await make_key(app, "ingest")
    admin = await make_key(app, "admin")

    async with httpx.AsyncClient(base_url=url) as client:
        before = await client.post("/v1/track", json=track_body(), auth=(key, ""))
        key_id, _secret = split_key(key) or ("", "")
        revoked = await client.delete(f"/v1/keys/{key_id}", headers=bearer(admin))
        after = await client.post("/v1/track", json=track_body(), auth=(key, ""))

    assert (before.status_code, revoked.status_code, after.status_code) == (200, 200, 401)
    assert len(await stored(settings)) == 1
