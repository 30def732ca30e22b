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
