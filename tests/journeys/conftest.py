"""Fixtures shared by the journey tests that run Cart Recovery end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.examples import CartRecovery
from journeys.ingest.routing import load_index
from journeys.registry import register_code_journeys
from tests.conftest import Store
from workers.router import EventRouter
from workers.worker import build_worker


@pytest.fixture
async def cart_recovery_router(
    time_skipping: WorkflowEnvironment, store: Store
) -> AsyncIterator[EventRouter]:
    """A worker running Cart Recovery on the time-skipping server, and the router that starts
    it: registered first, so the router's index holds it."""
    await register_code_journeys(store.sessions, [CartRecovery])
    async with build_worker(time_skipping.client, store.settings, store.sessions, [CartRecovery]):
        yield EventRouter(
            time_skipping.client, store.settings, await load_index(store.sessions), store.sessions
        )
