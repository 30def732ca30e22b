"""Delivery channels behind one small interface; which provider serves a channel is a setting.

``build_providers`` runs once at worker start-up and refuses a configuration that could not send
(an unknown provider, a missing host or secret), naming the settings to fix, so the mistake shows
at deploy time rather than as failed deliveries hours later.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from journeys.delivery.channels.base import DeliveryReceipt, OutboundMessage, Provider
from journeys.delivery.channels.console import ConsoleProvider
from journeys.delivery.channels.errors import (
    DeliveryError,
    PermanentDeliveryError,
    PermanentKind,
    RetryableDeliveryError,
)
from journeys.delivery.channels.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    STANDARD_SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    standard_secret,
    verify_signature,
)
from journeys.delivery.channels.smtp import SmtpProvider
from journeys.delivery.channels.twilio import TwilioProvider
from journeys.delivery.channels.webhook import WebhookProvider
from journeys.settings import Settings


class ProviderFactory(Protocol):
    def __call__(self, settings: Settings) -> Provider: ...

    @staticmethod
    def problems(settings: Settings) -> list[str]: ...


PROVIDERS: dict[str, ProviderFactory] = {
    "console": ConsoleProvider,
    "smtp": SmtpProvider,
    "twilio": TwilioProvider,
    "webhook": WebhookProvider,
}

# Where each channel finds the customer's address in the profile traits.
ADDRESS_TRAITS = {"sms": "phone", "email": "email", "webhook": "webhook_url"}


class ChannelConfigError(ValueError):
    """The channel settings cannot work; the message lists every setting to fix."""


def build_providers(settings: Settings) -> dict[str, Provider]:
    """Channel name -> provider instance; one instance per provider, shared by its channels."""
    problems: list[str] = []
    for channel, name in settings.channel_providers.items():
        if name not in PROVIDERS:
            problems.append(
                f"channel {channel!r}: unknown provider {name!r} (known: {sorted(PROVIDERS)})"
            )
    for name in sorted(set(settings.channel_providers.values()) & PROVIDERS.keys()):
        problems.extend(
            f"provider {name!r}: {problem}" for problem in PROVIDERS[name].problems(settings)
        )
    if problems:
        raise ChannelConfigError("; ".join(problems))
    instances = {
        name: PROVIDERS[name](settings) for name in set(settings.channel_providers.values())
    }
    return {channel: instances[name] for channel, name in settings.channel_providers.items()}


async def close_providers(providers: Iterable[Provider]) -> None:
    """Close each provider's connections once (several channels may share a provider)."""
    seen: set[int] = set()
    for provider in providers:
        close = getattr(provider, "aclose", None)
        if close is not None and id(provider) not in seen:
            seen.add(id(provider))
            await close()


__all__ = [
    "ADDRESS_TRAITS",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "STANDARD_SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ChannelConfigError",
    "DeliveryError",
    "DeliveryReceipt",
    "OutboundMessage",
    "PermanentDeliveryError",
    "PermanentKind",
    "Provider",
    "RetryableDeliveryError",
    "build_providers",
    "close_providers",
    "standard_secret",
    "verify_signature",
]
