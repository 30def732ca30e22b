"""A worker and the event pipeline on Temporal's time-skipping server, for the whole suite.

``router`` runs a worker for :func:`code_journeys` and yields the pipeline that routes events to
them (the router's logic without NATS: ``await router.route(track(...))``). A test module says
what runs by overriding the fixtures it is built from:

- ``code_journeys``: the code journeys the worker runs (Cart Recovery unless overridden);
- ``worker_settings``: the settings of the worker and the pipeline (the store's unless
  overridden, say with a templates folder of the module's own);
- ``temporal_client``: the Temporal client (the shared time-skipping server's unless
  overridden, say with the dev server's, or a ``time_skipping`` of the module's own).

A test that needs other journeys or settings per test, or that routes before a worker runs,
uses :func:`journeys_running` or :func:`routing_to` itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.activities.steps import Publish
from journeys.examples import CartRecovery
from journeys.ingest.pipeline import EventPipeline
from journeys.ingest.routing import load_index
from journeys.registry import register_code_journeys
from journeys.settings import Settings
from journeys.store.db import Sessions
from journeys.worker_assembly import build_worker
from journeys.workflows.dsl import Journey
from tests.conftest import Store


async def routing_to(
    client: Client, settings: Settings, sessions: Sessions, journeys: list[type[Journey]]
) -> EventPipeline:
    """The pipeline for ``journeys``: registered first, so its index holds them."""
    await register_code_journeys(sessions, journeys)
    return EventPipeline(client, settings, await load_index(sessions), sessions)


@asynccontextmanager
async def journeys_running(
    client: Client,
    settings: Settings,
    sessions: Sessions,
    journeys: list[type[Journey]],
    *,
    publish: Publish | None = None,
) -> AsyncIterator[EventPipeline]:
    """A worker running ``journeys``, and the pipeline that routes events to them."""
    pipeline = await routing_to(client, settings, sessions, journeys)
    async with build_worker(client, settings, sessions, journeys, publish=publish):
        yield pipeline


@pytest.fixture
def code_journeys() -> list[type[Journey]]:
    return [CartRecovery]


@pytest.fixture
def worker_settings(store: Store) -> Settings:
    return store.settings


@pytest.fixture
def temporal_client(time_skipping: WorkflowEnvironment) -> Client:
    return time_skipping.client


@pytest.fixture
async def router(
    temporal_client: Client,
    worker_settings: Settings,
    store: Store,
    code_journeys: list[type[Journey]],
) -> AsyncIterator[EventPipeline]:
    async with journeys_running(
        temporal_client, worker_settings, store.sessions, code_journeys
    ) as pipeline:
        yield pipeline
