"""The privacy routes' bodies: a customer's export (every row kept about them) and erasure."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.params import NO_NUL
from journeys.vocabulary import AuditKind, ConsentStatus, DeliveryStatus, RunStatus


class _Row(BaseModel):
    """A stored row with every column it has; columns added later come through as well."""

    model_config = ConfigDict(extra="allow")


class ProfileExport(_Row):
    id: str
    traits: dict[str, Any]
    email: str | None
    phone: str | None
    timezone: str | None
    created_at: str
    updated_at: str


class AliasExport(_Row):
    alias_id: str
    customer_id: str
    source: str
    created_at: str


class ConsentExport(_Row):
    kind: str
    name: str
    status: ConsentStatus
    source: str
    source_id: str | None
    changed_at: str


class SuppressionExport(_Row):
    channel: str
    address: str = Field(description="The customer's address whose hash the suppression holds")
    address_hash: str
    reason: str
    scope: str
    source: str
    created_at: str


class DeliveryEventExport(_Row):
    kind: str = Field(description="delivered, opened, clicked, bounced, ...")
    source: str
    provider_message_id: str | None
    url: str | None
    detail: dict[str, Any]
    occurred_at: str


class DeliveryExport(_Row):
    id: int
    step: str
    channel: str
    template: str
    template_version: int | None
    recipient: str | None
    subject: str | None
    body: str | None
    html: str | None
    status: DeliveryStatus
    reason: str
    provider_message_id: str | None
    requested_at: str
    events: list[DeliveryEventExport] = Field(description="What the provider reported of it")


class AuditExport(_Row):
    seq: int
    kind: AuditKind
    step: str | None
    reason: str
    data: dict[str, Any]
    occurred_at: str


class RunExport(_Row):
    id: str
    workflow_id: str
    journey_key: str
    journey_version: int
    customer_id: str
    status: RunStatus
    reason: str
    trigger_event: str
    trigger_message_id: str
    started_at: str
    ended_at: str | None
    deliveries: list[DeliveryExport]
    audit: list[AuditExport]


class ConversionExport(_Row):
    run_id: str
    journey_key: str
    event: str
    message_id: str
    revenue: float | None
    occurred_at: str


class CustomerExport(BaseModel):
    """Everything the store holds about one customer, under any of their ids."""

    customer_id: str = Field(description="The canonical id (an alias asked for leads here)")
    ids: list[str] = Field(description="The canonical id and every alias")
    exported_at: str
    profile: ProfileExport | None
    alias_profiles: list[ProfileExport] = Field(
        description="Profiles still kept under an alias (traits seen before identification)"
    )
    aliases: list[AliasExport]
    consents: list[ConsentExport]
    suppressions: list[SuppressionExport] = Field(
        description="Suppressions of the addresses the customer was known by"
    )
    runs: list[RunExport] = Field(description="Journey runs, oldest first, with what they did")
    conversions: list[ConversionExport]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "c-42",
                    "ids": ["c-42", "anon-7"],
                    "exported_at": "2026-03-02T10:00:00+00:00",
                    "profile": {
                        "id": "c-42",
                        "traits": {"first_name": "Ada", "email": "ada@example.com"},
                        "email": "ada@example.com",
                        "phone": None,
                        "timezone": None,
                        "created_at": "2026-03-01T09:00:00+00:00",
                        "updated_at": "2026-03-01T09:00:00+00:00",
                    },
                    "alias_profiles": [],
                    "aliases": [
                        {
                            "alias_id": "anon-7",
                            "customer_id": "c-42",
                            "source": "identify",
                            "created_at": "2026-03-01T09:00:00+00:00",
                        }
                    ],
                    "consents": [],
                    "suppressions": [],
                    "runs": [],
                    "conversions": [],
                }
            ]
        }
    )


class ErasureRequest(BaseModel):
    """What to erase and why; ``confirm`` repeats the id, so a slip of the path erases no one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "erasure request, ticket SUP-1234", "confirm": "c-42"},
                {
                    "reason": "erasure request, ticket SUP-1235",
                    "confirm": "c-43",
                    "delete_histories": False,
                },
            ]
        },
    )

    reason: str = Field(
        min_length=1,
        max_length=500,
        pattern=NO_NUL,
        description="Why, for the operator log (a ticket reference); no personal data here",
    )
    confirm: str = Field(description="The customer id of the path, again")
    delete_histories: bool = Field(
        default=True,
        description="Also delete the customer's workflow histories in Temporal, which hold "
        "their events' traits and properties (otherwise kept until the namespace retention)",
    )


class ErasureCountsOut(BaseModel):
    """Rows per table: deleted, pseudonymised, rewritten, or (suppressions) kept."""

    customers: int
    customer_aliases: int
    consents: int
    journey_runs: int
    runs_terminated: int
    deliveries: int
    delivery_events: int
    audit_events: int
    conversions: int
    operator_actions: int
    audience_imports: int
    suppressions_kept: int


class ErasureOut(BaseModel):
    customer_hash: str = Field(description="SHA-256 of the customer id: the operator log target")
    workflows_terminated: int = Field(description="Running workflows terminated in Temporal")
    histories_deleted: int = Field(description="Workflow executions deleted from Temporal")
    counts: ErasureCountsOut

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_hash": "5f3c0a4e3b0b1a2a9d0f6c1c0e2f6a7b"
                    "8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5",
                    "workflows_terminated": 1,
                    "histories_deleted": 2,
                    "counts": {
                        "customers": 1,
                        "customer_aliases": 1,
                        "consents": 2,
                        "journey_runs": 2,
                        "runs_terminated": 1,
                        "deliveries": 1,
                        "delivery_events": 2,
                        "audit_events": 7,
                        "conversions": 1,
                        "operator_actions": 1,
                        "audience_imports": 0,
                        "suppressions_kept": 1,
                    },
                }
            ]
        }
    )
