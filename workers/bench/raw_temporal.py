"""Raw Temporal: signal-with-start of a trivial workflow straight from the Python SDK.

The same server as ours, the same number of calls in flight as the router
(JOURNEYS_ROUTER_CONCURRENCY), and a worker process of its own that runs the workflows (as
``journeys worker`` runs the journeys), so the server does what it does for a journey's start:
a new execution, its signal, a workflow task. Throughput is calls per second, and runs
completed per second (from the first call to the last run's completion: the rate the worker
sustains, not only the rate the server accepts calls). Latency is measured at half the rate
runs completed, the rate the worker sustains (as ours is measured at half the rate sends are
delivered), from the call to the run's first workflow task (Temporal's own timestamp), once
every sampled run has completed. At half the call rate the worker falls behind and the figure
is queueing, not latency.

The bench measures throughput twice, before and after our matching phase (``label`` tells the
two apart, and only the first measures latency): the server slows as its database fills, so a
baseline taken only on the fresh server would flatter raw (docs/scaling.md, "Raw measured on
both sides").
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from workers.bench import raw_worker
from workers.bench.config import BenchSizes
from workers.bench.cpu import CpuMeter
from workers.bench.progress import Steps, paced, pool
from workers.bench.stack import BenchStack
from workers.bench.stats import even_sample, latencies, summary_ms
from workers.bench.trivial import SIGNAL, TASK_QUEUE, BenchTrivial

RAW_WORKER = "raw-worker"


@dataclass
class _Calls:
    """This measure's signal-with-starts of the trivial workflow, and each call's latency."""

    client: Client
    steps: Steps
    label: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    rpc: list[float] = field(default_factory=list)

    async def start(self, workflow_id: str) -> None:
        began = time.perf_counter()
        await self.client.start_workflow(
            BenchTrivial.run,
            "bench",
            id=workflow_id,
            task_queue=TASK_QUEUE,
            start_signal=SIGNAL,
            start_signal_args=["bench"],
        )
        self.rpc.append(time.perf_counter() - began)

    async def finished(self, workflow_id: str) -> None:
        await self.client.get_workflow_handle(workflow_id).result()
        self.steps.advance()


async def measure(
    stack: BenchStack,
    sizes: BenchSizes,
    steps: Steps,
    *,
    label: str = "raw Temporal",
    with_latency: bool = True,
) -> dict[str, Any]:
    calls = _Calls(stack.temporal, steps, label)
    concurrency = stack.settings.router_concurrency
    settings = stack.settings
    # The same workflow pollers as our worker (JOURNEYS_WORKER_WORKFLOW_TASK_POLLERS), so the
    # two differ by what they run, not by how they poll.
    pollers = settings.worker_workflow_task_pollers or 0
    await stack.start_process(
        RAW_WORKER,
        raw_worker.__name__,
        settings.temporal_address,
        settings.temporal_namespace,
        str(pollers),
    )
    try:
        steps.step(f"{label}: signal-with-start", sizes.raw_starts)

        async def throughput_call(i: int) -> None:
            await calls.start(f"bench-raw/{calls.run}/{i}")
            steps.advance()

        async def finished_backlog(i: int) -> None:
            await calls.finished(f"bench-raw/{calls.run}/{i}")

        # CPU is metered until the last run completed, as ours is until the last run waits: the
        # worker finishes most runs after the last call, and so does the server's share of them.
        with CpuMeter(stack) as meter:
            began = time.perf_counter()
            await pool(sizes.raw_starts, concurrency, throughput_call)
            elapsed = time.perf_counter() - began
            rpc_at_max = summary_ms(calls.rpc)
            # Latency is measured on an idle system: first let the worker finish the backlog.
            steps.step(f"{label}: worker catches up", sizes.raw_starts)
            await pool(sizes.raw_starts, concurrency, finished_backlog)
            completed = sizes.raw_starts / (time.perf_counter() - began)
        rate = sizes.raw_starts / elapsed

        throughput = {
            "starts": sizes.raw_starts,
            "concurrency": concurrency,
            "seconds": round(elapsed, 3),
            "starts_per_second": round(rate, 1),
            "completed_per_second": round(completed, 1),
            "call_latency_at_max": rpc_at_max,
            "cpu": meter.result(sizes.raw_starts),
        }
        if not with_latency:
            return throughput
        return throughput | await _latency(calls, completed / 2, sizes)
    finally:
        await stack.stop_child(RAW_WORKER)


async def _latency(calls: _Calls, half: float, sizes: BenchSizes) -> dict[str, Any]:
    """Calls paced at ``half`` the measured rate: call latency, and call -> first workflow task
    of an even sample once every sampled run has completed."""
    steps = calls.steps
    steps.step(f"{calls.label}: latency at {half:.0f}/s", int(half * sizes.latency_seconds))
    calls.rpc.clear()
    started: dict[str, float] = {}

    async def latency_call(i: int) -> None:
        workflow_id = f"bench-raw-latency/{calls.run}/{i}"
        started[workflow_id] = time.time()
        await calls.start(workflow_id)

    await paced(half, sizes.latency_seconds, latency_call, steps)
    rpc_at_half = summary_ms(calls.rpc)
    sample = dict(even_sample(list(started.items()), sizes.latency_sample))
    steps.step(f"{calls.label}: runs complete", len(sample))
    await asyncio.wait_for(
        asyncio.gather(*(calls.finished(wid) for wid in sample)),
        timeout=sizes.completion_timeout_seconds,
    )
    steps.step(f"{calls.label}: reading histories", None)
    to_task, _ = await latencies(calls.client, sample)
    return {
        "latency_rate_per_second": round(half, 1),
        "call_latency_at_half": rpc_at_half,
        "to_first_workflow_task": summary_ms(to_task),
    }
