"""The progress bar every phase reports to, and pacing calls at a fixed rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Steps(Protocol):
    def step(self, description: str, total: float | None) -> None: ...

    def advance(self, amount: float = 1) -> None: ...

    def done(self) -> None: ...


class RichSteps:
    """One bar per step: ``step`` opens it, ``advance`` moves it, ``done`` fills it."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<48}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.current: TaskID | None = None

    def __enter__(self) -> RichSteps:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()
        self.progress.stop()

    def step(self, description: str, total: float | None) -> None:
        self.done()
        self.current = self.progress.add_task(description, total=total)

    def advance(self, amount: float = 1) -> None:
        if self.current is not None:
            self.progress.advance(self.current, amount)

    def done(self) -> None:
        if self.current is not None:
            task = self.progress.tasks[self.current]
            total = task.total if task.total is not None else task.completed
            self.progress.update(self.current, total=total, completed=total)
            self.current = None


async def paced(
    rate: float, seconds: float, call: Callable[[int], Awaitable[None]], steps: Steps
) -> int:
    """Start ``call(i)`` at ``rate`` per second for ``seconds`` (without waiting for one call to
    start the next, so a slow answer does not slow the offered load); wait for all of them."""
    count = max(1, int(rate * seconds))
    interval = 1 / rate
    begin = time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    async def tracked(i: int) -> None:
        await call(i)
        steps.advance()

    for i in range(count):
        delay = begin + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(tracked(i))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)
    return count


async def pool(count: int, workers: int, call: Callable[[int], Awaitable[None]]) -> None:
    """Run ``call(0..count-1)`` with at most ``workers`` in flight."""
    cursor = iter(range(count))

    async def worker() -> None:
        for i in cursor:
            await call(i)

    await asyncio.gather(*(worker() for _ in range(min(workers, count))))
