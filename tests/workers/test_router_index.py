"""The router's index of journeys, refreshed from the store every
``JOURNEYS_ROUTER_INDEX_REFRESH_SECONDS`` while it runs (docs/events.md): a journey published
after the router started is routed to without a restart (README step 5), and a refresh that
cannot reach the store keeps the previous index, so the events of known journeys are held
through the outage rather than acknowledged as nobody's. Real NATS, Temporal dev server, router
and worker.
"""

from __future__ import annotations

from typing import Any

import nats
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import Client

from journeys.ingest import bus
from journeys.settings import Settings
from journeys.store.db import create_engine, create_sessions
from journeys.store.definitions import publish, save_draft
from journeys.worker_assembly import build_worker
from journeys.workflow_ids import workflow_id
from tests.conftest import Store, stack_settings
from tests.support.helpers import customer_id, eventually, runs_of, track
from tests.support.relay import relay_to
from tests.support.routers import router_log, running_router, unsettled


def trial(version_note: str) -> dict[str, Any]:
    return {
        "key": "trial-lite",
        "name": f"Trial lite ({version_note})",
        "trigger": {"event": "Trial Started"},
        "steps": [{"id": "rest", "type": "delay", "duration": "1d"}],
    }


@pytest.fixture
def settings(store: Store, fresh_nats_url: str, temporal_address: str) -> Settings:
    return stack_settings(store, fresh_nats_url, temporal_address).model_copy(
        update={
            "event_partitions": 1,
            "router_index_refresh_seconds": 0.3,
            "router_ack_wait_seconds": 3.0,
            "router_fetch_timeout_seconds": 0.5,
        }
    )


async def _published(store: Store, document: dict[str, Any]) -> None:
    await save_draft(store.sessions, document)
    await publish(store.sessions, document["key"])


# The router is under test here, not the store: SQLite only keeps the suite short.
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_a_journey_published_while_the_router_runs_is_routed_to_after_a_refresh(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    early, first, second = customer_id(), customer_id(), customer_id()
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)
    try:
        async with (
            build_worker(temporal_dev, settings, store.sessions, []),
            running_router(settings, temporal_dev, store.sessions) as router,
        ):
            # Before the journey exists, its trigger is nobody's: acknowledged, never routed.
            await bus.publish_event(js, settings, track("Trial Started", early))

            async def settled() -> None:
                assert await unsettled(js, settings, 0) == (0, 0)

            await eventually(settled)
            assert not router.pipeline.index.wants("Trial Started")
            await _published(store, trial("v1"))

            async def refreshed_to(version: int) -> None:
                targets = router.pipeline.index.started_by("Trial Started")
                assert [(t.key, t.version) for t in targets] == [("trial-lite", version)]

            await eventually(lambda: refreshed_to(1))
            await bus.publish_event(js, settings, track("Trial Started", first))

            async def entered(customer: str, version: int) -> None:
                runs = await runs_of(store.sessions, customer)
                assert [(r.journey_key, r.journey_version) for r in runs] == [
                    ("trial-lite", version)
                ]

            await eventually(lambda: entered(first, 1))

            # A new version reaches the next entrant the same way.
            await _published(store, trial("v2"))
            await eventually(lambda: refreshed_to(2))
            await bus.publish_event(js, settings, track("Trial Started", second))
            await eventually(lambda: entered(second, 2))
        # Published before the journey, the early trigger entered nobody, then or since.
        assert await runs_of(store.sessions, early) == []
    finally:
        await connection.close()
    for customer in (first, second):
        await temporal_dev.get_workflow_handle(workflow_id("trial-lite", customer)).terminate(
            "test finished"
        )


# The store is cut off with a relay in front of PostgreSQL: SQLite has no connection to lose.
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_a_refresh_that_cannot_reach_the_store_keeps_the_previous_index(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    await _published(store, trial("v1"))
    customer = customer_id()
    url = make_url(settings.database_url)
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)
    async with relay_to(url.host or "127.0.0.1", url.port or 5432) as relay:
        relayed = url.set(host="127.0.0.1", port=relay.port)
        router_settings = settings.model_copy(
            update={"database_url": relayed.render_as_string(hide_password=False)}
        )
        engine = create_engine(router_settings)
        try:
            async with (
                build_worker(temporal_dev, settings, store.sessions, []),
                running_router(router_settings, temporal_dev, create_sessions(engine)) as router,
            ):

                async def loaded() -> None:
                    assert router.pipeline.index.wants("Trial Started")

                await eventually(loaded)
                with (
                    router_log("index refresh failed; keeping the previous index") as failed,
                    router_log("outage while routing") as waits,
                ):
                    await relay.cut()

                    async def refresh_failed() -> None:
                        assert failed.records

                    await eventually(refresh_failed)
                    await loaded()
                    # The trigger comes in while the store is still unreachable: the kept
                    # index says a journey wants it, so it is held, not acknowledged.
                    await bus.publish_event(js, settings, track("Trial Started", customer))

                    async def held() -> None:
                        assert waits.records
                        assert await unsettled(js, settings, 0) == (0, 1)

                    await eventually(held)
                    await relay.open()

                    async def entered() -> None:
                        runs = await runs_of(store.sessions, customer)
                        assert [r.journey_key for r in runs] == ["trial-lite"]

                    await eventually(entered, timeout=40)
                assert await unsettled(js, settings, 0) == (0, 0)
        finally:
            await engine.dispose()
            await connection.close()
    await temporal_dev.get_workflow_handle(workflow_id("trial-lite", customer)).terminate(
        "test finished"
    )
