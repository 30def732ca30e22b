"""Prometheus metrics scraped from the API, the router's and the worker's health ports during a
real pipeline run: HTTP ingestion → JetStream → the router → Temporal (dev server) → a worker
sending through the console provider.

The three run in this test's process here, so their ports serve one registry: each scrape is
still a real HTTP scrape of that process's endpoint, and the counters are checked by how far
they moved between a scrape before and one after, by the exact amounts the run implies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from journeys import metrics
from journeys.examples import CartRecovery, WelcomeSeries
from journeys.ingest import bus
from journeys.ingest.bus import partition_of
from journeys.settings import Settings
from journeys.worker_assembly import build_worker
from tests.api.conftest import WRITE_KEY
from tests.conftest import Store, stack_settings
from tests.support.api import serve
from tests.support.helpers import customer_id, deliveries_of, eventually, runs_of, track
from tests.support.pipeline import running_pipeline
from workers.health import HealthServer
from workers.worker import readiness as worker_readiness

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def settings(store: Store, fresh_nats_url: str, temporal_address: str) -> Settings:
    return stack_settings(store, fresh_nats_url, temporal_address).model_copy(
        update={"api_metrics": True, "write_keys": [WRITE_KEY]}
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings, role="ingest") as client:
        yield client


def signed_up(customer: str) -> dict[str, object]:
    return {
        "userId": customer,
        "event": "Signed Up",
        "context": {"traits": {"email": f"{customer}@example.com", "first_name": "Ada"}},
    }


async def test_a_pipeline_run_moves_each_process_counters_by_what_it_did(
    settings: Settings, api: httpx.AsyncClient, temporal_dev: Client, store: Store
) -> None:
    customers = customer, unsubscribed = customer_id(), customer_id()
    journeys = [CartRecovery, WelcomeSeries]
    async with (
        running_pipeline(settings, temporal_dev, store.sessions, with_worker=False) as pipeline,
        build_worker(temporal_dev, settings, store.sessions, journeys) as worker,
        HealthServer(lambda: pipeline.router.readiness(pipeline.nc), "127.0.0.1", 0) as router,
        HealthServer(lambda: worker_readiness(temporal_dev, worker), "127.0.0.1", 0) as serving,
    ):
        ports = {"router": router.port, "worker": serving.port}

        async def scrape_all() -> dict[str, Samples]:
            response = await api.get("/metrics")
            assert response.status_code == 200
            scraped = {"api": parse(response.text)}
            async with httpx.AsyncClient() as http:
                for name, port in ports.items():
                    response = await http.get(f"http://127.0.0.1:{port}/metrics")
                    assert response.status_code == 200
                    scraped[name] = parse(response.text)
            return scraped

        async def both_ready() -> None:
            async with httpx.AsyncClient() as http:
                for port in ports.values():
                    response = await http.get(f"http://127.0.0.1:{port}/readyz")
                    assert response.status_code == 200, response.text

        await eventually(both_ready)
        before = await scrape_all()
        # A call, a batch of two page views no journey wants, a call refused for its input, and
        # a message that is no event, straight on the stream, for the dead letters.
        accepted = await api.post("/v1/track", json=signed_up(customer))
        assert accepted.status_code == 200, accepted.text
        pages = [{"type": "page", "userId": customer, "name": name} for name in ("Pricing", "Docs")]
        batch = await api.post("/v1/batch", json={"batch": pages})
        assert batch.status_code == 200, batch.text
        refused = await api.post("/v1/track", json={"event": "Signed Up"})
        assert refused.status_code == 422
        await pipeline.js.publish("events.0.track.garbage", b"\xff not json {")

        async def welcomed() -> None:
            deliveries = await deliveries_of(store.sessions, customer)
            assert [(d.channel, d.status) for d in deliveries] == [("email", "sent")]

        await eventually(welcomed, timeout=60)
        # The customer activates: the run is signalled and completes with no second email.
        activated = await api.post("/v1/track", json={"userId": customer, "event": "Activated"})
        assert activated.status_code == 200, activated.text

        # Another customer unsubscribes, then signs up: the welcome email is skipped.
        for body in (
            {**signed_up(unsubscribed), "event": "Unsubscribed"},
            signed_up(unsubscribed),
        ):
            response = await api.post("/v1/track", json=body)
            assert response.status_code == 200, response.text

        async def skipped() -> None:
            deliveries = await deliveries_of(store.sessions, unsubscribed)
            assert [(d.channel, d.status) for d in deliveries] == [("email", "skipped")]

        await eventually(skipped, timeout=60)

        async def completed() -> None:
            runs = await runs_of(store.sessions, customer)
            assert [(r.journey_key, r.status) for r in runs] == [("welcome-series", "completed")]

        await eventually(completed, timeout=60)

        async def all_counted() -> dict[str, Samples]:
            after = await scrape_all()
            dead = "journeys_router_dead_letters_total"
            assert moved(before["router"], after["router"], dead, reason="invalid") == 1
            routed = "journeys_router_events_total"
            assert moved(before["router"], after["router"], routed, decision="not_wanted") == 2
            return after

        after = await eventually(all_counted)

    api_before, api_after = before["api"], after["api"]
    requests = "journeys_ingest_requests_total"
    assert moved(api_before, api_after, requests, route="track", outcome="accepted") == 4
    assert moved(api_before, api_after, requests, route="batch", outcome="accepted") == 1
    assert moved(api_before, api_after, requests, route="track", outcome="refused") == 1
    events = "journeys_ingest_events_total"
    assert moved(api_before, api_after, events, outcome="stored") == 6
    assert moved(api_before, api_after, events, outcome="duplicate") == 0

    r_before, r_after = before["router"], after["router"]
    routed = "journeys_router_events_total"
    assert moved(r_before, r_after, routed, decision="started") == 2
    assert moved(r_before, r_after, routed, decision="no_match") == 1
    assert moved(r_before, r_after, routed, decision="signalled") == 1
    assert moved(r_before, r_after, routed, decision="dead_lettered") == 1
    dead = "journeys_router_dead_letters_total"
    assert moved(r_before, r_after, dead, reason="too_large") == 0
    # Everything was delivered: no lag left on the partitions the run used.
    for partition in {0, *(partition_of(c, settings.event_partitions) for c in customers)}:
        key = ("journeys_router_pending_events", frozenset({("partition", str(partition))}))
        assert r_after[key] == 0

    w_before, w_after = before["worker"], after["worker"]
    runs = "journeys_runs_total"
    assert moved(w_before, w_after, runs, journey="welcome-series", status="active") == 2
    assert moved(w_before, w_after, runs, journey="welcome-series", status="completed") == 1
    assert moved(w_before, w_after, runs, journey="welcome-series", status="exited") == 0
    sends = "journeys_sends_total"
    sent = {"channel": "email", "provider": "console"}
    assert moved(w_before, w_after, sends, **sent, status="sent") == 1
    assert moved(w_before, w_after, "journeys_send_duration_seconds_count", **sent) == 1
    assert moved(w_before, w_after, "journeys_send_retries_total", **sent) == 0
    skips = "journeys_compliance_skips_total"
    # The profile had no address yet when the unsubscribe came: an opt-out, no suppression.
    assert moved(w_before, w_after, skips, reason="opted_out") == 1
    assert moved(w_before, w_after, skips, reason="suppressed") == 0


async def test_a_redelivered_event_is_counted_on_its_partition(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    """An event a consumer took and never acknowledged comes back after the ack wait: the
    router that receives it again counts a redelivery on its partition."""
    settings = settings.model_copy(update={"router_ack_wait_seconds": 1.0})
    customer = customer_id()
    partition = partition_of(customer, settings.event_partitions)
    async with running_pipeline(
        settings, temporal_dev, store.sessions, with_worker=False
    ) as pipeline:
        pipeline.router.stop()  # its consumers exist now; this test takes the first delivery
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await bus.publish_event(js, settings, track("Signed Up", customer))
        taker = await js.pull_subscribe(
            bus.partition_subjects(settings, partition),
            durable=f"{settings.router_durable}-{partition}",
            stream=settings.events_stream,
        )
        (taken,) = await taker.fetch(1, timeout=5)
        assert taken.metadata.num_delivered == 1  # and never acknowledged
        await taker.unsubscribe()
    finally:
        await nc.close()
    key = ("journeys_router_redeliveries_total", frozenset({("partition", str(partition))}))
    before = parse(metrics.exposition().decode()).get(key, 0.0)
    async with running_pipeline(settings, temporal_dev, store.sessions) as pipeline:

        async def entered() -> None:
            runs = await runs_of(store.sessions, customer)
            assert [r.journey_key for r in runs] == ["welcome-series"]

        await eventually(entered, timeout=60)
        async with (
            HealthServer(lambda: pipeline.router.readiness(pipeline.nc), "127.0.0.1", 0) as router,
            httpx.AsyncClient() as http,
        ):
            scraped = await http.get(f"http://127.0.0.1:{router.port}/metrics")
    assert parse(scraped.text)[key] - before == 1
