"""The journey the privacy tests run a customer through; imported by the workflow sandbox."""

from journeys import Journey, JourneyEvent, journey
from journeys.workflows.dsl import Goal


@journey(
    key="test-privacy-welcome",
    trigger="Signed Up",
    goal=Goal(event="Order Completed", within="1d", revenue="event.properties.total"),
)
class PrivacyWelcome(Journey):
    """A welcome email at once, then a day for the first order (the goal, with its revenue)."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send("email", "welcome_email")
