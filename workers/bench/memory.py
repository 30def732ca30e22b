"""Worker memory: its resident set size, sampled with psutil while journeys wait on timers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import psutil

MIB = 1024 * 1024


@dataclass
class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in the background; keeps the peak."""

    pid: int
    interval: float = 0.25
    samples: list[tuple[float, int]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def now(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        began = time.monotonic()
        while True:
            with contextlib.suppress(psutil.Error):
                self.samples.append((time.monotonic() - began, self.now()))
            await asyncio.sleep(self.interval)


def mib(size: int) -> float:
    return round(size / MIB, 1)
