"""Liveness of everything the API depends on, for load balancers and for humans.

Each check reports ``ok`` or its own error text, so a 503 says which dependency is at fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from api.deps import NatsDep, SessionDep, SettingsDep, TemporalConnectionDep
from api.health.schemas import Health

CHECK_TIMEOUT = 3.0

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", responses={503: {"model": Health, "description": "A dependency is failing"}})
async def health(
    response: Response,
    settings: SettingsDep,
    session: SessionDep,
    connection: NatsDep,
    temporal: TemporalConnectionDep,
) -> Health:
    """The database, NATS (the events stream) and Temporal, each checked within a few
    seconds: 200 when all answer, 503 naming the failing ones. Public, for load balancers."""

    async def database() -> None:
        await session.execute(select(1))

    async def nats() -> None:
        if not connection.is_connected:
            raise ConnectionError(f"not connected to {settings.nats_url}")
        await connection.jetstream().stream_info(settings.events_stream)

    async def temporal_server() -> None:
        client = await temporal.get()
        if client is None:
            raise ConnectionError(temporal.error)
        if not await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT)):
            raise ConnectionError(f"Temporal at {settings.temporal_address} reports not serving")

    names = ("database", "nats", "temporal")
    results = await asyncio.gather(*(_check(p) for p in (database, nats, temporal_server)))
    checks = dict(zip(names, results, strict=True))
    if all(result == "ok" for result in results):
        return Health(status="ok", checks=checks)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="unavailable", checks=checks)


async def _check(probe: Callable[[], Awaitable[None]]) -> str:
    """Run one probe; its failure is reported, never raised, so the other checks still answer."""
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:.0f} s"
    except Exception as err:
        return str(err) or type(err).__name__
    return "ok"
