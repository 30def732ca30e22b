"""Through real NATS, the real router, a real worker and a real Temporal dev server."""

from __future__ import annotations

from collections import defaultdict

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from journeys.contracts import JourneyOutcome
from journeys.ingest import bus
from journeys.settings import Settings
from journeys.temporal import JOURNEY_KEY, workflow_id
from tests.conftest import Store, stack_settings
from tests.support.helpers import customer_id, eventually, runs_of, track
from tests.support.pipeline import running_pipeline


@pytest.fixture
def settings(store: Store, fresh_nats_url: str, temporal_address: str) -> Settings:
    return stack_settings(store, fresh_nats_url, temporal_address)


async def test_cart_abandoned_starts_a_findable_run_and_purchase_ends_it(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    customer = customer_id()
    wid = workflow_id("cart-recovery", customer)
    async with running_pipeline(settings, temporal_dev, store.sessions) as pipeline:
        await pipeline.publish(track("Cart Abandoned", customer, cart_id="K1"))

        async def found_by_customer_query() -> None:
            runs = [w async for w in temporal_dev.list_workflows(f"CustomerId = '{customer}'")]
            assert [(r.id, r.status) for r in runs] == [(wid, WorkflowExecutionStatus.RUNNING)]
            assert runs[0].typed_search_attributes.get(JOURNEY_KEY) == "cart-recovery"

        await eventually(found_by_customer_query)

        await pipeline.publish(track("Order Completed", customer, order_id="O1"))
        handle = temporal_dev.get_workflow_handle(wid, result_type=JourneyOutcome)
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == ("exited", "exited on Order Completed")
    assert outcome.messages_sent == 0
    (run,) = await runs_of(store.sessions, customer)
    assert (run.status, run.reason) == ("exited", "exited on Order Completed")


async def test_malformed_messages_are_dead_lettered_and_the_stream_moves_on(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    customer = customer_id()
    async with running_pipeline(settings, temporal_dev, store.sessions) as pipeline:
        await pipeline.js.publish("events.0.track.garbage", b"\xff not json {")
        await pipeline.js.publish(
            "events.0.track.cart_abandoned", b'{"type": "track", "event": "Cart Abandoned"}'
        )
        await pipeline.js.publish(
            "events.0.track.cart_abandoned",
            b'{"type": "track", "event": "Cart Abandoned", "userId": "u", "properties": 7}',
        )
        oversized = track("Cart Abandoned", customer_id(), note="x" * 40_000).to_json()
        await pipeline.js.publish("events.0.track.cart_abandoned", oversized)
        await pipeline.publish(track("Cart Abandoned", customer))

        async def started() -> None:
            runs = await runs_of(store.sessions, customer)
            assert [r.journey_key for r in runs] == ["cart-recovery"]

        await eventually(started)
        dead = await pipeline.js.pull_subscribe(
            f"{settings.dlq_subject_prefix}.>", stream=settings.dlq_stream
        )
        letters = await dead.fetch(4, timeout=5)
        reasons: dict[str, list[str]] = defaultdict(list)
        for letter in letters:
            assert letter.headers is not None
            reasons[letter.headers[bus.HEADER_ORIGINAL_SUBJECT]].append(
                letter.headers[bus.HEADER_DLQ_REASON]
            )
        assert letters[0].data == b"\xff not json {"
        assert letters[0].subject == "dlq.events.0.track.garbage"

    garbage, invalid = reasons["events.0.track.garbage"], reasons["events.0.track.cart_abandoned"]
    assert len(garbage) == 1 and garbage[0].startswith("invalid event:")
    assert sorted(invalid) == sorted(
        [
            "invalid event: anonymousId: Value error, userId or anonymousId is required",
            "invalid event: properties: Input should be an object",
            f"event is {len(oversized)} bytes, over the 32768-byte limit",
        ]
    )
    await temporal_dev.get_workflow_handle(workflow_id("cart-recovery", customer)).terminate(
        "test finished"
    )
