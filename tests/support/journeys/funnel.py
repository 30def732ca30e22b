"""A code journey for the analytics funnel test
(tests/journeys/insight/test_journey_analytics_funnel.py), in a module of its own because the
workflow sandbox imports it."""

from datetime import timedelta

from journeys import Journey, JourneyEvent, journey


@journey(
    key="test-code-funnel",
    trigger="Cart Abandoned",
    exit_on=["Order Completed"],
    listens_to=["Cart Viewed"],
)
class CodeFunnel(Journey):
    """Named waits and a send, which its funnel shows; an unnamed wait and a trait update,
    which it cannot."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.sleep(timedelta(hours=1), step="pause")
        await self.sleep(timedelta(minutes=5))
        viewed = await self.wait_for("Cart Viewed", timedelta(hours=2), step="look")
        if viewed is not None:
            await self.update_traits({"engaged": True})
            return
        await self.send("sms", "cart_recovery_sms", step="nudge")
