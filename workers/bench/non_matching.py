"""Ours, non-matching: page views no journey wants, through a real ``journeys router``.

Each is parsed and validated, grouped by customer, found to need nothing, and acknowledged with
its pull; the figure is the router's drain rate over the backlog raw NATS read just before.
"""

from __future__ import annotations

from typing import Any

from workers.bench.cpu import CpuMeter
from workers.bench.draining import router_drain
from workers.bench.progress import Steps
from workers.bench.stack import BenchStack


async def measure(stack: BenchStack, backlog: int, steps: Steps) -> dict[str, Any]:
    steps.step("ours, non-matching: router drains page views", backlog)
    with CpuMeter(stack) as meter:  # the router's CPU includes its start-up
        await stack.start_child("router")
        drain = await router_drain(stack, backlog, steps, timeout=max(120.0, backlog / 50))
    return {
        "events": backlog,
        "seconds": round(drain.seconds, 3),
        "events_per_second": round(drain.per_second, 1),
        "cpu": meter.result(backlog),
    }
