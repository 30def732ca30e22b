"""The timelines' bodies: a run's or a customer's story, entry by entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.runs.out import RunOut
from journeys.insight.timeline_entries import EntryKind
from journeys.vocabulary import AuditKind


class EntryOut(BaseModel):
    at: datetime
    kind: AuditKind | EntryKind = Field(
        description="The audit row's kind (a message's keeps its delivery's status), or what "
        "no audit row tells: a refused entry, a message still being sent, the run's end"
    )
    step: str | None = Field(description="the step it concerns, when it concerns one")
    summary: str = Field(description="the sentence support reads")
    detail: dict[str, Any] = Field(
        description="the facts behind it: a message's rendered subject, body and html, "
        "provider id and status, opens, clicks and their events; a skip's code..."
    )


class RunTimelineOut(RunOut):
    # The run list's example lacks the timeline's fields: not this model's example.
    model_config = ConfigDict(json_schema_extra={})

    temporal_ui: str = Field(description="the run's event history in the Temporal Web UI")
    entries: list[EntryOut]


class CustomerTimelineOut(BaseModel):
    customer_id: str = Field(
        description="the canonical id (the one asked for may be an alias), masked if it holds "
        "contact details you may not see"
    )
    customer_ref: str = Field(description="The customer in paths: the id, or a `cref_` reference")
    aliases: list[str] = Field(description="other ids this customer's events came under")
    has_profile: bool
    traits: dict[str, Any]
    runs: list[RunTimelineOut] = Field(description="newest first")
