"""Provider webhooks: SendGrid's Event Webhook and Twilio's SMS status callbacks.

The signature is checked before anything is looked up, so a forged or replayed request changes
nothing: SendGrid's on the raw body, before it is parsed; Twilio's covers the form's parameters,
so the form is parsed first, but only once within its limit (16 KB, a few times what Twilio
sends; every body is bounded before it is read).

A 2xx means every event the request implies is stored in JetStream (invariant 1); any other
answer makes the provider retry, and the deterministic ``messageId`` of each event makes that
retry harmless (invariant 2). Each event is also kept against its delivery
(``delivery_events``, once published) for support's timelines, and that row is what stops a
replay of the same report from being published again, however late it comes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import JetStreamDep, SessionDep, SettingsDep
from api.webhooks.publishing import check_publishable, publish_or_503, record_events, refusals
from api.webhooks.schemas import WebhookResult
from journeys.ingest.webhooks import sendgrid, twilio
from journeys.ingest.webhooks.mapping import DELIVERY_ID_ARG, Translation, parse_delivery_id
from journeys.ingest.webhooks.recording import recorded_message_ids
from journeys.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

# What each provider sends at most, with room to spare; larger bodies get a 413 unread.
# SendGrid posts its batches at up to 768 KB; a Twilio status callback is a form of a few KB.
SENDGRID_BODY_LIMIT = 1024 * 1024
TWILIO_BODY_LIMIT = 16 * 1024

REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No signature: nothing stored"},
    403: {"description": "Signature wrong, body tampered, or request stale: nothing stored"},
    503: {"description": "Not stored (NATS down, or the key is not configured); retried"},
}


# The bodies are read raw (the signature covers the exact bytes), so they are declared here.
SENDGRID_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "SendGrid's Event Webhook batch, signed with the "
        f"`{sendgrid.SIGNATURE_HEADER}` and `{sendgrid.TIMESTAMP_HEADER}` headers",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"type": "object"}},
                "example": [
                    {
                        "email": "ada@example.com",
                        "event": "bounce",
                        "type": "bounce",
                        "reason": "550 5.1.1 unknown user",
                        "timestamp": 1772355600,
                        "sg_event_id": "ZGVsaXZlcmVkLTAtMjQ",
                        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
                        DELIVERY_ID_ARG: "17",
                    }
                ],
            }
        },
    }
}
TWILIO_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Twilio's SMS status callback, signed with the "
        f"`{twilio.SIGNATURE_HEADER}` header; the delivery id is in the callback URL's "
        f"`{DELIVERY_ID_ARG}` query parameter",
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "MessageSid": {"type": "string"},
                        "MessageStatus": {"type": "string"},
                        "ErrorCode": {"type": "string"},
                    },
                },
                "example": {
                    "MessageSid": "SM0123456789abcdef0123456789abcdef",
                    "MessageStatus": "undelivered",
                    "ErrorCode": "30005",
                },
            }
        },
    }
}


@router.post(
    "/sendgrid",
    responses={400: {"description": "Not a SendGrid batch"}, **REFUSALS},
    openapi_extra=SENDGRID_BODY,
    max_body_size=SENDGRID_BODY_LIMIT,
)
async def sendgrid_events(
    request: Request, settings: SettingsDep, session: SessionDep, jetstream: JetStreamDep
) -> WebhookResult:
    """SendGrid's Event Webhook: deliveries, bounces, opens, clicks, unsubscribes and spam
    reports, each published as an event of the delivery's customer (docs/events.md). Set
    `JOURNEYS_SENDGRID_WEBHOOK_PUBLIC_KEY` to the key of SendGrid's signed webhook settings."""
    body = await request.body()
    with refusals("sendgrid"):
        sendgrid.verify(
            settings.sendgrid_webhook_public_key,
            request.headers.get(sendgrid.SIGNATURE_HEADER),
            request.headers.get(sendgrid.TIMESTAMP_HEADER),
            body,
            max_age_seconds=settings.sendgrid_webhook_max_age_seconds,
        )
    try:
        sg_events = sendgrid.parse_events(body)
    except ValueError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not a SendGrid batch: {err}") from err
    translation = await sendgrid.translate(session, sg_events)
    return await _publish(jetstream, settings, session, "sendgrid", len(sg_events), translation)


@router.post(
    "/twilio",
    responses={400: {"description": "The form is not UTF-8"}, **REFUSALS},
    openapi_extra=TWILIO_BODY,
    max_body_size=TWILIO_BODY_LIMIT,
)
async def twilio_status(
    request: Request, settings: SettingsDep, session: SessionDep, jetstream: JetStreamDep
) -> WebhookResult:
    """Twilio's SMS status callback (delivered, failed, undelivered with its error code),
    published as an event of the delivery's customer. Signed with the account's auth token
    (`JOURNEYS_TWILIO_AUTH_TOKEN`) over the URL Twilio called (`JOURNEYS_PUBLIC_BASE_URL`)."""
    try:
        params = twilio.parse_form(await request.body())
    except UnicodeDecodeError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "form body is not UTF-8") from err
    with refusals("twilio"):
        twilio.verify(
            settings.twilio_auth_token.get_secret_value(),
            request.headers.get(twilio.SIGNATURE_HEADER),
            public_url(settings, request),
            params,
        )
    delivery_id = parse_delivery_id(request.query_params.get(DELIVERY_ID_ARG))
    translation = await twilio.translate(session, params, delivery_id)
    return await _publish(jetstream, settings, session, "twilio", 1, translation)


def public_url(settings: Settings, request: Request) -> str:
    """The URL the provider called: behind a proxy the request's own URL is not it."""
    if not settings.public_base_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{settings.public_base_url.rstrip('/')}{request.url.path}{query}"


async def _publish(
    jetstream: JetStreamContext,
    settings: Settings,
    session: AsyncSession,
    source: str,
    received: int,
    translation: Translation,
) -> WebhookResult:
    """Publish the reports not published before, then record them (committed): a replay, even
    after JetStream's dedup window, finds the row and publishes nothing, and still gets a 2xx.
    A failure between the two is retried by the provider and re-published, which JetStream's
    dedup window or the journeys' own messageId checks make harmless."""
    check_publishable(translation.events)
    if translation.unknown:
        log.warning(
            "%s: %d event(s) match no delivery; acknowledged, not published: %s",
            source,
            len(translation.unknown),
            ", ".join(translation.unknown[:10]),
        )
    done = await recorded_message_ids(session, translation.events)
    fresh = [event for event in translation.events if event.message_id not in done]
    published = await publish_or_503(jetstream, settings, fresh)
    await record_events(session, fresh)
    return WebhookResult(
        received=received,
        published=published.stored,
        duplicates=published.duplicates + len(translation.events) - len(fresh),
        ignored=translation.ignored,
        unknown_delivery=len(translation.unknown),
    )
