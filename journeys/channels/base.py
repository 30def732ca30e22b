"""The provider interface every channel implementation follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    channel: str
    recipient: str
    subject: str | None
    text: str | None
    html: str | None
    # The delivery key: providers that accept an idempotency key get this one.
    idempotency_key: str


@dataclass(frozen=True)
class DeliveryReceipt:
    provider_message_id: str


class Provider(Protocol):
    name: str

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt: ...
