"""Open pixel and click redirect: the signed links of :mod:`journeys.ingest.tracking`, turned into
events.

A token we did not sign, or one altered since, gets a 403 and never a redirect. The pixel follows
invariant 1 (an image only once the "Email Opened" event is stored, else 503). The click does
not: the person clicking must reach the page whether or not NATS is up, and a browser would not
retry a 503 anyway, so a click JetStream did not acknowledge is logged as lost and redirected.
Opens and clicks are also kept against their delivery (``delivery_events``) for support's
timelines, before they are published; a click the store cannot keep is logged and redirected.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import nats.errors
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import SQLAlchemyError

from api.deps import JetStreamDep, NatsDep, SessionDep, SettingsDep, jetstream_if_connected
from api.webhooks.publishing import publish_or_503, record_events, refusals
from journeys.ingest import tracking
from journeys.ingest.webhooks import names
from journeys.ingest.webhooks.mapping import deliveries_by_id, delivery_event
from journeys.ingest.webhooks.publishing import publish_all

log = logging.getLogger(__name__)

router = APIRouter(prefix="/t", tags=["tracking"])

# The smallest transparent GIF: 1x1, one transparent palette entry.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
# Every load must reach us, not a browser or proxy cache.
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


@router.get(
    "/o/{token}",
    response_class=Response,
    responses={
        200: {"content": {"image/gif": {}}, "description": "1x1 transparent GIF"},
        403: {"description": "Not a token we signed"},
        503: {"description": "The open was not stored"},
    },
)
async def open_pixel(
    token: str, settings: SettingsDep, session: SessionDep, jetstream: JetStreamDep
) -> Response:
    """The open pixel of a tracked email (`JOURNEYS_EMAIL_TRACKING`): records "Email Opened"
    for the delivery the signed token names, then answers a 1x1 GIF. Public: the token is the
    credential."""
    with refusals("open pixel"):
        delivery_id = tracking.verify_open_token(settings, token)
    now = datetime.now(UTC)
    delivery = (await deliveries_by_id(session, [delivery_id])).get(delivery_id)
    if delivery is None:
        log.warning("open pixel: delivery %s unknown; not published", delivery_id)
    else:
        event = delivery_event(
            delivery,
            names.EMAIL_OPENED,
            message_id=tracking.open_message_id(delivery_id, now),
            source=names.SOURCE_TRACKING,
            timestamp=now,
        )
        await record_events(session, [event])
        await publish_or_503(jetstream, settings, [event])
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get(
    "/c/{token}",
    response_class=RedirectResponse,
    status_code=302,
    responses={
        302: {"description": "To the signed URL"},
        403: {"description": "Not a token we signed"},
    },
)
async def click(
    token: str, request: Request, settings: SettingsDep, session: SessionDep, connection: NatsDep
) -> RedirectResponse:
    """A tracked link: records "Email Link Clicked" for the delivery and redirects to the URL
    the signed token holds (never to any other). Public: the token is the credential."""
    with refusals("click"):
        target = tracking.verify_click_token(settings, token)
    now = datetime.now(UTC)
    delivery = (await deliveries_by_id(session, [target.delivery_id])).get(target.delivery_id)
    if delivery is None:
        log.warning("click: delivery %s unknown; not published", target.delivery_id)
    else:
        event = delivery_event(
            delivery,
            names.EMAIL_LINK_CLICKED,
            message_id=tracking.click_message_id(target, now),
            source=names.SOURCE_TRACKING,
            timestamp=now,
            url=target.url,
        )
        try:
            await record_events(session, [event])
        except SQLAlchemyError as err:
            await session.rollback()
            log.error("click %s not kept against its delivery: %s", event.message_id, err)
        jetstream = jetstream_if_connected(request, connection)
        try:
            if jetstream is None:
                raise ConnectionError("not connected to NATS")
            await publish_all(jetstream, settings, [event])
        except (nats.errors.Error, ConnectionError) as err:
            log.error("click %s lost, redirected anyway: %s", event.message_id, err)
    return RedirectResponse(target.url, status_code=302, headers=NO_STORE)
