"""The API against real servers: the session's nats-server and Temporal dev server, a new store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from journeys.settings import Settings
from tests.conftest import Store, make_settings, stack_settings
from tests.support.api import serve
from tests.support.real_network import serve_http
from tests.support.signers import SendGridSigner

# The one write key ingest_settings configures, as JOURNEYS_WRITE_KEYS would.
WRITE_KEY = "wk-test-0123456789"


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


@pytest.fixture
def ingest_settings(tmp_path: Path, fresh_nats_url: str, temporal_address: str) -> Settings:
    """Ingestion's settings: a nats-server of the test's own, so "nothing was stored" is checked
    on the whole stream, and :data:`WRITE_KEY` configured."""
    return make_settings(
        tmp_path, nats_url=fresh_nats_url, temporal_address=temporal_address, write_keys=[WRITE_KEY]
    )


@pytest.fixture
async def base_url(ingest_settings: Settings) -> AsyncIterator[str]:
    """The API on :func:`ingest_settings` behind a real uvicorn, for real-network producers."""
    async with serve_http(ingest_settings) as url:
        yield url


@pytest.fixture
def signer() -> SendGridSigner:
    """A SendGrid stand-in of the test's own, for settings that trust its public key."""
    return SendGridSigner()
