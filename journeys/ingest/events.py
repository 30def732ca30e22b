"""The event envelope (Segment tracking spec) and how it maps to NATS subjects.

``messageId`` is the idempotency key end to end: it becomes the JetStream ``Nats-Msg-Id`` and the
workflow's dedup key. Unknown Segment fields (``integrations``, ``sentAt``, ...) are kept, not lost.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticSerializationError

from journeys.contracts import JourneyEvent

# Segment's limit for one event, kept for events published straight to NATS too. Measured on
# the bytes in the stream, so after the API filled in messageId, timestamp and the rest.
MAX_EVENT_BYTES = 32 * 1024
# How deeply a field's value may nest objects and arrays (``properties: {"a": [1]}`` is 2 deep).
# Far below what the JSON parsers and serialisers refuse (about 200 and 255 levels), so an
# event deeper than this is refused with the field named, by the API and the router alike.
MAX_DEPTH = 32

EventType = Literal["track", "identify", "page", "screen", "group", "alias"]
_SLUG = re.compile(r"[^a-z0-9]+")


class InvalidEvent(ValueError):
    """An event that can never be processed; the message names the field at fault."""


class EventTooLarge(InvalidEvent):
    """An event over :data:`MAX_EVENT_BYTES` as it would be stored in the stream."""

    def __init__(self, size: int) -> None:
        super().__init__(f"event is {size} bytes, over the {MAX_EVENT_BYTES}-byte limit")
        self.size = size


class TooDeep(InvalidEvent):
    """A field nesting objects and arrays deeper than :data:`MAX_DEPTH`."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: nested deeper than {MAX_DEPTH} levels")
        self.field = field


