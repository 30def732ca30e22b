"""Development provider: the rendered message is logged and recorded as the delivery itself."""

from __future__ import annotations

import hashlib
import logging

from journeys.delivery.channels.base import DeliveryReceipt, OutboundMessage
from journeys.settings import Settings

log = logging.getLogger("journeys.console")


class ConsoleProvider:
    name = "console"

    def __init__(self, settings: Settings | None = None) -> None:
        """Needs no settings; takes them to be built like every other provider."""

    @staticmethod
    def problems(settings: Settings) -> list[str]:
        return []

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        body = message.text if message.text is not None else message.html
        headline = f"{message.channel.upper()} to {message.recipient}"
        if message.subject:
            headline += f" | {message.subject}"
        log.info("\n📨 %s\n%s\n", headline, (body or "").strip())
        digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:16]
        return DeliveryReceipt(provider_message_id=f"console-{digest}")
