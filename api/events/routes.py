"""Segment's HTTP Tracking API: ``/v1/track``, ``identify``, ``page``, ``screen``, ``group``,
``alias`` and ``batch``, so Segment's libraries (and anything written against Segment) send here.

Acknowledged means stored (invariant 1). A 2xx is sent only once JetStream has acknowledged
*every* event of the request: they are published concurrently and all awaited. If any publish
fails, or NATS is down, the answer is a 503 asking for the same request again with the same
messageIds. Some of its events may be in the stream already, but each is published with
``Nats-Msg-Id = messageId``, so JetStream drops them on the retry (``duplicate`` in the answer)
within its dedup window (``dedup_window_seconds``), and the journeys' own messageId checks cover a
later retry (invariant 2). From the producer's side a request is accepted whole or not at all.

Validation is whole-request too (invariant 7): every event is checked (fields, Segment's size
limits) before anything is published, and one bad event fails the request with a 4xx naming it,
``["body", "batch", 3, "userId"]``. The checks, in order: the write key (401,
:mod:`api.ingest_auth`), the body's size and gzip (413, 400, 415, :mod:`api.events.body`), each
event's size in a batch (413), the fields (422), NATS (503).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, Body, Depends, HTTPException, Request, Security, status
from fastapi.exceptions import RequestValidationError
from nats.js import JetStreamContext
from nats.js.api import PubAck

from api.auth import basic_scheme, bearer_scheme
from api.deps import JetStreamDep, SettingsDep
from api.events.body import BATCH_LIMIT, EVENT_LIMIT, ingest_route, too_large
from api.events.schemas import (
    Accepted,
    AliasCall,
    BatchAccepted,
    BatchCall,
    GroupCall,
    IdentifyCall,
    PageCall,
    ScreenCall,
    TrackCall,
)
from journeys import metrics
from journeys.ingest import bus
from journeys.ingest.events import Event, EventTooLarge, InvalidEvent, TooDeep, encode_event
from journeys.metrics import IngestEventOutcome
from journeys.settings import Settings

log = logging.getLogger(__name__)

# What a failed publish raises: NATS errors (JetStream's included), timeouts, a dropped socket.
# Anything else is a bug and stays a 500.
PUBLISH_ERRORS = (nats.errors.Error, TimeoutError, OSError)

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No write key or API key, or an unknown or revoked one"},
    403: {"description": "An API key whose role may not send events (ingest or admin may)"},
    413: {"description": "Over Segment's limits: 32 KB per event, 500 KB per batch"},
    503: {"description": "Not stored: JetStream did not acknowledge; retry, same messageIds"},
}

# Request examples, as Segment's libraries send them (their `messageId` is the idempotency key).
_TRACK = {
    "userId": "c-42",
    "event": "Cart Abandoned",
    "properties": {"cart_id": "K9", "total": 19.9, "currency": "USD"},
    "messageId": "9d4e2f6a-3b1c-4f7e-8a2d-5c6b7e8f9a0b",
    "timestamp": "2026-03-01T09:00:00Z",
}
_IDENTIFY = {
    "userId": "c-42",
    "anonymousId": "anon-7",
    "traits": {
        "first_name": "Ada",
        "email": "ada@example.com",
        "phone": "+15550000001",
        "timezone": "Europe/Paris",
        "consent": {"email": True, "sms": False, "groups": {"newsletter": True}},
    },
}


def _examples(**named: tuple[str, dict[str, Any]]) -> Any:
    return Body(openapi_examples={k: {"summary": s, "value": v} for k, (s, v) in named.items()})


TRACK_EXAMPLES = _examples(
    cart=("A cart left behind: starts cart recovery", _TRACK),
    order=(
        "An order, with revenue for a goal",
        {"userId": "c-42", "event": "Order Completed", "properties": {"revenue": 42.5}},
    ),
)
IDENTIFY_EXAMPLES = _examples(
    identified=("A visitor signs up: anonymous id linked, traits and consent", _IDENTIFY)
)
PAGE_EXAMPLES = _examples(
    pricing=(
        "A page view",
        {"userId": "c-42", "name": "Pricing", "category": "Docs", "properties": {"path": "/p"}},
    )
)
SCREEN_EXAMPLES = _examples(
    checkout=("A mobile screen", {"anonymousId": "anon-7", "name": "Checkout", "properties": {}})
)
GROUP_EXAMPLES = _examples(
    account=(
        "The customer's account",
        {"userId": "c-42", "groupId": "acme", "traits": {"name": "Acme", "plan": "team"}},
    )
)
ALIAS_EXAMPLES = _examples(
    merge=("The anonymous visitor is c-42", {"previousId": "anon-7", "userId": "c-42"})
)
BATCH_EXAMPLES = _examples(
    two=(
        "An identify and a track in one request",
        {
            "batch": [
                {"type": "identify", **_IDENTIFY},
                {"type": "track", **_TRACK},
            ],
            "context": {"library": {"name": "analytics-python", "version": "2.3.0"}},
        },
    )
)

calls = APIRouter(route_class=ingest_route(EVENT_LIMIT, "one call"))
batches = APIRouter(route_class=ingest_route(BATCH_LIMIT, "a batch"))


async def publish_all(
    jetstream: JetStreamContext,
    settings: Settings,
    events: Sequence[Event],
    encoded: Sequence[bytes],
) -> list[PubAck]:
    """Every event's ack, or a 503 once all publishes have finished, if any of them failed."""
    results = await asyncio.gather(
        *(
            bus.publish_event(jetstream, settings, event, data)
            for event, data in zip(events, encoded, strict=True)
        ),
        return_exceptions=True,
    )
    acks: list[PubAck] = []
    failures: list[BaseException] = []
    for result in results:
        if not isinstance(result, BaseException):
            acks.append(result)
        elif isinstance(result, PUBLISH_ERRORS):
            failures.append(result)
        else:
            raise result
    duplicates = sum(1 for ack in acks if ack.duplicate)
    metrics.ingest_events(IngestEventOutcome.STORED, len(acks) - duplicates)
    metrics.ingest_events(IngestEventOutcome.DUPLICATE, duplicates)
    metrics.ingest_events(IngestEventOutcome.NOT_STORED, len(failures))
    if failures:
        reason = str(failures[0]) or type(failures[0]).__name__
        log.warning("%d of %d events not stored: %s", len(failures), len(events), reason)
        if len(events) == 1:
            detail = f"event not stored: JetStream did not acknowledge it ({reason})"
        else:
            detail = (
                f"{len(failures)} of {len(events)} events not stored: JetStream did not "
                f"acknowledge them ({reason}); the whole request is refused"
            )
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{detail}; retry with the same messageIds",
        )
    return acks


