"""Code journeys that use every step of the DSL, the counterparts of the definitions in
tests/journeys/workflows/test_definition_steps.py; imported by the workflow sandbox. Kept apart
from sample.py, which every worker test imports into the sandbox for each run."""

from datetime import datetime, timedelta

from journeys import Journey, JourneyEvent, journey
from journeys.workflows.dsl import EventRule, Variant, Window

CART_MATCH = "event.properties.cart_id == trigger.properties.cart_id"


@journey(
    key="test-code-tour",
    trigger="Cart Abandoned",
    trigger_where="event.properties.total > 10",
    exit_on=[EventRule(event="Order Completed", where=CART_MATCH)],
    listens_to=["Cart Viewed"],
)
class CodeTour(Journey):
    """The definition tour (tests/support/journeys/tour.py) written as code."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.sleep(timedelta(minutes=15))
        if await self.branch("vip", "customer.plan == 'gold'"):
            await self.update_traits({"tier": "vip"})
        else:
            await self.split("coin", {"a": 50, "b": 50})
        await self.send("sms", "cart_recovery_sms", step="sms")
        for _ in range(3):  # a bounded loop is the code form of a jump step
            viewed = await self.wait_for(
                EventRule(event="Cart Viewed", where=CART_MATCH), timedelta(hours=1)
            )
            if viewed is not None:
                await self.emit("Cart Revisited", {"cart_id": trigger.properties["cart_id"]})
                break
        self.exit("tour finished")


@journey(key="test-code-until", trigger="Appointment Booked")
class CodeUntil(Journey):
    """A reminder the day before a date from the trigger, then an email in office hours."""

    async def run(self, trigger: JourneyEvent) -> None:
        starts = datetime.fromisoformat(str(trigger.properties["starts_at"]))
        await self.sleep_until(starts - timedelta(days=1))
        await self.send("sms", "cart_recovery_sms", step="remind")
        await self.sleep_until_window(
            Window(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="10:00")
        )
        await self.send("email", "welcome_email", step="mail")


@journey(key="test-code-since", trigger="Signed Up", listens_to=["Activated"])
class CodeSinceEntry(Journey):
    """Counts an Activated that came before the wait began."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.sleep(timedelta(hours=1))
        if await self.wait_for("Activated", timedelta(days=1), since_entry=True):
            await self.send("email", "welcome_email", step="thanks")
        else:
            await self.send("email", "welcome_tips_email", step="nudge")


@journey(key="test-code-webhook", trigger="Order Completed")
class CodeWebhook(Journey):
    """Tells a CRM about the order."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.call_webhook(
            str(trigger.properties["hook"]), {"order": trigger.properties["order_id"]}
        )


@journey(key="test-code-ab", trigger="Signed Up")
class CodeAB(Journey):
    """An A/B test of two welcome emails."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send(
            "email",
            "hello",
            variants=[
                Variant(name="plain", template="welcome_email", percent=50),
                Variant(name="tips", template="welcome_tips_email", percent=50),
            ],
        )
