"""Journeys that exist only to test the DSL's edges; imported by the workflow sandbox."""

from datetime import timedelta

from journeys import Journey, JourneyEvent, journey


@journey(key="test-undeclared-wait", trigger="Test Started")
class UndeclaredWait(Journey):
    """Waits for an event it never declared: the run must fail, naming it."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.wait_for("Never Declared", timeout=timedelta(hours=1))


@journey(key="test-templates", trigger="Template Test")
class TemplateProbe(Journey):
    """Sends a template named by the trigger, then a second message that must still go out."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send("sms", str(trigger.properties["template"]))
        await self.send("sms", "plain", step="after")


@journey(key="test-tally", trigger="Tally Started", listens_to=["Tally"])
class Tally(Journey):
    """Stays in for a day, taking in Tally events: its received_events query shows each once."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.sleep(timedelta(days=1))


@journey(
    key="test-win-back",
    trigger="Login",
    inactive_for=timedelta(days=7),
    exit_on=["Login"],
)
class WinBack(Journey):
    """Entered after 7 days without a Login; a Login ends it at once."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send("sms", "win_back")
        await self.sleep(timedelta(days=3))
        await self.send("sms", "win_back", step="reminder")


@journey(key="test-delivery", trigger="Delivery Test")
class DeliveryProbe(Journey):
    """Sends on the channel the trigger names (sms by default), then an email that must still
    go out, whatever became of the first message."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send(str(trigger.properties.get("channel", "sms")), "delivery_note")
        await self.send("email", "delivery_note", step="after")
