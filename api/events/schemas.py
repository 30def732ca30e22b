"""The bodies of Segment's HTTP Tracking API calls, as pydantic models over :class:`Event`.

A single-call endpoint decides the call's type, as Segment's do (``/v1/track`` tracks, whatever
``type`` says); a batch item must say its own. A batch's top-level ``context``, ``integrations``
and ``sentAt`` apply to each of its events, the event's own values winning. ``writeKey``, which
Segment's libraries also put in the body, is never kept: it must not end up in the stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from journeys.ingest.events import Event, EventType

WRITE_KEY_FIELD = "writeKey"


class _Call(Event):
    @model_validator(mode="before")
    @classmethod
    def _typed_by_the_endpoint(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kept = {key: value for key, value in data.items() if key != WRITE_KEY_FIELD}
        return {**kept, "type": cls.model_fields["type"].default}


class TrackCall(_Call):
    type: Literal["track"] = "track"


class IdentifyCall(_Call):
    type: Literal["identify"] = "identify"


class PageCall(_Call):
    type: Literal["page"] = "page"


class ScreenCall(_Call):
    type: Literal["screen"] = "screen"


class GroupCall(_Call):
    type: Literal["group"] = "group"


class AliasCall(_Call):
    type: Literal["alias"] = "alias"


class BatchItem(Event):
    """One event of a batch: its ``type`` is required, it says which call it is."""

    type: EventType

    @model_validator(mode="before")
    @classmethod
    def _no_write_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and WRITE_KEY_FIELD in data:
            return {key: value for key, value in data.items() if key != WRITE_KEY_FIELD}
        return data


class BatchCall(BaseModel):
    """``{"batch": [...], "context"?, "integrations"?, "sentAt"?}``; other top-level fields,
    ``writeKey`` among them, are dropped."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    batch: list[BatchItem]
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime | None = Field(default=None, alias="sentAt")

    @model_validator(mode="before")
    @classmethod
    def _shared_fields_into_each_event(cls, data: Any) -> Any:
        """Done on the raw items, so each event is validated, and stored, as it will be used."""
        if not isinstance(data, dict) or not isinstance(data.get("batch"), list):
            return data
        shared = {
            name: data[name]
            for name in ("context", "integrations")
            if isinstance(data.get(name), dict)
        }
        sent_at = data.get("sentAt")
        items = []
        for item in data["batch"]:
            if isinstance(item, dict):
                item = {**item}
                for name, value in shared.items():
                    if isinstance(item.get(name, {}), dict):
                        item[name] = merged(value, item.get(name, {}))
                if sent_at is not None:
                    item.setdefault("sentAt", sent_at)
            items.append(item)
        return {**data, "batch": items}


def merged(shared: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """``own`` over ``shared``, nested objects merged key by key (``context.library`` from the
    batch, ``context.traits`` from the event)."""
    result = dict(shared)
    for key, value in own.items():
        base = result.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            value = merged(base, value)
        result[key] = value
    return result


class Accepted(BaseModel):
    success: bool = True
    message_id: str = Field(alias="messageId")
    duplicate: bool = Field(description="JetStream already held this messageId; nothing re-sent")


class BatchAccepted(BaseModel):
    success: bool = True
    message_ids: list[str] = Field(alias="messageIds", description="In the batch's order")
    duplicates: list[str] = Field(
        description="The messageIds JetStream already held (a retry); they were not re-sent"
    )
