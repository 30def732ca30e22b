"""GET /v1/journeys lists what the workers registered, as the router will route it: one entry
per journey, with its status and latest version."""

from __future__ import annotations

import httpx

from journeys.examples import CartRecovery, WelcomeSeries
from journeys.registry import register_code_journeys
from tests.conftest import Store


async def test_lists_registered_code_journeys(client: httpx.AsyncClient, store: Store) -> None:
    await register_code_journeys(store.sessions, [CartRecovery, WelcomeSeries])

    response = await client.get("/v1/journeys")

    assert response.status_code == 200
    cart, welcome = response.json()
    assert cart.pop("published_at") is not None  # when a worker first registered it
    assert cart == {
        "key": "cart-recovery",
        "version": CartRecovery.spec.version,
        "kind": "code",
        "workflow_type": CartRecovery.spec.workflow_type,
        "trigger_event": "Cart Abandoned",
        "exit_events": ["Order Completed"],
        "listens_to": [],
        "status": "active",
        "description": CartRecovery.spec.description,
        "has_draft": False,
    }
    assert (welcome["key"], welcome["trigger_event"]) == ("welcome-series", "Signed Up")
    assert welcome["exit_events"] == ["Account Deleted"]
    assert welcome["listens_to"] == ["Activated"]
