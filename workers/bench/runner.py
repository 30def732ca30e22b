"""One bench run: start the stack, measure each phase in order, write the results."""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from workers.bench import matching, non_matching, raw_nats, raw_temporal, report
from workers.bench.config import BenchSizes
from workers.bench.progress import RichSteps
from workers.bench.publishing import page_view, publish_many, run_tag
from workers.bench.stack import TUNING, BenchStack, make_stack


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "load_average_1m_at_start": round(load[0], 2),
    }


async def _phases(
    stack: BenchStack, sizes: BenchSizes, steps: RichSteps, results: dict[str, Any]
) -> dict[str, Any]:
    """Each phase's figures land in ``results`` as soon as it is done."""
    results["raw_temporal"] = await raw_temporal.measure(stack, sizes, steps)

    tag = run_tag()
    steps.step("page views: publishing the backlog", sizes.page_views)
    await publish_many(stack, [page_view(tag, i) for i in range(sizes.page_views)], steps)
    results["raw_nats"] = await raw_nats.measure(stack, sizes.page_views, steps)
    results["non_matching"] = await non_matching.measure(stack, sizes.page_views, steps)

    async def raw_again() -> None:
        results["raw_temporal_after"] = await raw_temporal.measure(
            stack, sizes, steps, label="raw Temporal, after ours", with_latency=False
        )

    # Raw Temporal again once our runs wait on their timers: the server our phase left behind.
    # Its time is added to the timers' wait, with room to spare (the server is slower by then).
    before = results["raw_temporal"]
    raw_seconds = before["starts"] / before["completed_per_second"]
    results["matching"], results["memory"] = await matching.throughput_and_memory(
        stack, sizes, steps, while_waiting=raw_again, while_waiting_seconds=2 * raw_seconds
    )
    results["send_capacity"] = await matching.send_capacity(stack, sizes, steps)
    results["latency"] = await matching.latency(
        stack, sizes, results["send_capacity"]["journeys_per_second"], steps
    )
    return results


async def run_bench(
    sizes: BenchSizes,
    out_dir: Path,
    *,
    console: Console,
    quick: bool = False,
    keep: bool = False,
    root: Path | None = None,
) -> dict[str, Any]:
    """Run every phase against one stack; write ``bench.json`` and ``bench.png`` to
    ``out_dir``; return the results."""
    began = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    stack = make_stack(root, {}, keep=keep)
    machine = _machine()
    with RichSteps(console) as steps:
        steps.step("starting Temporal, NATS, store and worker", None)
        results: dict[str, Any] = {}
        try:
            await stack.start()
            await _phases(stack, sizes, steps, results)
        except BaseException as err:
            # Keep what was measured: the phases done so far, and what stopped the run.
            partial = {"error": repr(err), "sizes": sizes.as_dict(), **results}
            await asyncio.to_thread(report.write_partial, partial, out_dir)
            raise
        finally:
            steps.step("stopping the stack", None)
            await stack.close()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    machine["load_average_1m_at_end"] = round(load[0], 2)
    results = {
        "started_at": started_at,
        "quick": quick,
        "seconds": round(time.perf_counter() - began, 1),
        "machine": machine,
        "sizes": sizes.as_dict(),
        "settings": {
            name: getattr(stack.settings, name) for name in TUNING if hasattr(stack.settings, name)
        },
        "stack_folder": str(stack.root) if keep else None,
        **results,
    }
    results["ratios"] = report.ratios(results)
    results["targets"] = report.targets(results)
    await asyncio.to_thread(report.write_all, results, out_dir)
    return results
