"""The MIME message the email channel sends, built from an ``OutboundMessage``.

Every header here has a reader downstream: ``Message-ID`` is derived from the delivery's
idempotency key so a re-send after a crash is the same message to the receiving side;
``List-Unsubscribe`` (+ ``-Post``, RFC 8058 one-click) is what mailbox providers require of bulk
senders; ``X-SMTPAPI`` unique args come back from SendGrid's relay as custom args on its event
webhooks, where ``journeys_delivery_id`` ties a bounce, open or click to the delivery row.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from journeys.delivery.channels.base import OutboundMessage
from journeys.delivery.channels.errors import PermanentDeliveryError

# One address, no display name, nothing that could smuggle a second recipient or a header.
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


def message_id(idempotency_key: str, domain: str) -> str:
    """The same key always gives the same Message-ID."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<journeys.{digest}@{domain}>"


def list_unsubscribe(message: OutboundMessage, mailto: str | None) -> str | None:
    """``<mailto:...>, <https://...>`` when the message has an unsubscribe link; mail clients
    use the one they support. The mailto subject names the delivery for whoever reads it."""
    if not message.unsubscribe_url:
        return None
    links = [f"<{message.unsubscribe_url}>"]
    if mailto:
        subject = f"unsubscribe {message.delivery_id}" if message.delivery_id else "unsubscribe"
        links.insert(0, f"<mailto:{mailto}?subject={quote(subject)}>")
    return ", ".join(links)


def smtpapi(message: OutboundMessage) -> str | None:
    """SendGrid's ``X-SMTPAPI`` header, when there is a delivery to tie events back to."""
    if message.delivery_id is None:
        return None
    unique_args = {"journeys_delivery_id": str(message.delivery_id)}
    if message.customer_id is not None:
        unique_args["journeys_customer_id"] = message.customer_id
    # ASCII JSON with spaces after separators, so the header folds cleanly under 998 characters.
    return json.dumps({"unique_args": unique_args})


def build_email(
    message: OutboundMessage, sender: Address, unsubscribe_mailto: str | None, html: str | None
) -> EmailMessage:
    """``html`` is the message's HTML after tracking was added (or as it was).

    Raises ``PermanentDeliveryError``: ``invalid_address`` for a recipient that is not one plain
    address, ``invalid_message`` for no body or a header value with a line break.
    """
    if not _ADDRESS.fullmatch(message.recipient):
        raise PermanentDeliveryError(
            f"not an email address: {message.recipient!r}", kind="invalid_address"
        )
    if not message.text and not html:
        raise PermanentDeliveryError(
            "an email needs a text or an HTML body", kind="invalid_message"
        )
    email = EmailMessage()
    try:
        email["From"] = sender
        email["To"] = message.recipient
        if message.subject:
            email["Subject"] = message.subject
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = message_id(message.idempotency_key, sender.domain)
        unsubscribe = list_unsubscribe(message, unsubscribe_mailto)
        if unsubscribe:
            email["List-Unsubscribe"] = unsubscribe
            # One-click unsubscribe is defined for HTTPS links only (RFC 8058).
            if (message.unsubscribe_url or "").startswith("https://"):
                email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        unique_args = smtpapi(message)
        if unique_args:
            email["X-SMTPAPI"] = unique_args
        if message.text and html:
            email.set_content(message.text)
            email.add_alternative(html, subtype="html")
        elif html:
            email.set_content(html, subtype="html")
        else:
            email.set_content(message.text or "")
        for name, value in message.headers.items():
            if name not in email:  # our own headers win
                email[name] = value
    except ValueError as err:  # the email package refuses line breaks in header values
        raise PermanentDeliveryError(
            f"cannot build the email: {err}", kind="invalid_message"
        ) from err
    return email
