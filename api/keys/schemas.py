"""The keys resource's bodies: a key to create, a key as listed, a new key's secret once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from journeys.store.api_keys import Role

KEY_EXAMPLE: dict[str, Any] = {
    "id": "3f9a1c0b7d2e",
    "name": "support: Grace Hopper",
    "role": "support",
    "created_by": "admin: Ada",
    "created_at": "2026-11-23T09:30:00Z",
    "last_used_at": None,
    "revoked_at": None,
}

KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "support: Grace Hopper", "role": "support"}]},
    )

    name: KeyName = Field(
        description="Whose key, for the operator log and the key list: a person or a system",
    )
    role: Role = Field(
        description="admin: everything; editor: journeys, templates, runs; support: reads, "
        "contact details masked; ingest: sends events only"
    )


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [KEY_EXAMPLE]})

    id: str
    name: str
    role: Role
    created_by: str = Field(description="The name of the key (or `cli`) that made this one")
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When it was last used, to within 5 minutes; null if never"
    )
    revoked_at: datetime | None = Field(description="Set once revoked; the key no longer works")


class NewKeyOut(KeyOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **KEY_EXAMPLE,
                    "key": "jk_3f9a1c0b7d2e_Vb0S6tq1u9xJb3n0Qy4kq8m0H3c2l5Zr7w1e9Xa2dFs",
                }
            ]
        }
    )

    key: str = Field(
        description="The whole key, to send as `Authorization: Bearer <key>`. Shown only in "
        "this answer: the store keeps its hash"
    )


class RevokedKeyOut(KeyOut):
    changed: bool = Field(description="False when the key was already revoked")
