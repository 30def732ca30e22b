"""Twilio's SMS status callbacks: checking ``X-Twilio-Signature`` and turning statuses into events.

Twilio signs the full URL it called followed by every POST parameter, sorted by name, as
``name + value``, with HMAC-SHA1 keyed by the account's auth token (base64 in the header). The
URL is the *public* one, so behind a proxy it must come from configuration, not from the request.
Like Twilio's own validator we accept the URL with its port removed or with the default port
added, since proxies and Twilio disagree on whether ``:443`` is spelled out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import SplitResult, parse_qsl, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from journeys.ingest.webhooks import names
from journeys.ingest.webhooks.errors import NotConfigured, SignatureMissing, SignatureRejected
from journeys.ingest.webhooks.mapping import (
    Translation,
    deliveries_by_id,
    deliveries_by_provider_message_id,
    delivery_event,
)

SIGNATURE_HEADER = "X-Twilio-Signature"

EVENT_NAMES: Mapping[str, str] = {
    "delivered": names.SMS_DELIVERED,
    "failed": names.SMS_FAILED,
    "undelivered": names.SMS_UNDELIVERED,
}
_DEFAULT_PORTS = {"https": 443, "http": 80}

Params = Mapping[str, Sequence[str]]


def parse_form(body: bytes) -> dict[str, list[str]]:
    """The form body as Twilio signed it: decoded names and values, repeated names kept."""
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


def compute_signature(auth_token: str, url: str, params: Params) -> str:
    """``base64(HMAC-SHA1(auth_token, url + name1 + value1 + name2 + value2 ...))``."""
    signed = url + "".join(
        name + value for name in sorted(params) for value in sorted(set(params[name]))
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(auth_token: str, signature: str | None, url: str, params: Params) -> None:
    """Raise unless ``signature`` is Twilio's for this URL (with or without port) and params."""
    if not auth_token:
        raise NotConfigured("Twilio auth token not set: JOURNEYS_TWILIO_AUTH_TOKEN")
    if not signature:
        raise SignatureMissing(f"{SIGNATURE_HEADER} is required")
    candidates = {compute_signature(auth_token, u, params) for u in url_variants(url)}
    # Compare against each candidate, without an early exit that would leak timing.
    matches = [hmac.compare_digest(c.encode(), signature.encode()) for c in candidates]
    if not any(matches):
        raise SignatureRejected("signature does not match the URL and parameters")


def url_variants(url: str) -> list[str]:
    """The URL without its port and with one (the scheme's default when none is given).

    The host is kept exactly as spelled (no lower-casing): Twilio signs the URL as configured.
    """
    parts = urlsplit(url)
    userinfo, at, host_port = parts.netloc.rpartition("@")
    bracket = host_port.rfind("]")  # an IPv6 literal holds colons of its own
    host, colon, port = host_port.rpartition(":")
    if not colon or bracket > len(host):
        host, port = host_port, ""
    default = _DEFAULT_PORTS.get(parts.scheme)
    port = port or (str(default) if default else "")
    without = _with_netloc(parts, f"{userinfo}{at}{host}")
    with_port = _with_netloc(parts, f"{userinfo}{at}{host}:{port}") if port else without
    return [without, with_port]


def _with_netloc(parts: SplitResult, netloc: str) -> str:
    return parts._replace(netloc=netloc).geturl()


async def translate(
    session: AsyncSession, params: Params, delivery_id: int | None = None
) -> Translation:
    """The event a status callback means, for the customer of the SMS it reports on.

    ``delivery_id`` comes from the callback URL's query (the SMS channel adds it, and Twilio
    signs the URL): it finds the delivery even before its ``MessageSid`` was stored.
    """
    result = Translation()
    status = _first(params, "MessageStatus") or _first(params, "SmsStatus")
    sid = _first(params, "MessageSid") or _first(params, "SmsSid")
    name = EVENT_NAMES.get(status or "")
    if name is None or not sid:
        # queued, sending, sent, ...: progress, not an outcome a journey acts on.
        result.ignored = 1
        return result
    delivery = (await deliveries_by_id(session, [delivery_id or 0])).get(delivery_id or 0)
    if delivery is None:
        delivery = (await deliveries_by_provider_message_id(session, [sid])).get(sid)
    if delivery is None:
        result.unknown.append(f"{status} {sid}")
        return result
    properties: dict[str, str] = {"provider_message_id": sid, "status": status or ""}
    error_code = _first(params, "ErrorCode")
    if error_code:
        properties["error_code"] = error_code
    result.events.append(
        delivery_event(
            delivery,
            name,
            message_id=f"twilio:{sid}:{status}",
            source=names.SOURCE_TWILIO,
            timestamp=datetime.now(UTC),
            **properties,
        )
    )
    return result


def _first(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None
