"""Webhook signatures: the Standard Webhooks headers, and ``X-Journeys-Signature`` for one release.

Standard Webhooks (https://www.standardwebhooks.com, signed with its ``standardwebhooks``
library): ``webhook-id`` (the delivery's idempotency key, the same on every retry, so receivers
drop repeats by it), ``webhook-timestamp`` (unix seconds) and ``webhook-signature: v1,<base64>``,
the HMAC-SHA256 of ``"<id>.<timestamp>.<raw body>"``. The key is the bytes of the shared secret;
receivers' libraries take it in the ``whsec_<base64>`` form :func:`standard_secret` gives.

``X-Journeys-Signature: t=<unix seconds>,v1=<hex>`` is the hex HMAC-SHA256 of ``"<t>.<raw body>"``
(Stripe's scheme), sent alongside so receivers can migrate; releases up to 0.2 send it, 0.3
drops it. Both sign the timestamp with the body, so a receiver refuses replays older than its
tolerance; several signatures may appear while a secret is being rotated, and any one matching
is enough. Receivers verify the raw bytes they received, before parsing the JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
# The old header, sent alongside the Standard Webhooks ones until 0.3.
SIGNATURE_HEADER = "X-Journeys-Signature"
DEFAULT_TOLERANCE_SECONDS = 300.0


def standard_secret(secret: str | bytes) -> str:
    """The shared secret as Standard Webhooks libraries take it: ``whsec_`` and its base64."""
    return "whsec_" + base64.b64encode(_key(secret)).decode()


def signed_headers(
    secret: str | bytes, message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Every signature header for ``body`` sent now (or at ``timestamp``) as ``message_id``."""
    t = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(t),
        STANDARD_SIGNATURE_HEADER: _standard_signature(secret, message_id, t, body),
        SIGNATURE_HEADER: sign(secret, body, t),
    }


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The old ``X-Journeys-Signature`` value for ``body`` sent now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def verify_signature(
    secret: str | bytes,
    header: Mapping[str, str] | str | None,
    body: bytes,
    tolerance: float | None = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``body`` is signed with ``secret`` within ``tolerance`` seconds of ``now``
    (``None`` skips the age check). ``header`` is the request's headers, where either the
    Standard Webhooks signature or the old one is enough, or the old header's value alone. A
    malformed header is simply not valid."""
    current = time.time() if now is None else now
    if isinstance(header, Mapping):
        headers = {name.lower(): value for name, value in header.items()}
        if _verify_standard(secret, headers, body, tolerance, current):
            return True
        header = headers.get(SIGNATURE_HEADER.lower())
    return _verify_old(secret, header, body, tolerance, current)


def _verify_standard(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float | None,
    now: float,
) -> bool:
    message_id = headers.get(ID_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER)
    signatures = headers.get(STANDARD_SIGNATURE_HEADER)
    if not (message_id and stamp and signatures) or not _is_digits(stamp):
        return False
    timestamp = int(stamp)
    if tolerance is not None and abs(now - timestamp) > tolerance:
        return False
    try:
        expected = _standard_signature(secret, message_id, timestamp, body).encode()
    except (EmptyWebhookSecretError, UnicodeDecodeError, ValueError, OverflowError, OSError):
        return False
    return any(
        hmac.compare_digest(expected, candidate.encode()) for candidate in signatures.split(" ")
    )


def _verify_old(
    secret: str | bytes, header: str | None, body: bytes, tolerance: float | None, now: float
) -> bool:
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and _is_digits(value):
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if tolerance is not None and abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates)


def _standard_signature(secret: str | bytes, message_id: str, timestamp: int, body: bytes) -> str:
    at = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(_key(secret)).sign(message_id, at, body.decode())


def _mac(secret: str | bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
