"""Console sessions live on the server: logging out ends one for every copy of its cookie, and
no cookie can be made from what the database holds."""

from __future__ import annotations

import hashlib

import httpx
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from api.auth import SESSION_COOKIE
from journeys.settings import Settings
from journeys.store.models import ApiKey, ConsoleSession
from tests.api.console.conftest import new_key
from tests.api.console.test_console_access import form_token, log_in
from tests.conftest import Store


async def goes_to_login(client: httpx.AsyncClient, cookie: str) -> bool:
    client.cookies.set(SESSION_COOKIE, cookie, path="/console")
    response = await client.get("/console/")
    return response.status_code == 303 and response.headers["location"].startswith("/console/login")


async def test_the_old_cookie_is_refused_after_logout(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    """The probe kept a copy of the cookie, logged out, and the copy still opened the console
    for its 12 hours. Now logout ends the session on the server."""
    await log_in(app_client, await new_key(store, "admin"))
    cookie = app_client.cookies[SESSION_COOKIE]
    assert (await app_client.get("/console/")).status_code == 200
    token = form_token((await app_client.get("/console/")).text)

    assert (await app_client.post("/console/logout", data={"csrf": token})).status_code == 303

    assert await goes_to_login(app_client, cookie)
    async with store.sessions() as session:
        (row,) = (await session.scalars(select(ConsoleSession))).all()
    assert row.ended_at is not None


async def test_a_new_login_is_a_new_session_and_logout_ends_only_its_own(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    key = await new_key(store, "support")
    await log_in(app_client, key)
    first = app_client.cookies[SESSION_COOKIE]
    app_client.cookies.clear()
    await log_in(app_client, key)
    second = app_client.cookies[SESSION_COOKIE]
    assert first != second
    token = form_token((await app_client.get("/console/")).text)
    await app_client.post("/console/logout", data={"csrf": token})

    assert await goes_to_login(app_client, second)
    assert not await goes_to_login(app_client, first)


async def test_no_cookie_can_be_made_from_the_database(
    app_client: httpx.AsyncClient, store: Store, api_settings: Settings
) -> None:
    """The probe signed [key id, hash prefix] read from the database with the placeholder
    secret and got an admin console. The placeholder is no key any more (the API refuses to
    start with it), and even the real secret signs nothing the database holds: the store keeps
    only a session token's SHA-256, never the token."""
    await log_in(app_client, await new_key(store, "admin"))
    app_client.cookies.clear()
    async with store.sessions() as session:
        key = (await session.scalars(select(ApiKey))).one()
        stored = (await session.scalars(select(ConsoleSession))).one()
    real = api_settings.console_secret.get_secret_value()
    for secret in ("dev-only-console-secret", real):
        signer = URLSafeTimedSerializer(secret, salt="console")
        assert await goes_to_login(app_client, signer.dumps([key.id, key.secret_hash[:32]]))
        assert await goes_to_login(app_client, signer.dumps(stored.id))
        assert await goes_to_login(app_client, signer.dumps(hashlib.sha256(b"x").hexdigest()))
