"""Delivery channels behind one small interface; which provider serves a channel is a setting."""

from __future__ import annotations

from journeys.channels.base import DeliveryReceipt, OutboundMessage, Provider
from journeys.channels.console import ConsoleProvider
from journeys.settings import Settings

PROVIDERS: dict[str, type[ConsoleProvider]] = {"console": ConsoleProvider}

# Where each channel finds the customer's address in the profile traits.
ADDRESS_TRAITS = {"sms": "phone", "email": "email"}


def build_providers(settings: Settings) -> dict[str, Provider]:
    """Channel name -> provider instance, refusing unknown providers at start-up, not at send."""
    providers: dict[str, Provider] = {}
    for channel, name in settings.channel_providers.items():
        if name not in PROVIDERS:
            raise ValueError(
                f"channel {channel!r}: unknown provider {name!r} (known: {sorted(PROVIDERS)})"
            )
        providers[channel] = PROVIDERS[name]()
    return providers


__all__ = ["ADDRESS_TRAITS", "DeliveryReceipt", "OutboundMessage", "Provider", "build_providers"]
