"""``/u/<token>``: one-click unsubscribe (RFC 8058) and the preference centre, no login.

The signed token (:mod:`journeys.delivery.unsubscribe`) is the credential, so these routes are
public and need no CSRF token of their own: a page can only post a change for a link its author
already holds. A link we did not sign, or altered, is a 403; an expired one a 410; neither
changes anything. ``GET`` never changes anything either (mail scanners follow links): a change
is a ``POST``, published as an event that the router's consent stage records
(:mod:`api.unsubscribe.preferences`), answered only once JetStream has stored it (else 503, and
a mailbox provider retries its one-click POST).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from api.deps import JetStreamDep, SessionDep, SettingsDep
from api.unsubscribe.page import message_page, preference_page
from api.unsubscribe.preferences import (
    MAX_FIELDS,
    SOURCE_PREFERENCE_CENTRE,
    InvalidChoice,
    Subscription,
    change_events,
    chosen,
    one_click_event,
    subscriptions,
)
from api.webhooks.publishing import publish_or_503
from journeys.delivery import unsubscribe
from journeys.delivery.unsubscribe import ExpiredToken, Recipient
from journeys.ingest.tracking import InvalidToken
from journeys.ingest.webhooks.errors import NotConfigured
from journeys.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix=unsubscribe.PATH, tags=["unsubscribe"])

_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not a link we signed, or one altered since"},
    410: {"description": "A link older than JOURNEYS_UNSUBSCRIBE_LINK_MAX_AGE_DAYS"},
    503: {"description": "The change was not stored (JetStream), or no signing secret"},
}


class Refused(Exception):
    def __init__(self, response: HTMLResponse) -> None:
        self.response = response


def _recipient(settings: Settings, token: str) -> Recipient:
    try:
        return unsubscribe.verify(settings, token)
    except ExpiredToken as err:
        log.info("unsubscribe link refused: %s", err)
        raise Refused(message_page("This link has expired", str(err), 410)) from err
    except InvalidToken as err:
        log.warning("unsubscribe link refused: %s", err)
        message = "This link is not one we sent, or it was changed. Nothing was changed."
        raise Refused(message_page("This link is not valid", message, 403)) from err
    except NotConfigured as err:
        log.error("unsubscribe links cannot be checked: %s", err)
        message = "Unsubscribing is unavailable right now; please try again later."
        raise Refused(message_page("Unavailable", message, 503)) from err


async def _form(request: Request) -> dict[str, list[str]]:
    """The posted form, urlencoded or multipart (RFC 8058 allows both), as text fields."""
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except HTTPException as err:  # malformed multipart, too many fields
        raise Refused(message_page("Not a form", str(err.detail), 400)) from err
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise Refused(message_page("Not a form", f"{name}: files are not taken", 422))
        fields.setdefault(name, []).append(value)
    return fields


@router.post("/{token}", response_class=HTMLResponse, responses=_REFUSED)
async def one_click(
    token: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    jetstream: JetStreamDep,
) -> HTMLResponse:
    """RFC 8058 one-click unsubscribe, the ``List-Unsubscribe`` URL: the body is
    ``List-Unsubscribe=One-Click``. Leaves the link's subscription group when it names one,
    else its channel's marketing (which ends the customer's running marketing journeys).
    Idempotent; 200 once the change is stored as an event."""
    try:
        recipient = _recipient(settings, token)
        form = await _form(request)
    except Refused as refused:
        return refused.response
    if form.get("List-Unsubscribe") != ["One-Click"]:
        return message_page(
            "Not a one-click unsubscribe",
            "List-Unsubscribe: the body must be List-Unsubscribe=One-Click (RFC 8058)",
            422,
        )
    offered = await subscriptions(session, settings, recipient)
    event = one_click_event(recipient, offered, datetime.now(UTC))
    await publish_or_503(jetstream, settings, [event])
    if recipient.group:
        done = f"You left the {recipient.group!r} list."
    else:
        done = f"You will get no more marketing {recipient.channel}."
    link = f"{token}/{unsubscribe.PREFERENCES}"  # relative: behind any proxy prefix
    return message_page("You are unsubscribed", done, 200, link=link)


@router.get("/{token}", response_class=HTMLResponse, responses=_REFUSED)
async def unsubscribe_page(token: str, settings: SettingsDep, session: SessionDep) -> HTMLResponse:
    """The page a reader reaches by clicking ``unsubscribe_url``: a one-click button and the
    preference centre. Changes nothing by itself."""
    return await _page(token, settings, session, on_preferences=False)


@router.get(
    f"/{{token}}/{unsubscribe.PREFERENCES}", response_class=HTMLResponse, responses=_REFUSED
)
async def preferences_page(token: str, settings: SettingsDep, session: SessionDep) -> HTMLResponse:
    """The preference centre, ``preferences_url``: each channel and subscription group with
    its current state, to leave or to come back to."""
    return await _page(token, settings, session, on_preferences=True)


@router.post(
    f"/{{token}}/{unsubscribe.PREFERENCES}", response_class=HTMLResponse, responses=_REFUSED
)
async def save_preferences(
    token: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    jetstream: JetStreamDep,
) -> HTMLResponse:
    """The preference centre's form: ``channel:<name>`` and ``group:<name>`` fields, each
    ``subscribed`` or ``unsubscribed``; a field left out keeps its state. Each change is
    published as an event; the page answers with the state as saved."""
    try:
        recipient = _recipient(settings, token)
        form = await _form(request)
    except Refused as refused:
        return refused.response
    offered = await subscriptions(session, settings, recipient)
    try:
        after = chosen(offered, form)
    except InvalidChoice as err:
        return message_page("Not saved", str(err), 422)
    events = change_events(
        recipient, offered, after, source=SOURCE_PREFERENCE_CENTRE, at=datetime.now(UTC)
    )
    if events:
        await publish_or_503(jetstream, settings, events)
    notice = "Your preferences are saved." if events else "Nothing changed."
    return _render(token, recipient, after, on_preferences=True, notice=notice)


async def _page(
    token: str, settings: Settings, session: SessionDep, *, on_preferences: bool
) -> HTMLResponse:
    try:
        recipient = _recipient(settings, token)
    except Refused as refused:
        return refused.response
    subs = await subscriptions(session, settings, recipient)
    return _render(token, recipient, subs, on_preferences=on_preferences)


def _render(
    token: str,
    recipient: Recipient,
    subs: list[Subscription],
    *,
    on_preferences: bool,
    notice: str | None = None,
) -> HTMLResponse:
    """The page at ``/u/<token>`` or, ``on_preferences``, ``/u/<token>/preferences``. Its forms
    post to relative URLs, so the page works under whatever prefix a proxy serves the API at."""
    label = (
        f"Leave the {recipient.group!r} list"
        if recipient.group
        else f"Unsubscribe from all marketing {recipient.channel}"
    )
    return preference_page(
        subs,
        title="Your email preferences" if on_preferences else "Unsubscribe",
        notice=notice,
        unsubscribe_all=label,
        unsubscribe_action=f"../{token}" if on_preferences else token,
        preferences_action=unsubscribe.PREFERENCES
        if on_preferences
        else f"{token}/{unsubscribe.PREFERENCES}",
    )
