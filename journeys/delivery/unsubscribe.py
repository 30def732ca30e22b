"""Signed per-recipient unsubscribe and preference-centre links (RFC 8058 one-click).

A link names one customer and the channel (and, when the send had one, the subscription group)
the message came on; it carries no address. The token is an itsdangerous
``URLSafeTimedSerializer`` token of ``[customer_id, channel, group]`` with its issue time,
HMAC-SHA256 keyed by ``tracking_secret`` under a salt of its own, so an open or click token can
never be replayed as an unsubscribe token, nor the reverse. A token older than
``unsubscribe_link_max_age_days`` (a year unless set) is refused as expired: long, because an
email read months later must still let its reader leave, and mailbox providers keep offering
the ``List-Unsubscribe`` of old messages. Rotating the secret invalidates every link sent.

The links are served by ``api/unsubscribe/`` (``POST /u/<token>`` one-click, ``GET`` the
preference centre); the send activity puts them in the template context and the email's
``List-Unsubscribe`` header.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from journeys.ingest.tracking import InvalidToken, base_url, tracking_key
from journeys.settings import Settings

PATH = "/u"
PREFERENCES = "preferences"
_SALT = "journeys.unsubscribe"
# Customer ids and group names are bounded where they are made; a token is bounded here too,
# so a forged giant never reaches the decoder.
MAX_TOKEN_LENGTH = 2048


class ExpiredToken(InvalidToken):
    """A token we issued, older than ``unsubscribe_link_max_age_days``."""


@dataclass(frozen=True)
class Recipient:
    """Whom a link is for: the customer, the channel the message came on, and its group."""

    customer_id: str
    channel: str
    group: str | None
    issued_at: datetime


@dataclass(frozen=True)
class Links:
    unsubscribe_url: str
    preferences_url: str


class UnsubscribeLinks:
    """Mints a customer's links; the send activity holds one (the worker builds it)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def for_recipient(self, customer_id: str, channel: str, group: str | None) -> Links:
        """Raises ``NotConfigured`` while ``tracking_secret`` is unfit."""
        token = sign(self.settings, customer_id, channel, group)
        return Links(unsubscribe_url(self.settings, token), preferences_url(self.settings, token))

    def is_link(self, url: str) -> bool:
        """True for our unsubscribe and preference URLs: click tracking leaves them alone."""
        return url.startswith(f"{base_url(self.settings)}{PATH}/")


def sign(settings: Settings, customer_id: str, channel: str, group: str | None) -> str:
    if not customer_id or not channel:
        raise ValueError("an unsubscribe link needs a customer and a channel")
    return _serializer(settings).dumps([customer_id, channel, group])


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{base_url(settings)}{PATH}/{token}"


def preferences_url(settings: Settings, token: str) -> str:
    return f"{base_url(settings)}{PATH}/{token}/{PREFERENCES}"


def verify(settings: Settings, token: str) -> Recipient:
    """Whom ``token`` was issued for; :class:`ExpiredToken` when it is too old,
    :class:`InvalidToken` when we did not sign it or it was altered, ``NotConfigured`` while the
    secret is unfit (before any token is judged)."""
    serializer = _serializer(settings)
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("not an unsubscribe link we issued (too long)")
    max_age = int(settings.unsubscribe_link_max_age_days * 86400)
    try:
        payload, issued = serializer.loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired as err:
        raise ExpiredToken(
            "this unsubscribe link has expired; use the link in a more recent message"
        ) from err
    except BadData as err:
        raise InvalidToken("not an unsubscribe link we issued, or one altered since") from err
    if not (
        isinstance(payload, list)
        and len(payload) == 3
        and isinstance(payload[0], str)
        and payload[0]
        and isinstance(payload[1], str)
        and payload[1]
        and (payload[2] is None or (isinstance(payload[2], str) and payload[2]))
    ):
        raise InvalidToken("malformed unsubscribe token")
    return Recipient(payload[0], payload[1], payload[2], issued.astimezone(UTC))


def action_id(recipient: Recipient, change: str) -> str:
    """The messageId of a change made through a link. ``change`` names what changes and the
    state it changes from, so the same request repeated (a mail client's double POST, a form sent
    twice) before the router recorded it is one event, in JetStream's dedup window, while a later
    change of mind is a new one; the store's records are idempotent anyway. Hashed, so no
    customer id shows in the messageId."""
    subject = f"{recipient.customer_id}|{recipient.channel}|{change}"
    return f"unsubscribe:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        tracking_key(settings),
        salt=_SALT,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
    )
