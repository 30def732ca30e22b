"""How fast the router works through a backlog: read from its consumers' state on the server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from workers.bench.progress import Steps
from workers.bench.stack import BenchStack


@dataclass
class Drain:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def router_drain(
    stack: BenchStack, count: int, steps: Steps, *, timeout: float, interval: float = 0.05
) -> Drain:
    """Wait until the router's consumers hold nothing pending or unacknowledged.

    The clock starts at the last poll that saw the backlog untouched (so the figure errs on the
    slow side by up to ``interval``) and stops at the first poll that sees it all acknowledged.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    began: float | None = None
    last_untouched = time.perf_counter()
    done_before = 0
    while True:
        stack.check_children()
        now = time.perf_counter()
        states = await stack.consumer_state()
        ready = all(state["pending"] >= 0 for state in states)
        remaining = (
            sum(state["pending"] + state["ack_pending"] for state in states) if ready else count
        )
        done = max(0, count - remaining)
        if done == 0 and not any(state["ack_pending"] for state in states):
            last_untouched = now
        elif began is None:
            began = last_untouched
        steps.advance(done - done_before)
        done_before = done
        if ready and remaining == 0:
            return Drain(count, now - (began if began is not None else last_untouched))
        if loop.time() > deadline:
            raise TimeoutError(f"router drained {done}/{count} events in {timeout:.0f} s")
        await asyncio.sleep(interval)
