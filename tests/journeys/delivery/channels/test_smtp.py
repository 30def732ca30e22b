"""Email through a real SMTP server (aiosmtpd) that answers as the test tells it to."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from journeys.delivery.channels import (
    OutboundMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from journeys.delivery.channels.smtp import SmtpProvider
from journeys.ingest.tracking import verify_click_token, verify_open_token
from tests.support.helpers import free_port
from tests.support.local_servers import settings

# Recipients the server refuses, with the reply it gives.
REPLIES = {
    "gone@example.com": "550 5.1.1 mailbox unavailable",
    "busy@example.com": "450 4.2.1 mailbox busy, try later",
}


class Mailbox:
    """An aiosmtpd handler: records what it accepts, answers REPLIES for those recipients."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.data_reply: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in REPLIES:
            return REPLIES[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK: queued"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"app", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    handler = Mailbox()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def provider(port: int, **extra: Any) -> SmtpProvider:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_from_address": "shop@mail.example.com",
        "smtp_from_name": "Example Shop",
        "smtp_unsubscribe_mailto": "unsubscribe@mail.example.com",
        "smtp_timeout_seconds": 5,
    }
    return SmtpProvider(settings(**(values | extra)))


def email(to: str = "ada@example.com", **extra: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "channel": "email",
        "recipient": to,
        "subject": "Your cart misses you",
        "text": "Hi Ada, your cart is waiting.",
        "html": "<html><body><p>Hi Ada, <a href='https://shop.example/cart'>your cart</a></p>"
        "</body></html>",
        "idempotency_key": "run-1:remind",
        "delivery_id": 42,
        "customer_id": "c-ada",
        "unsubscribe_url": "https://journeys.example.com/u/tok123",
    }
    return OutboundMessage(**(values | extra))


async def test_email_arrives_with_both_parts_and_every_header(
    mailbox: tuple[Mailbox, int],
) -> None:
    handler, port = mailbox
    receipt = await provider(port).deliver(email(headers={"X-Campaign": "cart"}))

    [received] = handler.messages
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == "Hi Ada, your cart is waiting."
    assert "<a href='https://shop.example/cart'>your cart</a>" in html.get_content()
    assert received["Subject"] == "Your cart misses you"
    assert received["From"] == "Example Shop <shop@mail.example.com>"
    assert received["To"] == "ada@example.com"
    assert received["X-Campaign"] == "cart"
    # Folded after the colon (the value is long): the unfolded value starts with a space.
    assert received["List-Unsubscribe"].strip() == (
        "<mailto:unsubscribe@mail.example.com?subject=unsubscribe%2042>, "
        "<https://journeys.example.com/u/tok123>"
    )
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert json.loads(str(received["X-SMTPAPI"])) == {
        "unique_args": {"journeys_delivery_id": "42", "journeys_customer_id": "c-ada"}
    }
    assert received["Message-ID"] == receipt.provider_message_id
    assert receipt.provider_message_id.endswith("@mail.example.com>")


async def test_a_resend_carries_the_same_message_id(mailbox: tuple[Mailbox, int]) -> None:
    handler, port = mailbox
    smtp = provider(port)
    first = await smtp.deliver(email())
    again = await smtp.deliver(email())
    other = await smtp.deliver(email(idempotency_key="run-1:follow-up"))
    assert first == again != other
    assert [m["Message-ID"] for m in handler.messages] == [
        first.provider_message_id,
        first.provider_message_id,
        other.provider_message_id,
    ]


async def test_without_unsubscribe_url_or_delivery_id_those_headers_are_absent(
    mailbox: tuple[Mailbox, int],
) -> None:
    handler, port = mailbox
    await provider(port).deliver(
        email(unsubscribe_url=None, delivery_id=None, html=None, headers={"Subject": "spoof"})
    )
    [received] = handler.messages
    assert received.get_content_type() == "text/plain"
    assert received["Subject"] == "Your cart misses you"
    for header in ("List-Unsubscribe", "List-Unsubscribe-Post", "X-SMTPAPI"):
        assert header not in received


async def test_mailbox_unavailable_is_a_permanent_hard_bounce(
    mailbox: tuple[Mailbox, int],
) -> None:
    handler, port = mailbox
    with pytest.raises(PermanentDeliveryError) as refused:
        await provider(port).deliver(email("gone@example.com"))
    assert refused.value.kind == "hard_bounce"
    assert "550" in refused.value.reason
    assert handler.messages == []


