"""The API's ``/metrics``: off unless configured, and ingest requests counted by route and
outcome around the whole request, refusals before any route runs included."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from journeys.settings import Settings
from tests.support.api import serve


def ingest_requests(text: str, route: str, outcome: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "journeys_ingest_requests_total" and sample.labels == {
                "route": route,
                "outcome": outcome,
            }:
                return sample.value
    return 0.0


async def test_metrics_are_not_served_unless_configured(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_refusals_before_the_route_runs_are_counted(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"api_metrics": True})
    async with serve(settings, role=None) as anonymous, serve(settings, role="ingest") as ingest:
        scraped = await anonymous.get("/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        before = scraped.text
        no_key = await anonymous.post("/v1/identify", json={"userId": "c-1"})
        assert no_key.status_code == 401
        too_large = await ingest.post(
            "/v1/identify", json={"userId": "c-1", "traits": {"note": "x" * 40_000}}
        )
        assert too_large.status_code == 413
        after = (await anonymous.get("/metrics")).text
        assert (
            ingest_requests(after, "identify", "refused")
            - ingest_requests(before, "identify", "refused")
            == 2
        )
        # Not an ingest route: not counted under any route.
        assert (await anonymous.get("/v1/nowhere")).status_code == 404
        assert "nowhere" not in (await anonymous.get("/metrics")).text
