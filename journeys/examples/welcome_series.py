"""Welcome series: greet a new customer, nudge them once if they have not activated."""

from datetime import timedelta

from journeys.workflows.dsl import Journey, JourneyEvent, journey


@journey(
    key="welcome-series",
    trigger="Signed Up",
    exit_on=["Account Deleted"],
    listens_to=["Activated"],
)
class WelcomeSeries(Journey):
    """Welcome email at once; a tips email after 3 days unless the customer activated by then."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send("email", "welcome_email")
        activated = await self.wait_for("Activated", timeout=timedelta(days=3))
        if activated is None:
            await self.send("email", "welcome_tips_email")
