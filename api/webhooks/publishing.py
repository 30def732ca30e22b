"""Delivery events from outside, checked, kept and published: the providers' webhooks and our
own tracking links (:mod:`api.tracking`) share these steps.

A signature or token we cannot accept is answered by :func:`refusals` (401, 403, or 503 when
unconfigured); a report the router would refuse is a 422 before anything is stored
(:func:`check_publishable`); events are kept against their deliveries for support's timelines
(:func:`record_events`), and published with a 503 when JetStream does not acknowledge them
(:func:`publish_or_503`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import nats.errors
from fastapi import HTTPException, status
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.ingest.events import Event, InvalidEvent, encode_event
from journeys.ingest.webhooks.errors import NotConfigured, SignatureMissing, SignatureRejected
from journeys.ingest.webhooks.publishing import Published, publish_all
from journeys.ingest.webhooks.recording import record_delivery_events
from journeys.settings import Settings

log = logging.getLogger(__name__)


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


async def record_events(session: AsyncSession, events: Sequence[Event]) -> None:
    """Keep the events against their deliveries, committed; a retry stores nothing twice."""
    await record_delivery_events(session, events)
    await session.commit()


def check_publishable(events: Sequence[Event]) -> None:
    """422 for a report whose event the router would refuse (over 32 KB, nested too deep):
    refused whole, before anything is stored, rather than acknowledged and dead-lettered."""
    for index, event in enumerate(events):
        try:
            encode_event(event)
        except InvalidEvent as err:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"event {index} ({event.message_id}) cannot be stored: {err}",
            ) from err