async def test_a_4xx_reply_is_retryable(mailbox: tuple[Mailbox, int]) -> None:
    handler, port = mailbox
    with pytest.raises(RetryableDeliveryError, match="450"):
        await provider(port).deliver(email("busy@example.com"))
    handler.data_reply = "451 4.3.0 local problem, try later"
    with pytest.raises(RetryableDeliveryError, match="451"):
        await provider(port).deliver(email())


async def test_content_refused_at_data_is_permanent(mailbox: tuple[Mailbox, int]) -> None:
    handler, port = mailbox
    handler.data_reply = "554 5.7.1 message refused as spam"
    with pytest.raises(PermanentDeliveryError) as refused:
        await provider(port).deliver(email())
    assert refused.value.kind == "rejected"


async def test_login_is_used_and_a_wrong_password_is_permanent(
    mailbox: tuple[Mailbox, int],
) -> None:
    handler, port = mailbox
    await provider(port, smtp_username="app", smtp_password="s3cret").deliver(email())
    assert len(handler.messages) == 1
    with pytest.raises(PermanentDeliveryError) as refused:
        await provider(port, smtp_username="app", smtp_password="wrong").deliver(email())
    assert refused.value.kind == "unauthorized"
    assert len(handler.messages) == 1


async def test_required_starttls_that_is_not_offered_is_retried_never_sent_in_clear(
    mailbox: tuple[Mailbox, int],
) -> None:
    handler, port = mailbox
    with pytest.raises(RetryableDeliveryError, match=r"(?i)starttls"):
        await provider(port, smtp_starttls=True).deliver(email())
    assert handler.messages == []


async def test_no_server_is_retryable() -> None:
    with pytest.raises(RetryableDeliveryError):
        await provider(free_port()).deliver(email())


@pytest.mark.parametrize(
    "recipient", ["not-an-address", "a@b.example, c@d.example", "a@b.example\r\nBcc: x@y.example"]
)
async def test_a_malformed_recipient_is_permanent_and_nothing_is_sent(
    mailbox: tuple[Mailbox, int], recipient: str
) -> None:
    handler, port = mailbox
    with pytest.raises(PermanentDeliveryError) as refused:
        await provider(port).deliver(email(recipient))
    assert refused.value.kind == "invalid_address"
    assert handler.messages == []


async def test_a_header_with_a_line_break_is_permanent(mailbox: tuple[Mailbox, int]) -> None:
    handler, port = mailbox
    with pytest.raises(PermanentDeliveryError) as refused:
        await provider(port).deliver(email(subject="Hi\r\nBcc: everyone@example.com"))
    assert refused.value.kind == "invalid_message"
    assert handler.messages == []


async def test_tracking_rewrites_links_and_adds_the_open_pixel(
    mailbox: tuple[Mailbox, int],
) -> None:
    handler, port = mailbox
    smtp = provider(
        port,
        email_tracking=True,
        tracking_secret="a-tracking-secret-for-tests",
        public_base_url="https://journeys.example.com",
    )
    html = (
        "<html><body><p>Hi <b>Ada</b>, <a href='https://shop.example/cart?x=1&amp;y=2'>cart</a>"
        ' · <a href="https://journeys.example.com/u/tok123">unsubscribe</a></p></body></html>'
    )
    await smtp.deliver(email(html=html))

    [received] = handler.messages
    part = received.get_body(preferencelist=("html",))
    assert part is not None
    sent = part.get_content()
    links = re.findall(r"href=\"(https://journeys\.example\.com/t/c/[^\"]+)\"", sent)
    [link] = links
    target = verify_click_token(smtp.settings, link.rsplit("/", 1)[1])
    assert (target.delivery_id, target.url) == (42, "https://shop.example/cart?x=1&y=2")
    assert '<a href="https://journeys.example.com/u/tok123">unsubscribe</a>' in sent
    pixel = re.search(r"<img src=\"https://journeys\.example\.com/t/o/([^\"]+)\"", sent)
    assert pixel is not None
    assert verify_open_token(smtp.settings, pixel.group(1)) == 42
    assert sent.startswith("<html><body><p>Hi <b>Ada</b>, <a href=")
    assert sent.rstrip().endswith("</body></html>")
    text = received.get_body(preferencelist=("plain",))
    assert text is not None and "journeys.example.com/t/" not in text.get_content()


async def test_without_a_delivery_id_tracking_leaves_the_html_alone(
    mailbox: tuple[Mailbox, int],
) -> None:
    handler, port = mailbox
    smtp = provider(port, email_tracking=True, tracking_secret="a-tracking-secret-for-tests")
    await smtp.deliver(email(delivery_id=None))
    part = handler.messages[0].get_body(preferencelist=("html",))
    assert part is not None and "/t/" not in part.get_content()
