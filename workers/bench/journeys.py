"""The journeys `journeys bench` measures, loaded by the worker through ``journey_modules``.

Workflow code (see journeys/workflows/dsl.py): deterministic, importing only the DSL and the
standard library. Both are transactional so that no consent rule applies to the bench's customers.
"""

from datetime import datetime, timedelta

from temporalio import workflow

from journeys.contracts import TRANSACTIONAL
from journeys.workflows.dsl import Journey, JourneyEvent, journey

SEND_TRIGGER = "Bench Send"
WAIT_TRIGGER = "Bench Wait"
# Page views no journey wants: the router's non-matching path.
NON_MATCHING_PAGE = "Bench Page"
SEND_TEMPLATE = "bench_hello"
CHANNEL = "console"


@journey(key="bench-send", trigger=SEND_TRIGGER)
class BenchSend(Journey):
    """A zero-delay send: publish -> first delivery is the latency the bench reports."""

    category = TRANSACTIONAL

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send(CHANNEL, SEND_TEMPLATE)


@journey(key="bench-wait", trigger=WAIT_TRIGGER)
class BenchWait(Journey):
    """Wait on a timer until ``properties.wake_at`` (one instant for the whole batch, so every
    run is waiting at once), then complete."""

    category = TRANSACTIONAL

    async def run(self, trigger: JourneyEvent) -> None:
        wake_at = datetime.fromisoformat(str(trigger.properties["wake_at"]))
        remaining = wake_at - workflow.now()
        if remaining > timedelta(0):
            await self.sleep(remaining)
