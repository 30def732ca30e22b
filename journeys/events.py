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

from journeys.contracts import JourneyEvent

# Segment's limit for one event, kept for events published straight to NATS too.
MAX_EVENT_BYTES = 32 * 1024

EventType = Literal["track", "identify", "page", "screen", "group", "alias"]
_SLUG = re.compile(r"[^a-z0-9]+")


class InvalidEvent(ValueError):
    """An event that can never be processed; the message names the field at fault."""


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
