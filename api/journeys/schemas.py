"""The journeys resource's bodies: a journey, its versions, drafts, validation and diffs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from journeys.vocabulary import JourneyKind, JourneyStatus

EXAMPLE_DOCUMENT: dict[str, Any] = {
    "key": "cart-recovery-lite",
    "name": "Cart recovery (lite)",
    "trigger": {"event": "Cart Abandoned", "where": "event.properties.total > 20"},
    "entry": {"reentry": "after_exit", "cooldown": "1d", "key": "event.properties.cart_id"},
    "exit_on": [{"event": "Order Completed"}],
    "steps": [
        {"id": "pause", "type": "delay", "duration": "15m"},
        {"id": "nudge", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
    ],
}


class JourneyProblemOut(BaseModel):
    """One thing wrong with a definition: ``step`` is ``null`` for the journey's own fields."""

    step: str | None
    field: str
    message: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "step": "nudge",
                    "field": "template",
                    "message": "there is no sms template named 'cart_sms'",
                }
            ]
        }
    )


class ProblemsOut(BaseModel):
    detail: list[JourneyProblemOut]


class JourneyVersionSummary(BaseModel):
    """One published version; immutable."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    kind: JourneyKind = Field(description="`definition` (declarative) or `code`")
    workflow_type: str
    trigger_event: str
    exit_events: list[str]
    listens_to: list[str]
    description: str
    published_at: datetime | None = Field(
        description="When published; for a code journey, when a worker first registered it"
    )
    created_at: datetime


class VersionOut(JourneyVersionSummary):
    key: str
    document: dict[str, Any] | None = Field(
        description="The journey as published, normalised; `null` for a code journey without one"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "version": 2,
                    "kind": "definition",
                    "workflow_type": "DefinitionJourney",
                    "trigger_event": "Cart Abandoned",
                    "exit_events": ["Order Completed"],
                    "listens_to": [],
                    "description": "",
                    "published_at": "2026-11-23T10:00:00Z",
                    "created_at": "2026-11-23T10:00:00Z",
                    "document": EXAMPLE_DOCUMENT,
                }
            ]
        }
    )


class PublishedOut(VersionOut):
    created: bool = Field(description="False when the draft equalled the latest version")


class JourneySummary(BaseModel):
    """A journey and its latest version, as the router routes it (when ``status`` is active)."""

    key: str
    kind: JourneyKind = Field(description="`definition` (declarative) or `code`")
    status: JourneyStatus
    version: int | None = Field(description="The latest version; `null` before the first publish")
    workflow_type: str | None
    trigger_event: str | None
    exit_events: list[str]
    listens_to: list[str]
    description: str
    published_at: datetime | None
    has_draft: bool = Field(description="Changes saved, not yet published")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "kind": "definition",
                    "status": "active",
                    "version": 2,
                    "workflow_type": "DefinitionJourney",
                    "trigger_event": "Cart Abandoned",
                    "exit_events": ["Order Completed"],
                    "listens_to": [],
                    "description": "",
                    "published_at": "2026-11-23T10:00:00Z",
                    "has_draft": False,
                }
            ]
        }
    )


class JourneyOut(BaseModel):
    key: str
    kind: JourneyKind = Field(description="`definition` (declarative) or `code`")
    status: JourneyStatus
    entries: int = Field(description="Customers entered so far, across versions")
    latest_version: int | None
    draft: dict[str, Any] | None = Field(description="The draft, validated and normalised")
    draft_updated_at: datetime | None
    versions: list[JourneyVersionSummary] = Field(description="Every version, newest first")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "kind": "definition",
                    "status": "paused",
                    "entries": 0,
                    "latest_version": None,
                    "draft": EXAMPLE_DOCUMENT,
                    "draft_updated_at": "2026-11-23T09:55:00Z",
                    "versions": [],
                }
            ]
        }
    )


class DraftOut(JourneyOut):
    created: bool = Field(description="True when this draft created the journey")


class StatusOut(JourneyOut):
    changed: bool = Field(description="False when the journey already had this status")


class JourneyValidationOut(BaseModel):
    valid: bool
    problems: list[JourneyProblemOut]
    document: dict[str, Any] | None = Field(description="The document normalised, if valid")


class ChangeOut(BaseModel):
    """One change; ``from`` is absent for ``added``, ``to`` for ``removed``."""

    model_config = ConfigDict(populate_by_name=True)

    path: str = Field(description="`steps.<step id>.<field>`, `entry.cooldown`, `exit_on[0]`...")
    change: Literal["added", "removed", "changed", "reordered"]
    from_: Any = Field(default=None, alias="from")
    to: Any = None


class DiffOut(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "from": "1",
                    "to": "2",
                    "changes": [
                        {
                            "path": "steps.nudge.template",
                            "change": "changed",
                            "from": "cart_recovery_sms",
                            "to": "cart_recovery_sms_v2",
                        },
                        {"path": "entry.cooldown", "change": "removed", "from": "1d"},
                    ],
                }
            ]
        },
    )

    key: str
    from_: str = Field(alias="from", description="A version number, or `draft`")
    to: str
    changes: list[ChangeOut]
