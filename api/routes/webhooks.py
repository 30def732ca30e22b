"""Provider webhooks: SendGrid's Event Webhook and Twilio's SMS status callbacks.

The signature is checked on the raw body before anything is parsed or looked up, so a forged or
replayed request changes nothing. A 2xx means every event the request implies is stored in
JetStream (invariant 1); any other answer makes the provider retry, and the deterministic
``messageId`` of each event makes that retry harmless (invariant 2).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import nats.errors
from fastapi import APIRouter, HTTPException, Request, status
from nats.js import JetStreamContext
from pydantic import BaseModel, Field

from api.deps import JetStreamDep, SessionDep, SettingsDep
from journeys.events import Event
from journeys.settings import Settings
from journeys.webhooks import sendgrid, twilio
from journeys.webhooks.errors import NotConfigured, SignatureMissing, SignatureRejected
from journeys.webhooks.mapping import DELIVERY_ID_ARG, Translation, parse_delivery_id
from journeys.webhooks.publishing import Published, publish_all

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No signature: nothing stored"},
    403: {"description": "Signature wrong, body tampered, or request stale: nothing stored"},
    503: {"description": "Not stored (NATS down, or the key is not configured); retried"},
}


class WebhookResult(BaseModel):
    received: int = Field(description="provider events in the request")
    published: int = Field(description="events stored in JetStream by this request")
    duplicates: int = Field(description="events JetStream already held: a provider retry")
    ignored: int = Field(description="provider events we turn into no event (e.g. processed)")
    unknown_delivery: int = Field(description="events matching no delivery: not published")


@router.post("/sendgrid", responses=REFUSALS)
async def sendgrid_events(
    request: Request, settings: SettingsDep, session: SessionDep, jetstream: JetStreamDep
) -> WebhookResult:
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
    return await _publish(jetstream, settings, "sendgrid", len(sg_events), translation)


@router.post("/twilio", responses=REFUSALS)
async def twilio_status(
    request: Request, settings: SettingsDep, session: SessionDep, jetstream: JetStreamDep
) -> WebhookResult:
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
    return await _publish(jetstream, settings, "twilio", 1, translation)


def public_url(settings: Settings, request: Request) -> str:
    """The URL the provider called: behind a proxy the request's own URL is not it."""
    if not settings.public_base_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{settings.public_base_url.rstrip('/')}{request.url.path}{query}"


@contextmanager
def refusals(source: str) -> Iterator[None]:
    """Map a refused signature or token to its status; the reason is logged, not hidden."""
    try:
        yield
    except SignatureMissing as err:
        log.warning("%s: refused, unsigned: %s", source, err)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(err)) from err
    except SignatureRejected as err:
        log.warning("%s: refused: %s", source, err)
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(err)) from err
    except NotConfigured as err:
        log.error("%s: cannot check requests: %s", source, err)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from err


async def publish_or_503(
    jetstream: JetStreamContext, settings: Settings, events: Sequence[Event]
) -> Published:
    try:
        return await publish_all(jetstream, settings, events)
    except nats.errors.Error as err:
        reason = str(err) or type(err).__name__
        log.warning("%d event(s) not all stored: %s", len(events), reason)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"events not stored: JetStream did not acknowledge ({reason}); retry",
        ) from err


async def _publish(
    jetstream: JetStreamContext,
    settings: Settings,
    source: str,
    received: int,
    translation: Translation,
) -> WebhookResult:
    if translation.unknown:
        log.warning(
            "%s: %d event(s) match no delivery; acknowledged, not published: %s",
            source,
            len(translation.unknown),
            ", ".join(translation.unknown[:10]),
        )
    published = await publish_or_503(jetstream, settings, translation.events)
    return WebhookResult(
        received=received,
        published=published.stored,
        duplicates=published.duplicates,
        ignored=translation.ignored,
        unknown_delivery=len(translation.unknown),
    )
