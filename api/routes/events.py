"""Segment-spec event ingestion: an event is acknowledged only once JetStream has stored it.

A 2xx is a promise that the event will be processed (invariant 1), so every failure to get
JetStream's ack is a 503 the producer should retry with the same ``messageId``; the stream's
dedup window makes that retry harmless (invariant 2).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import nats.errors
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, model_validator

from api.deps import JetStreamDep
from journeys import bus
from journeys.events import Event

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["events"])


class TrackCall(Event):
    """A track call; whatever ``type`` the producer sent, this endpoint only tracks."""

    type: Literal["track"] = "track"

    @model_validator(mode="before")
    @classmethod
    def _force_track(cls, data: Any) -> Any:
        return {**data, "type": "track"} if isinstance(data, dict) else data


class Accepted(BaseModel):
    success: bool = True
    message_id: str = Field(alias="messageId")
    duplicate: bool = Field(description="JetStream already held this messageId; nothing re-sent")


@router.post(
    "/track",
    responses={503: {"description": "Not stored: JetStream did not acknowledge; retry"}},
)
async def track(call: TrackCall, jetstream: JetStreamDep) -> Accepted:
    try:
        ack = await bus.publish_event(jetstream, call)
    except nats.errors.Error as err:
        reason = str(err) or type(err).__name__
        log.warning("event %s not stored: %s", call.message_id, reason)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"event not stored: JetStream did not acknowledge it ({reason}); "
            "retry with the same messageId",
        ) from err
    return Accepted(messageId=call.message_id, duplicate=bool(ack.duplicate))
