"""The raw Temporal baseline's worker, a process of its own like ``journeys worker``:
``python -m workers.bench.raw_worker <temporal address> <namespace> <pollers>``, stopped by
SIGTERM. It hosts only the trivial workflow, with the SDK's default options (sandbox included)
except the number of workflow task pollers, the same as our worker's (0: the SDK's default).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from workers.bench.trivial import TASK_QUEUE, BenchTrivial
from workers.shutdown import stop_event


async def serve(address: str, namespace: str, pollers: int) -> None:
    stop = stop_event()
    client = await Client.connect(address, namespace=namespace)
    options: dict[str, Any] = {}
    if pollers:
        options["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(pollers)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[BenchTrivial], **options):
        await stop.wait()


def main() -> None:
    address, namespace, pollers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    asyncio.run(serve(address, namespace, pollers))


if __name__ == "__main__":
    main()
