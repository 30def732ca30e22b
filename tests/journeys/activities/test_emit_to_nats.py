"""An emit step's event reaches JetStream through the worker's publisher, once however often the
activity is retried (its messageId is fixed by run and step, and JetStream drops duplicates)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from nats.js.errors import NotFoundError

from journeys.activities.steps import StepActivities
from journeys.contracts import EmitRequest, RunRef
from journeys.delivery.channels.webhook import WebhookProvider
from journeys.ingest import bus
from tests.conftest import Store, stack_settings
from tests.support.helpers import customer_id


async def test_an_emitted_event_is_published_once(store: Store, fresh_nats_url: str) -> None:
    settings = stack_settings(store, fresh_nats_url, "unused:7233")
    connection = await bus.connect(settings, "test", timeout=10)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)
    publisher = bus.EventPublisher(settings)
    steps = StepActivities(store.sessions, settings, publisher, WebhookProvider(settings))
    who = customer_id()
    run = RunRef("run-1", f"journey/chain/{who}", "chain", 1, who)
    request = EmitRequest(run, "run-1:emit:Cart Revisited", "Cart Revisited", {"cart_id": "K1"})
    try:
        await steps.emit_event(request)
        await steps.emit_event(request)  # a retried activity
        found = []
        seq = 1
        while True:
            try:
                msg = await js.get_msg("EVENTS", seq=seq, subject="events.>", next=True)
            except NotFoundError:
                break
            found.append(json.loads(msg.data or b"{}"))
            seq = (msg.seq or seq) + 1
    finally:
        await publisher.aclose()
        await connection.close()
    (event,) = found
    assert (event["event"], event["userId"], event["properties"]) == (
        "Cart Revisited",
        who,
        {"cart_id": "K1"},
    )
    assert event["messageId"] == "run-1:emit:Cart Revisited"
    assert event["context"]["journey"] == "chain"
    assert datetime.fromisoformat(event["timestamp"]) <= datetime.now(UTC)
