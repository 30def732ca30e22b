"""The audiences resource's bodies: an upload of customers in, an import's progress out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.params import JourneyKey
from journeys.audiences import MAX_AUDIENCE
from journeys.vocabulary import ImportStatus

EXAMPLE_UPLOAD: dict[str, Any] = {
    "journey": "win-back",
    "customer_ids": ["c-1001", "c-1002", "c-1003"],
    "properties": {"campaign": "spring"},
}


class AudienceBody(BaseModel):
    """Who enters which journey; ``properties`` become the trigger event's properties of every
    customer (what an entry key, a filter or a template reads from ``trigger.properties``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_UPLOAD]})

    journey: JourneyKey
    customer_ids: list[str] = Field(
        description=f"1 to {MAX_AUDIENCE:,} ids; duplicates are entered once"
    )
    properties: dict[str, Any] = Field(default_factory=dict)


class UploadOut(BaseModel):
    id: str = Field(description="The import's id: `GET /v1/audiences/{id}` follows it")
    journey: str
    status: ImportStatus
    total: int = Field(description="Customers to enter, duplicates removed")
    duplicates: int = Field(description="Ids the upload repeated, entered once")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "4f0c6d2e9b1a4c3d8e7f6a5b4c3d2e1f",
                    "journey": "win-back",
                    "status": "running",
                    "total": 3,
                    "duplicates": 0,
                }
            ]
        }
    )


class ImportOut(BaseModel):
    """An import's progress: ``entered + skipped + failed`` of ``total`` so far."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "4f0c6d2e9b1a4c3d8e7f6a5b4c3d2e1f",
                    "journey": "win-back",
                    "status": "completed",
                    "total": 250,
                    "processed": 250,
                    "entered": 240,
                    "skipped": 9,
                    "failed": 1,
                    "errors": ["c-77: not started: ..."],
                    "created_by": "Grace",
                    "created_at": "2026-11-23T10:00:00Z",
                    "finished_at": "2026-11-23T10:01:10Z",
                }
            ]
        },
    )

    id: str
    journey: str = Field(validation_alias="journey_key")
    status: ImportStatus = Field(description="`failed`: stopped, see `errors`")
    total: int
    processed: int
    entered: int
    skipped: int = Field(description="Already in the journey, or refused by its entry rules")
    failed: int = Field(description="Could not be entered: `errors` names the first ones")
    errors: list[str]
    created_by: str
    created_at: datetime
    finished_at: datetime | None
