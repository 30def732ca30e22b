"""Code journeys whose steps cannot be done, for tests/journeys/workflows/test_failed_steps.py
(in a module of their own: workflow code is imported into Temporal's sandbox with everything its
module imports).
"""

from __future__ import annotations

from datetime import timedelta

from journeys import Journey, JourneyEvent, journey


@journey(key="test-refused-hook", trigger="Hook Requested")
class RefusedHook(Journey):
    """Calls the webhook its trigger names, then says thanks."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.call_webhook(str(trigger.properties["hook"]), {})
        await self.send("email", "welcome_email", step="thanks")


@journey(key="test-fails-at-once", trigger="Signed Up")
class FailsBeforeItsFirstWrite(Journey):
    """Waits for an event it does not listen to: a journey error before any step wrote."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.wait_for("Never Declared", timedelta(days=1))
