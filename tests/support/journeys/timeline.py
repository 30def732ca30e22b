"""The journey tests/api/timelines/test_timelines.py runs, kept apart from it: the workflow
sandbox imports this module for each run, and the test module's imports (the API, httpx) are not
sandbox-safe."""

from datetime import timedelta

from journeys import Journey, JourneyEvent, journey
from journeys.workflows.dsl import Goal

KEY = "timeline-tour"


@journey(
    key=KEY,
    trigger="Cart Abandoned",
    exit_on=["Cart Emptied"],
    # The registry routes a code journey's listens_to and exits, not its goal (yet).
    listens_to=["Order Completed"],
    goal=Goal(event="Order Completed", within="7d", revenue="event.properties.total", exit=False),
)
class TimelineTour(Journey):
    """An email at once; an hour later, for a big cart, an SMS; a day later a reminder."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send("email", "cart_recovery_email", step="email-1")
        await self.sleep(timedelta(hours=1))
        if await self.branch("big_cart", "trigger.properties.total > 100"):
            await self.send("sms", "cart_recovery_sms", step="sms-1")
        await self.sleep(timedelta(days=1))
        await self.send("email", "cart_recovery_email", step="email-2")