def encode_all(events: Sequence[Event], *, in_batch: bool) -> list[bytes]:
    """The bytes to store for each event, once the router's own check accepted them: 413 for
    an event over 32 KB as stored (messageId, timestamp and the rest filled in), 422 naming a
    field nested too deep. So a 2xx is an event the router will process."""
    encoded: list[bytes] = []
    for index, event in enumerate(events):
        where: list[str | int] = ["body", "batch", index] if in_batch else ["body"]
        what = f"batch[{index}]" if in_batch else "the event"
        try:
            encoded.append(encode_event(event))
        except EventTooLarge as err:
            raise too_large(
                f"{what} is {err.size} bytes as stored", EVENT_LIMIT, "one event"
            ) from err
        except TooDeep as err:
            raise RequestValidationError([_problem([*where, err.field], str(err))]) from err
        except InvalidEvent as err:
            raise RequestValidationError([_problem(where, str(err))]) from err
    return encoded


def _problem(loc: list[str | int], message: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": message, "input": None}


async def _accept(call: Event, jetstream: JetStreamContext, settings: Settings) -> Accepted:
    encoded = encode_all([call], in_batch=False)
    (ack,) = await publish_all(jetstream, settings, [call], encoded)
    return Accepted(messageId=call.message_id, duplicate=bool(ack.duplicate))


@calls.post("/track", responses=RESPONSES)
async def track(
    call: Annotated[TrackCall, TRACK_EXAMPLES], jetstream: JetStreamDep, settings: SettingsDep
) -> Accepted:
    """Something the customer did (``event``, ``properties``); journeys match on ``event``."""
    return await _accept(call, jetstream, settings)


@calls.post("/identify", responses=RESPONSES)
async def identify(
    call: Annotated[IdentifyCall, IDENTIFY_EXAMPLES], jetstream: JetStreamDep, settings: SettingsDep
) -> Accepted:
    """Who the customer is: ``traits`` (email, phone, consent...)."""
    return await _accept(call, jetstream, settings)


@calls.post("/page", responses=RESPONSES)
async def page(
    call: Annotated[PageCall, PAGE_EXAMPLES], jetstream: JetStreamDep, settings: SettingsDep
) -> Accepted:
    """A page view: optional ``name`` and ``category``, the page in ``properties``."""
    return await _accept(call, jetstream, settings)


@calls.post("/screen", responses=RESPONSES)
async def screen(
    call: Annotated[ScreenCall, SCREEN_EXAMPLES], jetstream: JetStreamDep, settings: SettingsDep
) -> Accepted:
    """A mobile screen view, like ``page``."""
    return await _accept(call, jetstream, settings)


@calls.post("/group", responses=RESPONSES)
async def group(
    call: Annotated[GroupCall, GROUP_EXAMPLES], jetstream: JetStreamDep, settings: SettingsDep
) -> Accepted:
    """The account (``groupId``) the customer belongs to; ``traits`` describe the group."""
    return await _accept(call, jetstream, settings)


@calls.post("/alias", responses=RESPONSES)
async def alias(
    call: Annotated[AliasCall, ALIAS_EXAMPLES], jetstream: JetStreamDep, settings: SettingsDep
) -> Accepted:
    """``previousId`` (often the anonymousId) and ``userId`` are the same customer."""
    return await _accept(call, jetstream, settings)


async def each_event_within_limit(request: Request) -> None:
    """413 naming the first event over 32 KB, measured as sent (compact JSON), before the
    fields are validated: an oversized event is refused whatever else is wrong with it."""
    try:
        body = await request.json()
    except ValueError:
        return  # not JSON (or nested too deep to parse): FastAPI's own validation says so
    items = body.get("batch") if isinstance(body, dict) else None
    for index, item in enumerate(items if isinstance(items, list) else []):
        size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())
        if size > EVENT_LIMIT:
            raise too_large(f"batch[{index}] is {size} bytes", EVENT_LIMIT, "one event")


@batches.post("/batch", responses=RESPONSES, dependencies=[Depends(each_event_within_limit)])
async def batch(
    call: Annotated[BatchCall, BATCH_EXAMPLES], jetstream: JetStreamDep, settings: SettingsDep
) -> BatchAccepted:
    """Several calls at once, each with its ``type``; all stored, or none acknowledged."""
    encoded = encode_all(call.batch, in_batch=True)
    acks = await publish_all(jetstream, settings, call.batch, encoded)
    return BatchAccepted(
        messageIds=[event.message_id for event in call.batch],
        duplicates=[
            event.message_id for event, ack in zip(call.batch, acks, strict=True) if ack.duplicate
        ],
    )


# Declared for OpenAPI only: the route class checks the key before the body is read.
router = APIRouter(
    prefix="/v1", tags=["events"], dependencies=[Security(basic_scheme), Security(bearer_scheme)]
)
router.include_router(calls)
router.include_router(batches)
