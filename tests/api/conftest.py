"""The API against real servers: the session's nats-server and Temporal dev server, a new store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from journeys.settings import Settings
from tests.api.serving import serve
from tests.conftest import Store, stack_settings


@pytest.fixture
def api_settings(store: Store, nats_url: str, temporal_address: str) -> Settings:
    return stack_settings(store, nats_url, temporal_address)


@pytest.fixture
async def client(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(api_settings) as client:
        yield client


@pytest.fixture
async def jetstream(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """A connection of the test's own, to read back what the API stored."""
    connection = await nats.connect(nats_url)
    try:
        yield connection.jetstream()
    finally:
        await connection.close()
