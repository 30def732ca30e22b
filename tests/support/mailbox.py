"""A real SMTP server (aiosmtpd) that keeps what it accepts, for tests that read sent email."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.helpers import free_port


class Inbox:
    """An aiosmtpd handler keeping every message it accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK: queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """The inbox and the port of a plain SMTP server on 127.0.0.1 (no TLS, no login)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def smtp_settings(port: int) -> dict[str, Any]:
    """Settings overrides sending email through :func:`smtp_server`."""
    return {
        "channel_providers": {"email": "smtp"},
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_from_address": "news@shop.example.com",
        "smtp_unsubscribe_mailto": "unsubscribe@shop.example.com",
        "public_base_url": "https://journeys.example.com",
    }


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    assert part is not None
    return str(part.get_content())
