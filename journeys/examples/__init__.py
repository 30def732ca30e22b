"""Example journeys shipped with Journeys; importing this package registers them."""

from journeys.examples.cart_recovery import CartRecovery
from journeys.examples.welcome_series import WelcomeSeries

__all__ = ["CartRecovery", "WelcomeSeries"]
