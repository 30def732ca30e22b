"""The clients the API process owns: opened when the app starts, closed when it stops.

Nothing connects at import, so ``uvicorn api.main:app``, tests and tooling can import the app
freely. NATS is required (ingestion is the API's first job) and start-up fails with a clear error
when it cannot be reached, as it fails outside dev without the secrets of the tracking links and
the console (journeys/secret_checks.py); Temporal is optional (see :mod:`api.temporal_connection`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import nats.errors
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from api import isolated
from api.temporal_connection import TemporalConnection
from journeys.ingest import bus
from journeys.secret_checks import api_needs, require_secrets
from journeys.settings import Settings
from journeys.store.db import create_engine, create_sessions

log = logging.getLogger(__name__)

# A long-running worker may wait for NATS; the API would rather fail loudly at start-up.
NATS_CONNECT_TIMEOUT = 10.0
NATS_DRAIN_TIMEOUT = 10.0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    require_secrets(settings, "API", api_needs(settings))
    isolated.start_in_background()
    async with AsyncExitStack() as stack:
        engine = create_engine(settings)
        stack.push_async_callback(engine.dispose)
        connection = await _connect_nats(settings)
        stack.push_async_callback(_close_nats, connection)
        jetstream = connection.jetstream()
        await bus.ensure_streams(jetstream, settings)
        temporal = TemporalConnection(settings)
        await temporal.get()

        app.state.engine = engine
        app.state.sessions = create_sessions(engine)
        app.state.nats = connection
        app.state.jetstream = jetstream
        app.state.temporal = temporal
        yield


async def _connect_nats(settings: Settings) -> NATS:
    try:
        return await bus.connect(settings, "api", timeout=NATS_CONNECT_TIMEOUT)
    except bus.NatsUnavailable as err:
        raise RuntimeError(f"{err}; the API cannot accept events without it") from err


async def _close_nats(connection: NATS) -> None:
    """Drain so in-flight publishes get their acks; a connection already down is just closed."""
    if connection.is_connected:
        try:
            await asyncio.wait_for(connection.drain(), NATS_DRAIN_TIMEOUT)
            return
        except (TimeoutError, nats.errors.Error) as err:
            log.warning("NATS drain failed (%s); closing", err or type(err).__name__)
    await connection.close()
