"""The events the bench publishes, through the same ``journeys.ingest.bus.publish_event`` as
producers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from journeys.ingest import bus
from journeys.ingest.events import Event
from workers.bench.journeys import NON_MATCHING_PAGE, SEND_TRIGGER, WAIT_TRIGGER
from workers.bench.progress import Steps, pool
from workers.bench.stack import BenchStack

# Page views come from this many visitors (several per visitor, as on a real site).
VISITORS = 5000


def run_tag() -> str:
    return uuid.uuid4().hex[:8]


def page_view(tag: str, i: int) -> Event:
    return Event.model_validate(
        {
            "type": "page",
            "name": NON_MATCHING_PAGE,
            "userId": f"bench-visitor-{tag}-{i % VISITORS}",
            "properties": {"path": f"/products/{i}"},
        }
    )


def wait_trigger(customer_id: str, wake_at: datetime) -> Event:
    return Event.model_validate(
        {
            "type": "track",
            "event": WAIT_TRIGGER,
            "userId": customer_id,
            "properties": {"wake_at": wake_at.isoformat()},
        }
    )


def send_trigger(customer_id: str) -> Event:
    return Event.model_validate({"type": "track", "event": SEND_TRIGGER, "userId": customer_id})


async def publish(stack: BenchStack, event: Event) -> None:
    await bus.publish_event(stack.js, stack.settings, event)


async def publish_many(
    stack: BenchStack, events: Sequence[Event], steps: Steps, *, in_flight: int = 256
) -> None:
    """Publish with ``in_flight`` acks outstanding (each publish still waits for its ack)."""

    async def one(i: int) -> None:
        await publish(stack, events[i])
        steps.advance()

    await pool(len(events), in_flight, one)


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
) -> None:
    """Poll the async ``check()`` until it returns true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f} s")
        await asyncio.sleep(interval)
