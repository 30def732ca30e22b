"""The customers resource's bodies: a search's matches, a customer's runs with their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.runs.out import RunOut
from journeys.vocabulary import AuditKind, DeliveryStatus


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel: str
    template: str
    template_version: int | None
    step: str
    status: DeliveryStatus
    reason: str
    recipient: str | None
    subject: str | None
    body: str | None
    provider_message_id: str | None
    requested_at: datetime


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    kind: AuditKind
    reason: str
    step: str | None
    data: dict[str, Any]
    occurred_at: datetime


class CurrentStep(BaseModel):
    kind: str
    description: str
    since: datetime
    until: datetime | None


class JourneyRunOut(RunOut):
    """A run with its raw deliveries and audit rows; the timeline routes tell the same story
    as sentences (api/timelines/routes.py)."""

    model_config = ConfigDict(json_schema_extra={})

    temporal_ui: str
    current_step: CurrentStep | None
    deliveries: list[DeliveryOut]
    timeline: list[AuditOut]


class CustomerJourneys(BaseModel):
    customer_id: str = Field(description="Masked if it holds contact details you may not see")
    customer_ref: str = Field(description="The customer in paths: the id, or a `cref_` reference")
    traits: dict[str, Any]
    runs: list[JourneyRunOut]


class CustomerMatchOut(BaseModel):
    customer_id: str = Field(
        description="the canonical id (an alias searched for finds it), masked unless admin if "
        "it holds an email address or phone number"
    )
    customer_ref: str = Field(
        description="the customer in paths: the id, or an opaque `cref_` reference if masked"
    )
    matched: str = Field(description="what matched: id, email or phone")
    email: str | None = Field(description="the profile's email, masked unless admin")
    phone: str | None = Field(description="the profile's phone, masked unless admin")
    timeline: str = Field(description="the path of the customer's timeline")


class CustomerSearch(BaseModel):
    customers: list[CustomerMatchOut] = Field(description="an id match first, then by id")
