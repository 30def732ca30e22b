"""A running worker + router in the test process, around real Temporal and NATS servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from temporalio.client import Client

from journeys.examples import CartRecovery, WelcomeSeries
from journeys.ingest import bus
from journeys.ingest.events import Event
from journeys.registry import register_code_journeys
from journeys.settings import Settings
from journeys.store.db import Sessions
from journeys.worker_assembly import build_worker
from journeys.workflows.dsl import Journey
from workers.router import Router


@dataclass
class Pipeline:
    nc: NATS
    js: JetStreamContext
    router: Router
    settings: Settings

    async def publish(self, event: Event) -> None:
        ack = await bus.publish_event(self.js, self.settings, event)
        assert ack.seq > 0


@asynccontextmanager
async def running_pipeline(
    settings: Settings,
    client: Client,
    sessions: Sessions,
    *,
    journeys: Sequence[type[Journey]] = (CartRecovery, WelcomeSeries),
    with_worker: bool = True,
) -> AsyncIterator[Pipeline]:
    """The router consuming ``settings``' NATS and, unless ``with_worker`` is False, a worker
    running ``journeys`` (registered first, so the router's index holds them)."""
    journeys = list(journeys)
    await register_code_journeys(sessions, journeys)
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    await bus.ensure_streams(js, settings)
    router = Router(js, client, sessions, settings)
    routing = asyncio.create_task(router.run())
    try:
        if with_worker:
            async with build_worker(client, settings, sessions, journeys):
                yield Pipeline(nc, js, router, settings)
        else:
            yield Pipeline(nc, js, router, settings)
    finally:
        router.stop()
        await asyncio.wait_for(routing, 30)
        await nc.close()
