"""Run the app in-process through its real lifespan, as ``uvicorn api.main:app`` would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from api.main import create_app
from journeys.settings import Settings
from journeys.store.api_keys import Role, create_key
from journeys.store.db import Sessions


async def make_key(app: FastAPI, role: Role, name: str | None = None) -> str:
    """A new key of ``role`` in the app's store, as `journeys keys create` makes one."""
    sessions: Sessions = app.state.sessions
    async with sessions() as session:
        key = await create_key(session, name=name or f"test {role}", role=role, created_by="test")
        await session.commit()
    return key.secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def serve(
    settings: Settings, *, role: Role | None = "admin"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new app; it sends a new key of ``role`` on every request (None: no key).

    ``client.app`` is kept as ``client._transport.app``; :func:`make_key` makes more keys.
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        headers = {} if role is None else bearer(await make_key(app, role))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            yield client
