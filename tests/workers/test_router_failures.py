"""What the router does when an event cannot be applied (docs/events.md, "Bounded retries,
then the DLQ"): real NATS, a real Temporal dev server, the real router.

- An event at fault (Temporal refuses its start for good) is retried in place
  ``JOURNEYS_ROUTER_MAX_DELIVER`` attempts in all, then copied to ``EVENTS_DLQ`` with
  "gave up after N attempts: <error>"; the customer's later events still apply.
- An event delivered that many times without ever being settled (the routers that held it died
  before acknowledging) is dead-lettered on sight: "delivered N times without being settled".
- An outage (the Temporal server stopped) is waited out without limit: the event is neither
  dead-lettered nor acknowledged, and it applies once the server is back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from journeys import temporal
from journeys.examples import CartRecovery
from journeys.ingest import bus
from journeys.registry import register_code_journeys
from journeys.settings import Settings
from journeys.store.definitions import publish, save_draft
from journeys.worker_assembly import build_worker
from journeys.workflow_ids import keyed_workflow_id, workflow_id
from tests.conftest import Store, stack_settings, start_temporal
from tests.support.helpers import customer_id, eventually, runs_of, track
from tests.support.routers import (
    dead_lettered,
    dead_letters,
    router_log,
    running_router,
    unsettled,
)
from workers.router import Router
from workers.servers import start_server, temporal_command

# Runs keyed by cart: a cart id is part of the run's workflow id.
CART_RUNS: dict[str, Any] = {
    "key": "cart-runs",
    "trigger": {"event": "Cart Abandoned"},
    "entry": {"key": "event.properties.cart_id"},
    "steps": [{"id": "rest", "type": "delay", "duration": "1d"}],
}
# Longer than the 1,000 characters Temporal allows a workflow id: it refuses the start, every
# time, with INVALID_ARGUMENT — a fault of the event, not an outage.
POISON_CART = "k" * 1200


@pytest.fixture
def settings(store: Store, fresh_nats_url: str, temporal_address: str) -> Settings:
    # One partition, short pulls: the test's events are the router's only work.
    return stack_settings(store, fresh_nats_url, temporal_address).model_copy(
        update={
            "event_partitions": 1,
            "router_max_deliver": 3,
            "router_ack_wait_seconds": 3.0,
            "router_fetch_timeout_seconds": 0.5,
        }
    )


# The router is under test here, not the store: SQLite only keeps the suite short.
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_an_event_whose_start_is_refused_is_retried_then_dead_lettered_and_the_customer_moves_on(  # noqa: E501
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    await save_draft(store.sessions, CART_RUNS)
    await publish(store.sessions, CART_RUNS["key"])
    customer = customer_id()
    poison = track("Cart Abandoned", customer, cart_id=POISON_CART)
    later = track("Cart Abandoned", customer, cart_id="K2")
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)
    try:
        async with (
            build_worker(temporal_dev, settings, store.sessions, []),
            running_router(settings, temporal_dev, store.sessions),
        ):
            with router_log("failed (attempt") as retries:
                poison_ack = await bus.publish_event(js, settings, poison)
                await bus.publish_event(js, settings, later)
                (letter,) = await dead_letters(js, settings, 1)

                async def later_event_entered() -> None:
                    runs = await runs_of(store.sessions, customer)
                    assert [r.workflow_id for r in runs] == [
                        keyed_workflow_id("cart-runs", customer, "K2")
                    ]

                await eventually(later_event_entered)
                assert await unsettled(js, settings, 0) == (0, 0)
            # Attempts 1 and 2 failed and were retried; the third gave up.
            assert len(retries.records) == settings.router_max_deliver - 1
        await temporal_dev.get_workflow_handle(
            keyed_workflow_id("cart-runs", customer, "K2")
        ).terminate("test finished")
    finally:
        await connection.close()

    assert letter.data == poison.to_json()
    assert letter.subject == f"dlq.{bus.event_subject(settings, poison)}"
    assert letter.headers is not None
    reason = letter.headers[bus.HEADER_DLQ_REASON]
    assert reason.startswith(f"gave up after {settings.router_max_deliver} attempts: RPCError(")
    assert "WorkflowId exceeds maximum allowed length" in reason
    assert letter.headers[bus.HEADER_ORIGINAL_SUBJECT] == bus.event_subject(settings, poison)
    assert letter.headers[bus.HEADER_ORIGINAL_SEQUENCE] == str(poison_ack.seq)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_an_event_delivered_too_often_without_being_settled_is_dead_lettered_on_sight(
    settings: Settings, temporal_dev: Client, store: Store
) -> None:
    """Routers that die holding an event leave it unacknowledged; JetStream delivers it again
    after each one's ack wait. Past ``JOURNEYS_ROUTER_MAX_DELIVER`` deliveries the router gives
    up on it before routing it, so an event that kills its routers cannot stall the customer."""
    settings = settings.model_copy(update={"router_max_deliver": 2, "router_ack_wait_seconds": 1.0})
    await register_code_journeys(store.sessions, [CartRecovery])
    customer = customer_id()
    held = track("Cart Abandoned", customer, cart_id="K1")
    later = track("Cart Abandoned", customer, cart_id="K2")

    # Two routers took the event and died before settling it: deliveries 1 and 2.
    dying = await nats.connect(settings.nats_url)
    dying_js = dying.jetstream()
    await bus.ensure_streams(dying_js, settings)
    held_ack = await bus.publish_event(dying_js, settings, held)
    subscription = await Router(dying_js, temporal_dev, store.sessions, settings)._subscribe(0)
    for delivery in (1, 2):
        (taken,) = await subscription.fetch(1, timeout=10)
        assert taken.metadata.num_delivered == delivery
    await dying.close()

    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    try:
        async with running_router(settings, temporal_dev, store.sessions):
            (letter,) = await dead_letters(js, settings, 1)
            await bus.publish_event(js, settings, later)

            async def settled() -> None:
                assert await unsettled(js, settings, 0) == (0, 0)

            await eventually(settled)
    finally:
        await connection.close()

    assert letter.data == held.to_json()
    assert letter.headers is not None
    assert letter.headers[bus.HEADER_DLQ_REASON] == "delivered 3 times without being settled"
    assert letter.headers[bus.HEADER_ORIGINAL_SEQUENCE] == str(held_ack.seq)
    # The customer's run was started by the later event: the dead-lettered one never reached it.
    history = await temporal_dev.get_workflow_handle(
        workflow_id("cart-recovery", customer)
    ).fetch_history()
    signals = [
        payload.data
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
        for payload in event.workflow_execution_signaled_event_attributes.input.payloads
    ]
    assert len(signals) == 1
    assert later.message_id.encode() in signals[0]
    assert held.message_id.encode() not in signals[0]
    await temporal_dev.get_workflow_handle(workflow_id("cart-recovery", customer)).terminate(
        "test finished"
    )


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_a_temporal_outage_is_waited_out_then_the_event_applies(
    store: Store, fresh_nats_url: str, tmp_path: Path
) -> None:
    """The Temporal server stops; the event waits in the router, unacknowledged and not
    dead-lettered, through more attempts than an event at fault is allowed; the server comes
    back (same port, same database) and the run starts."""
    server = start_temporal(tmp_path / "temporal")
    address = f"127.0.0.1:{server.port}"
    settings = stack_settings(store, fresh_nats_url, address).model_copy(
        update={
            "event_partitions": 1,
            "router_max_deliver": 1,
            "router_ack_wait_seconds": 3.0,
            "router_fetch_timeout_seconds": 0.5,
        }
    )
    await register_code_journeys(store.sessions, [CartRecovery])
    client = await temporal.connect(settings)
    await temporal.ensure_search_attributes(client, client.namespace)
    customer = customer_id()
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)
    try:
        async with running_router(settings, client, store.sessions) as router:

            async def holds_the_partition() -> None:
                assert router.leases.owned == {0}

            await eventually(holds_the_partition)
            server.stop()
            with router_log("outage while routing") as waits:
                await bus.publish_event(js, settings, track("Cart Abandoned", customer))

                async def waited_past_the_retry_limit() -> None:
                    assert len(waits.records) > settings.router_max_deliver

                await eventually(waited_past_the_retry_limit, timeout=90, interval=0.2)
            assert await dead_lettered(js, settings) == 0
            assert await unsettled(js, settings, 0) == (0, 1)

            server = start_server(
                "temporal",
                temporal_command(
                    tmp_path / "temporal" / "temporal.db", "127.0.0.1", server.port, None
                ),
                "127.0.0.1",
                server.port,
                tmp_path / "temporal" / "temporal.log",
            )

            async def applied() -> None:
                assert await unsettled(js, settings, 0) == (0, 0)

            await eventually(applied, timeout=90, interval=0.2)
        description = await client.get_workflow_handle(
            workflow_id("cart-recovery", customer)
        ).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert await dead_lettered(js, settings) == 0
    finally:
        await connection.close()
        server.stop()