class Event(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, str_strip_whitespace=True)

    type: EventType = "track"
    # validate_default: these fields are checked even when absent, so an error names them.
    event: str | None = Field(default=None, min_length=1, max_length=200, validate_default=True)
    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        alias="userId",
        validation_alias=AliasChoices("userId", "user_id"),
        validate_default=True,
    )
    anonymous_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        alias="anonymousId",
        validation_alias=AliasChoices("anonymousId", "anonymous_id"),
        validate_default=True,
    )
    message_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()),
        min_length=1,
        max_length=200,
        alias="messageId",
        validation_alias=AliasChoices("messageId", "message_id"),
    )
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    # alias: the id the customer had before (an anonymousId, or an older userId).
    previous_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        alias="previousId",
        validation_alias=AliasChoices("previousId", "previous_id"),
        validate_default=True,
    )
    # group: the account the customer belongs to.
    group_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        alias="groupId",
        validation_alias=AliasChoices("groupId", "group_id"),
        validate_default=True,
    )
    # page and screen: their name on the wire is `name`, which is taken by the `name` property
    # journeys match on (always the call type for these calls).
    page_name: str | None = Field(
        default=None, max_length=500, alias="name", validation_alias="name"
    )
    category: str | None = Field(default=None, max_length=500)

    @field_validator(
        "user_id", "anonymous_id", "message_id", "previous_id", "group_id", mode="before"
    )
    @classmethod
    def _integer_ids_as_strings(cls, value: Any) -> Any:
        """Segment's libraries send integer ids as strings; accept them from raw HTTP too.

        Anything else that is not a string (a boolean, a float, an object) stays an error: an id
        that changes with its formatting would split one customer in two.
        """
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("event")
    @classmethod
    def _track_needs_a_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == "track" and not value:
            raise ValueError("event is required for a track call")
        return value

    @field_validator("user_id", mode="after")
    @classmethod
    def _alias_needs_the_new_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == "alias" and not value:
            raise ValueError("userId is required for an alias call")
        return value

    @field_validator("anonymous_id")
    @classmethod
    def _someone(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A userId that failed its own checks is absent from info.data and already reported.
        if not value and "user_id" in info.data and not info.data["user_id"]:
            raise ValueError("userId or anonymousId is required")
        return value

    @field_validator("previous_id")
    @classmethod
    def _alias_needs_the_old_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == "alias" and not value:
            raise ValueError("previousId is required for an alias call")
        return value

    @field_validator("group_id")
    @classmethod
    def _group_needs_its_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == "group" and not value:
            raise ValueError("groupId is required for a group call")
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @property
    def customer_id(self) -> str:
        return self.user_id or self.anonymous_id or ""

    @property
    def name(self) -> str:
        """The name journeys match on: the track event's name, or the call type otherwise."""
        return self.event if self.type == "track" and self.event else self.type

    @property
    def partition_key(self) -> str:
        """What orders events: one customer's events share a partition, so a consumer of that
        partition sees them in the order they were published."""
        return self.customer_id

    @property
    def subject_tail(self) -> str:
        """The subject after ``events.<partition>.``: ``track.cart_abandoned``, ``identify``..."""
        if self.type == "track":
            return f"track.{slug(self.name)}"
        return self.type

    def all_traits(self) -> dict[str, Any]:
        """Traits carried by the call: ``traits`` for identify, ``context.traits`` for the rest."""
        nested = self.context.get("traits")
        merged = dict(nested) if isinstance(nested, dict) else {}
        if self.type != "group":  # a group call's traits describe the group, not the customer
            merged.update(self.traits)
        return merged

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    def to_journey_event(self) -> JourneyEvent:
        return JourneyEvent(
            name=self.name,
            message_id=self.message_id,
            customer_id=self.customer_id,
            timestamp=self.timestamp,
            properties=self.properties,
            traits=self.all_traits(),
        )


def slug(name: str) -> str:
    """``Cart Abandoned`` -> ``cart_abandoned``: a NATS-safe subject token."""
    token = _SLUG.sub("_", name.lower()).strip("_")
    return token or "unnamed"


def parse_event(raw: bytes) -> Event:
    """Decode one wire message, raising :class:`InvalidEvent` with a reason naming the field."""
    try:
        return Event.model_validate_json(raw)
    except ValidationError as err:
        raise InvalidEvent(describe_validation_error(err)) from err


def decode_event(raw: bytes) -> Event:
    """The router's whole check of one stream message: its size, then its fields, then how
    deep they nest. Publishers run it on what they are about to publish (:func:`encode_event`),
    so whatever they store the router will process, and anything the router would refuse is
    refused before it is stored."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventTooLarge(len(raw))
    event = parse_event(raw)
    check_depth(event)
    return event


def encode_event(event: Event) -> bytes:
    """The bytes to publish for ``event``, once :func:`decode_event` accepted them; raises
    :class:`InvalidEvent` (:class:`EventTooLarge`) for an event the router would refuse."""
    check_depth(event)
    try:
        raw = event.to_json()
    except PydanticSerializationError as err:
        raise InvalidEvent(f"the event cannot be written as JSON: {err}") from err
    decode_event(raw)
    return raw


def check_depth(event: Event) -> None:
    """Raise :class:`InvalidEvent` naming the first field nesting deeper than :data:`MAX_DEPTH`."""
    fields = {"properties": event.properties, "traits": event.traits, "context": event.context}
    for name, value in {**fields, **(event.model_extra or {})}.items():
        if _deeper_than(value, MAX_DEPTH):
            raise TooDeep(name)


def _deeper_than(value: Any, levels: int) -> bool:
    """Whether ``value`` nests more than ``levels`` containers; stops descending past the
    limit, so the recursion is bounded by it whatever the value."""
    if not isinstance(value, dict | list):
        return False
    if levels == 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_deeper_than(child, levels - 1) for child in children)


def describe_validation_error(err: ValidationError) -> str:
    """One line naming each field at fault by its wire name (``userId``, not ``user_id``)."""
    parts = []
    for issue in err.errors():
        loc = [wire_name(str(p)) if i == 0 else str(p) for i, p in enumerate(issue["loc"])]
        parts.append(f"{'.'.join(loc) or 'body'}: {issue['msg']}")
    return "; ".join(parts)


def wire_name(field: str) -> str:
    """The name a producer uses for an envelope field: ``user_id`` -> ``userId``."""
    return _WIRE_NAMES.get(field, field)


_WIRE_NAMES = {name: field.alias for name, field in Event.model_fields.items() if field.alias}
