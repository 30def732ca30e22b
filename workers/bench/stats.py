"""Percentiles, and latencies read from Temporal's own event history (server timestamps)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

T = TypeVar("T")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """p50, p99 and max in milliseconds, and how many samples."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "p50_ms": ms(percentile(seconds, 50)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds) if seconds else None),
        "samples": len(seconds),
    }


def even_sample(items: Sequence[T], limit: int) -> list[T]:
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


@dataclass
class Milestones:
    """When the server recorded a run's first workflow task and first completed activity."""

    first_task: float | None = None  # epoch seconds
    first_activity_done: float | None = None


async def milestones(client: Client, workflow_id: str) -> Milestones:
    found = Milestones()
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        kind = event.event_type
        if found.first_task is None and kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            found.first_task = event.event_time.ToMicroseconds() / 1e6
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            found.first_activity_done = event.event_time.ToMicroseconds() / 1e6
            break
    return found


async def latencies(
    client: Client, started: dict[str, float], *, concurrency: int = 16
) -> tuple[list[float], list[float]]:
    """For each workflow id -> start instant (epoch seconds): seconds to its first workflow task,
    and to its first completed activity (where it has one)."""
    limit = asyncio.Semaphore(concurrency)
    to_task: list[float] = []
    to_activity: list[float] = []

    async def one(workflow_id: str, at: float) -> None:
        async with limit:
            found = await milestones(client, workflow_id)
        if found.first_task is not None:
            to_task.append(found.first_task - at)
        if found.first_activity_done is not None:
            to_activity.append(found.first_activity_done - at)

    await asyncio.gather(*(one(wid, at) for wid, at in started.items()))
    return to_task, to_activity
