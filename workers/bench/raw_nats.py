"""Raw NATS: JetStream consume-and-ack with nats-py, the way its documentation shows it.

One durable pull consumer over every event subject, pulls of JOURNEYS_ROUTER_BATCH messages,
each message acknowledged; it reads the page-view backlog the router reads next, from the same
stream on the same server.
"""

from __future__ import annotations

import time
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError

from journeys.ingest import bus
from workers.bench.cpu import CpuMeter
from workers.bench.progress import Steps
from workers.bench.stack import BenchStack

DURABLE = "bench-raw"


async def measure(stack: BenchStack, expected: int, steps: Steps) -> dict[str, Any]:
    settings = stack.settings
    js = stack.js
    batch = settings.router_batch
    subscription = await js.pull_subscribe(
        f"{bus.SUBJECT_PREFIX}.>",
        durable=DURABLE,
        stream=settings.events_stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL),
    )
    steps.step("raw NATS: consume and ack", expected)
    received = 0
    meter = CpuMeter(stack).__enter__()
    began = time.perf_counter()
    try:
        while received < expected:
            try:
                messages = await subscription.fetch(batch, timeout=5)
            except (FetchTimeoutError, TimeoutError) as err:
                raise RuntimeError(f"raw consumer stalled at {received}/{expected}") from err
            for message in messages:
                await message.ack()
            received += len(messages)
            steps.advance(len(messages))
        elapsed = time.perf_counter() - began
        meter.__exit__()
    finally:
        await subscription.unsubscribe()
        await js.delete_consumer(settings.events_stream, DURABLE)
    return {
        "messages": received,
        "batch": batch,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(received / elapsed, 1),
        "cpu": meter.result(received),
    }
