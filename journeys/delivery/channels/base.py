"""The provider interface every channel implementation follows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    """One rendered message on its way to a provider.

    Everything after ``idempotency_key`` is optional so a caller that knows less still works;
    providers use what they are given (the email provider turns ``delivery_id`` into the
    ``X-SMTPAPI`` unique args and tracking links, ``unsubscribe_url`` into ``List-Unsubscribe``).
    """

    channel: str
    recipient: str
    subject: str | None
    text: str | None
    html: str | None
    # The delivery key: providers that accept an idempotency key get this one, and the email
    # provider derives its Message-ID from it, so a re-send after a crash is recognisable.
    idempotency_key: str
    # The delivery row's id: ties provider webhooks (opens, clicks, bounces) back to the row.
    delivery_id: int | None = None
    customer_id: str | None = None
    # The customer's one-click unsubscribe link (email: List-Unsubscribe header).
    unsubscribe_url: str | None = None
    # Extra headers for channels that have them (email, webhook); they never replace the
    # headers the provider sets itself.
    headers: Mapping[str, str] = field(default_factory=dict)
    # Free-form string pairs passed on where the channel can carry them (webhook body).
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryReceipt:
    provider_message_id: str


class Provider(Protocol):
    """A channel implementation.

    ``deliver`` returns a receipt once the provider has accepted the message, and raises
    ``RetryableDeliveryError`` or ``PermanentDeliveryError`` (``journeys.delivery.channels.errors``)
    otherwise; anything else it raises is a bug. Providers holding connections also have an
    ``async aclose()``, called once by ``close_providers`` at shutdown.
    """

    name: str

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt: ...
