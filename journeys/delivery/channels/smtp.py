"""Email over SMTP (any relay: SendGrid, SES, Postfix, Mailpit in development).

One connection per message keeps failure handling simple: an SMTP session has no state worth
keeping between journeys' messages, and a relay's throughput limits bite long before the
handshake's cost does.
"""

from __future__ import annotations

from email.headerregistry import Address

import aiosmtplib

from journeys.delivery.channels.base import DeliveryReceipt, OutboundMessage
from journeys.delivery.channels.email_message import build_email
from journeys.delivery.channels.errors import (
    DeliveryError,
    PermanentDeliveryError,
    PermanentKind,
    RetryableDeliveryError,
)
from journeys.delivery.channels.html_tracking import add_tracking
from journeys.delivery.unsubscribe import UnsubscribeLinks
from journeys.ingest import tracking
from journeys.ingest.webhooks.errors import NotConfigured
from journeys.settings import Environment, Settings

# What a 5xx reply means, by the command it answered.
_PERMANENT_KINDS: dict[str, PermanentKind] = {"recipient": "hard_bounce", "auth": "unauthorized"}


class SmtpProvider:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = Address(
            display_name=settings.smtp_from_name, addr_spec=settings.smtp_from_address
        )
        self.links = UnsubscribeLinks(settings)

    @staticmethod
    def problems(settings: Settings) -> list[str]:
        """What stops this provider from working, checked at start-up rather than at send."""
        found = []
        if not settings.smtp_host:
            found.append("JOURNEYS_SMTP_HOST is required")
        if not settings.smtp_from_address:
            found.append("JOURNEYS_SMTP_FROM_ADDRESS is required")
        elif settings.smtp_from_address.count("@") != 1:
            found.append("JOURNEYS_SMTP_FROM_ADDRESS must be one plain address (a@example.com)")
        if settings.smtp_username and not settings.smtp_password.get_secret_value():
            found.append("JOURNEYS_SMTP_PASSWORD is required with JOURNEYS_SMTP_USERNAME")
        try:
            tracking.tracking_key(settings)
        except NotConfigured as err:
            if settings.email_tracking:
                found.append(f"JOURNEYS_EMAIL_TRACKING is on but {err}")
            elif settings.env is not Environment.DEV:
                # Marketing email is not sent without its signed unsubscribe link (RFC 8058).
                found.append(f"marketing email needs signed unsubscribe links but {err}")
        return found

    def _html(self, message: OutboundMessage) -> str | None:
        """The HTML as sent: with click and open tracking when it is on and the delivery is
        known (tracking URLs name the delivery). The unsubscribe and preference links are never
        rewritten: their token is the reader's credential, and a click must reach them as sent."""
        delivery_id = message.delivery_id
        if not (self.settings.email_tracking and message.html and delivery_id is not None):
            return message.html

        def click(url: str) -> str | None:
            if url == message.unsubscribe_url or self.links.is_link(url):
                return None
            try:
                return tracking.click_url(self.settings, delivery_id, url)
            except ValueError:  # not an absolute http(s) URL: leave it as written
                return None

        pixel = tracking.open_pixel_url(self.settings, delivery_id)
        return add_tracking(message.html, click, pixel)

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        settings = self.settings
        email = build_email(
            message, self.sender, settings.smtp_unsubscribe_mailto or None, self._html(message)
        )
        try:
            await aiosmtplib.send(
                email,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username or None,
                password=settings.smtp_password.get_secret_value() or None,
                use_tls=settings.smtp_ssl,
                start_tls=settings.smtp_starttls and not settings.smtp_ssl,
                timeout=settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as err:
            refused = err.recipients[0]
            raise classify(refused.code, refused.message, "recipient") from err
        except aiosmtplib.SMTPResponseException as err:
            raise classify(err.code, err.message, _stage(err)) from err
        except (aiosmtplib.SMTPException, OSError) as err:
            # No reply code: timeouts, refused or dropped connections, TLS not offered. The
            # last one may be an attacker stripping STARTTLS: wait, never send in the clear.
            reason = f"smtp {settings.smtp_host}:{settings.smtp_port}: {type(err).__name__}: {err}"
            raise RetryableDeliveryError(reason) from err
        return DeliveryReceipt(provider_message_id=str(email["Message-ID"]))


def _stage(err: aiosmtplib.SMTPResponseException) -> str:
    if isinstance(err, aiosmtplib.SMTPRecipientRefused):
        return "recipient"
    if isinstance(err, aiosmtplib.SMTPAuthenticationError):
        return "auth"
    return "message"


def classify(code: int, text: str, stage: str) -> DeliveryError:
    """SMTP reply codes: 4xx is "try again later", 5xx is final (RFC 5321, 4.2.1).

    A 5xx to RCPT is a hard bounce of that mailbox; a 5xx to the login, a refused login; any
    other 5xx (sender refused, content refused at DATA) a rejection of this message.
    """
    reason = f"smtp {stage}: {code} {text}".strip()
    if code < 500:
        return RetryableDeliveryError(reason)
    return PermanentDeliveryError(reason, kind=_PERMANENT_KINDS.get(stage, "rejected"))
