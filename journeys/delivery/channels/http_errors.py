"""One classification of HTTP outcomes for the providers that speak HTTP (Twilio, webhook)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from journeys.delivery.channels.errors import (
    DeliveryError,
    PermanentDeliveryError,
    PermanentKind,
    RetryableDeliveryError,
)

# 408 and 425 say "the same request may work later", like 429 and the 5xx family.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """The delay a ``Retry-After`` header asks for: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def transport_error(what: str, err: httpx.TransportError) -> RetryableDeliveryError:
    """No answer at all (timeout, refused, reset): the request may not have reached the
    provider, and trying again is the only way to find out."""
    if isinstance(err, httpx.TimeoutException):
        return RetryableDeliveryError(f"{what}: timed out ({type(err).__name__})")
    return RetryableDeliveryError(f"{what}: {type(err).__name__}: {err or 'connection failed'}")


def status_error(
    what: str, response: httpx.Response, detail: str = "", kind: PermanentKind = "rejected"
) -> DeliveryError:
    """An answer that is not a success: 408/425/429/5xx may pass, any other status will not."""
    status = response.status_code
    reason = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in RETRYABLE_STATUSES or status >= 500:
        delay = retry_after_seconds(response.headers.get("retry-after"))
        return RetryableDeliveryError(reason, retry_after=delay)
    if status in (401, 403):
        return PermanentDeliveryError(reason, kind="unauthorized")
    return PermanentDeliveryError(reason, kind=kind)
