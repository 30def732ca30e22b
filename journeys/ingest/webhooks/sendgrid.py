"""SendGrid's signed Event Webhook: checking its signature and turning its events into ours.

SendGrid signs ``timestamp + raw body`` with ECDSA (P-256, SHA-256) and sends the base64 DER
signature and the timestamp in two headers; its settings page shows the public key as base64
DER. The timestamp is part of what is signed, so refusing old ones stops replays of a captured
request. Its retries reuse the event's ``sg_event_id``, which becomes our ``messageId``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import pydantic_core
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.ingest.events import Event
from journeys.ingest.webhooks import names
from journeys.ingest.webhooks.errors import NotConfigured, SignatureMissing, SignatureRejected
from journeys.ingest.webhooks.mapping import (
    DELIVERY_ID_ARG,
    DeliveryRef,
    Translation,
    deliveries_by_id,
    deliveries_by_provider_message_id,
    delivery_event,
    parse_delivery_id,
)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

EVENT_NAMES: Mapping[str, str] = {
    "delivered": names.EMAIL_DELIVERED,
    "open": names.EMAIL_OPENED,
    "click": names.EMAIL_LINK_CLICKED,
    "bounce": names.EMAIL_BOUNCED,
    "dropped": names.EMAIL_DROPPED,
    "spamreport": names.EMAIL_MARKED_AS_SPAM,
    "unsubscribe": names.UNSUBSCRIBED,
    "group_unsubscribe": names.GROUP_UNSUBSCRIBED,
}
# Unix times have 10 digits until the year 2286; 12 leaves room and stays exact as a float.
_TIMESTAMP_DIGITS = 12
# SendGrid's bounce `type`: "bounce" is a permanent refusal, "blocked" a temporary one.
BOUNCE_TYPES: Mapping[str, str] = {"bounce": "hard", "blocked": "soft"}


def verify(
    public_key: str,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    max_age_seconds: float,
    now: datetime | None = None,
) -> None:
    """Raise unless SendGrid signed exactly ``timestamp + body`` recently with ``public_key``."""
    if not signature or not timestamp:
        raise SignatureMissing(f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    key = load_public_key(public_key)
    try:
        der_signature = base64.b64decode(signature, validate=True)
        key.verify(der_signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature) as err:
        raise SignatureRejected("signature does not match the body and timestamp") from err
    # Digits only, and few enough for a float: a 400-digit "timestamp" is no Unix time.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _TIMESTAMP_DIGITS):
        raise SignatureRejected(f"{TIMESTAMP_HEADER} is not a Unix time")
    age = (now or datetime.now(UTC)).timestamp() - int(timestamp)
    if abs(age) > max_age_seconds:
        raise SignatureRejected(
            f"stale request: signed {age:.0f} s ago, outside ±{max_age_seconds:g} s"
        )


@lru_cache(maxsize=8)
def load_public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER), or as PEM."""
    if not value.strip():
        raise NotConfigured("SendGrid webhook key not set: JOURNEYS_SENDGRID_WEBHOOK_PUBLIC_KEY")
    try:
        if value.lstrip().startswith("-----BEGIN"):
            key = load_pem_public_key(value.encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(value.split()), validate=True))
    except (binascii.Error, ValueError) as err:
        raise NotConfigured(f"SendGrid webhook key is not a public key: {err}") from err
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise NotConfigured("SendGrid webhook key is not an ECDSA P-256 public key")
    return key


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """SendGrid posts a JSON array of event objects; anything else is a ValueError, nesting
    too deep to parse included (pydantic's parser stops there; :mod:`json` would recurse)."""
    payload = pydantic_core.from_json(body)
    if not isinstance(payload, list) or not all(isinstance(e, dict) for e in payload):
        raise ValueError("expected a JSON array of event objects")
    return payload


async def translate(session: AsyncSession, sg_events: list[dict[str, Any]]) -> Translation:
    """Our events for a batch, each for the customer of the delivery it reports on."""
    result = Translation()
    wanted = [e for e in sg_events if isinstance(e.get("event"), str) and e["event"] in EVENT_NAMES]
    result.ignored = len(sg_events) - len(wanted)
    by_id = await deliveries_by_id(session, filter(None, map(delivery_id_of, wanted)))
    by_message = await deliveries_by_provider_message_id(
        session,
        {
            prefix
            for e in wanted
            if delivery_id_of(e) not in by_id and (prefix := message_id_prefix(e))
        },
    )
    for sg_event in wanted:
        delivery_id, prefix = delivery_id_of(sg_event), message_id_prefix(sg_event)
        delivery = by_id.get(delivery_id or 0) or by_message.get(prefix or "")
        if delivery is None:
            result.unknown.append(f"{sg_event.get('event')} {sg_event.get('sg_message_id')}")
        else:
            result.events.append(to_event(sg_event, delivery))
    return result


def to_event(sg_event: dict[str, Any], delivery: DeliveryRef) -> Event:
    kind = str(sg_event["event"])
    return delivery_event(
        delivery,
        EVENT_NAMES[kind],
        message_id=message_id(sg_event),
        source=names.SOURCE_SENDGRID,
        timestamp=_timestamp(sg_event),
        **_properties(kind, sg_event),
    )


def _properties(kind: str, sg_event: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {"provider_message_id": sg_event.get("sg_message_id")}
    if kind == "click":
        properties["url"] = sg_event.get("url")
    elif kind == "open" and "sg_machine_open" in sg_event:
        # Apple Mail Privacy Protection and similar proxies "open" every message.
        properties["machine_open"] = bool(sg_event["sg_machine_open"])
    elif kind == "bounce":
        sg_type = str(sg_event.get("type", "bounce"))
        properties["bounce_type"] = BOUNCE_TYPES.get(sg_type, sg_type)
        for key in ("reason", "status", "bounce_classification"):
            properties[key] = sg_event.get(key)
    elif kind == "dropped":
        properties["reason"] = sg_event.get("reason")
    elif kind in ("group_unsubscribe", "unsubscribe"):
        properties["asm_group_id"] = sg_event.get("asm_group_id")
    return {key: value for key, value in properties.items() if value is not None}


def message_id(sg_event: dict[str, Any]) -> str:
    """``sendgrid:<sg_event_id>``: the same on every retry of the event."""
    event_id = sg_event.get("sg_event_id")
    if isinstance(event_id, str) and event_id:
        return f"sendgrid:{event_id}"
    canonical = json.dumps(sg_event, sort_keys=True, separators=(",", ":")).encode()
    return f"sendgrid:sha256:{hashlib.sha256(canonical).hexdigest()[:40]}"


def delivery_id_of(sg_event: dict[str, Any]) -> int | None:
    return parse_delivery_id(sg_event.get(DELIVERY_ID_ARG))


def message_id_prefix(sg_event: dict[str, Any]) -> str | None:
    """The send API's ``X-Message-Id``: ``sg_message_id`` is it followed by ``.filter…``."""
    value = sg_event.get("sg_message_id")
    if not isinstance(value, str) or not value:
        return None
    return value.split(".", 1)[0]


def _timestamp(sg_event: dict[str, Any]) -> datetime:
    value = sg_event.get("timestamp")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.now(UTC)
