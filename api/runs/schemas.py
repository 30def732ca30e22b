"""The runs resource's bodies: a page of runs, cancelling one or many, an event by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.contacts.customer_refs import MAX_REF_LENGTH
from api.params import MAX_VERSION, NO_NUL, JourneyKey, json_problem
from api.runs.out import RUN_EXAMPLE, RunOut
from journeys.vocabulary import RunStatus

MAX_REASON = 500

# Any id of the customer, or the `customer_ref` an answer gave (ids masked for the caller).
CustomerRef = Annotated[str, Field(min_length=1, max_length=MAX_REF_LENGTH, pattern=NO_NUL)]
Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REASON,
        pattern=NO_NUL,
        description="Why: kept in the run's end reason and the operator log",
    ),
]


class RunsPage(BaseModel):
    runs: list[RunOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class CancelBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "customer asked us to stop"}]}
    )

    reason: Reason


class CancelledOut(BaseModel):
    run_id: str
    status: RunStatus | Literal["cancelling"] = Field(
        description="`cancelled` once the run has ended; `cancelling` if its worker has not "
        "handled the cancel within a few seconds (it will: the cancel is kept by Temporal)"
    )
    reason: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": RUN_EXAMPLE["run_id"],
                    "status": "cancelled",
                    "reason": "cancelled by Grace: customer asked us to stop",
                }
            ]
        }
    )


class BulkCancelBody(BaseModel):
    """Which active runs to stop. ``journey`` or ``customer`` is required: a filter of only
    times would reach every journey. Send ``dry_run: true`` first; then the same filter with
    ``expected_count`` set to the count the dry run gave."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"journey": "cart-recovery", "version": 3, "dry_run": True},
                {
                    "journey": "cart-recovery",
                    "version": 3,
                    "started_after": "2026-11-23T09:00:00Z",
                    "reason": "v3 sends the wrong discount",
                    "dry_run": False,
                    "expected_count": 1250,
                },
            ]
        },
    )

    journey: JourneyKey | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    customer: CustomerRef | None = Field(default=None, description="Any id of the customer")
    started_after: datetime | None = Field(default=None, description="Inclusive, with a zone")
    started_before: datetime | None = Field(default=None, description="Exclusive, with a zone")
    reason: Reason | None = Field(default=None, description="Required unless `dry_run`")
    dry_run: bool = False
    expected_count: int | None = Field(
        default=None, ge=0, description="Required unless `dry_run`: the dry run's `count`"
    )


class BulkCancelOut(BaseModel):
    dry_run: bool
    count: int = Field(description="Active runs the filter matches (matched, for a real cancel)")
    sample: list[RunOut] = Field(description="A dry run: the newest matching runs, up to 10")
    requested: list[str] = Field(description="Runs that took the cancel (they end at once)")
    already_ended: dict[str, str] = Field(description="Run id -> status, ended meanwhile")
    failed: dict[str, str] = Field(description="Run id -> why Temporal did not take the cancel")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": True,
                    "count": 1250,
                    "sample": [RUN_EXAMPLE],
                    "requested": [],
                    "already_ended": {},
                    "failed": {},
                }
            ]
        }
    )


class EventBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "c-123",
                    "event": "Cart Viewed",
                    "properties": {"cart_id": "K1"},
                    "journey": "cart-recovery",
                }
            ]
        },
    )

    customer_id: CustomerRef = Field(description="Any id of the customer")
    event: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    properties: dict[str, Any] = Field(default_factory=dict)
    journey: JourneyKey | None = Field(default=None, description="Only this journey's runs")

    @field_validator("properties")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = json_problem(value)
        if problem is not None:
            raise ValueError(f"properties may not contain {problem}")
        return value


class NudgedOut(BaseModel):
    run_id: str
    workflow_id: str
    journey_key: str
    journey_version: int
    message_id: str = Field(description="The event's messageId in this run: `manual/<uuid>`")
    listens: bool = Field(
        description="False: this journey version neither waits for, exits on nor converts on "
        "the event, so it changes nothing (check the event's name)"
    )


class EventOut(BaseModel):
    customer_id: str = Field(description="The customer's canonical id")
    event: str
    runs: list[NudgedOut]
    missed: dict[str, str] = Field(description="Run id -> why it did not take the event")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "c-123",
                    "event": "Cart Viewed",
                    "runs": [
                        {
                            "run_id": RUN_EXAMPLE["run_id"],
                            "workflow_id": "journey/cart-recovery/c-123",
                            "journey_key": "cart-recovery",
                            "journey_version": 3,
                            "message_id": "manual/5b0c1f0e-2a53-4a4b-8f3e-0f2b8f7d6a10",
                            "listens": True,
                        }
                    ],
                    "missed": {},
                }
            ]
        }
    )


CancelBodyDep = Annotated[
    CancelBody,
    Body(
        openapi_examples={
            "reason": {"summary": "Why", "value": {"reason": "customer asked us to stop"}}
        }
    ),
]


BulkCancelBodyDep = Annotated[
    BulkCancelBody,
    Body(
        openapi_examples={
            "dry_run": {
                "summary": "First: how many, and which",
                "value": {"journey": "cart-recovery", "version": 3, "dry_run": True},
            },
            "confirm": {
                "summary": "Then: cancel them, repeating the dry run's count",
                "value": {
                    "journey": "cart-recovery",
                    "version": 3,
                    "reason": "v3 sends the wrong discount",
                    "expected_count": 1250,
                },
            },
        }
    ),
]


EventBodyDep = Annotated[
    EventBody,
    Body(
        openapi_examples={
            "activated": {
                "summary": "A lost event, by hand",
                "value": {
                    "customer_id": "c-123",
                    "event": "Activated",
                    "properties": {"via": "support"},
                    "journey": "welcome-series",
                },
            }
        }
    ),
]
