"""Cart recovery: the journey that defines the product.

"Cart Abandoned" -> wait 15 min -> SMS -> wait 2 h -> email; "Order Completed" ends it at once,
even in the middle of a wait.
"""

from datetime import timedelta

from journeys.workflows.dsl import Journey, JourneyEvent, journey


@journey(key="cart-recovery", trigger="Cart Abandoned", exit_on=["Order Completed"])
class CartRecovery(Journey):
    """Remind a customer of the cart they left, first by SMS, then by email."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.sleep(timedelta(minutes=15))
        await self.send("sms", "cart_recovery_sms")
        await self.sleep(timedelta(hours=2))
        await self.send("email", "cart_recovery_email")
