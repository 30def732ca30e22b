"""Health reports each dependency, and a Temporal outage degrades health but not ingestion."""

from __future__ import annotations

import httpx

from journeys.settings import Settings
from tests.support.api import serve
from tests.support.helpers import customer_id, free_port


async def test_health_ok_when_every_dependency_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "nats": "ok", "temporal": "ok"},
    }


async def test_temporal_down_is_a_503_on_health_but_events_are_still_accepted(
    api_settings: Settings,
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    settings = api_settings.model_copy(update={"temporal_address": nowhere})

    async with serve(settings) as client:
        health = await client.get("/health")
        tracked = await client.post(
            "/v1/track", json={"event": "Cart Abandoned", "userId": customer_id()}
        )

    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == body["checks"]["nats"] == "ok"
    assert nowhere in body["checks"]["temporal"]
    assert tracked.status_code == 200
