"""API keys, for admins: make one (its secret shown once), list them, revoke one.

The store keeps only a key's SHA-256 (:mod:`journeys.store.api_keys`), so a lost key cannot be
shown again: revoke it and make another. Every key made or revoked is written to the operator
log with the admin who did it. ``journeys keys ...`` does the same from a shell with database
access, which is how the first admin key is made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import auth
from api.auth import PrincipalDep, log_change
from api.deps import SessionDep
from journeys.store import api_keys
from journeys.store.api_keys import Role
from journeys.store.models import ApiKey

# A key's name and role fit in a few hundred bytes; nothing larger is read.
BODY_LIMIT = 4 * 1024
router = APIRouter(prefix="/v1/keys", tags=["keys"], max_body_size=BODY_LIMIT)

KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
KeyId = Annotated[str, Path(max_length=32, description="The key's id: `jk_<id>_...`")]


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


KEY_EXAMPLE: dict[str, Any] = {
    "id": "3f9a1c0b7d2e",
    "name": "support: Grace Hopper",
    "role": "support",
    "created_by": "admin: Ada",
    "created_at": "2026-11-23T09:30:00Z",
    "last_used_at": None,
    "revoked_at": None,
}


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


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(body: KeyCreate, session: SessionDep, principal: PrincipalDep) -> NewKeyOut:
    """Make a key; the answer is the only time its secret is shown."""
    new = await api_keys.create_key(
        session, name=body.name, role=body.role, created_by=principal.name
    )
    await log_change(
        session,
        principal,
        action="key.create",
        target=f"key:{new.row.id}",
        detail={"name": new.row.name, "role": new.row.role},
    )
    await session.commit()
    return NewKeyOut.model_validate(
        {**KeyOut.model_validate(new.row).model_dump(), "key": new.secret}
    )


@router.get("")
async def list_keys(session: SessionDep) -> list[KeyOut]:
    """Every key, revoked ones included, oldest first; never a secret or a hash."""
    return [KeyOut.model_validate(row) for row in await api_keys.list_keys(session)]


@router.delete(
    "/{key_id}",
    responses={
        404: {"description": "No key has this id"},
        409: {"description": "The last working admin key: make another admin key first"},
    },
)
async def revoke_key(key_id: KeyId, session: SessionDep, principal: PrincipalDep) -> RevokedKeyOut:
    """Revoke a key: it stops working at once in this process, and within
    ``KEY_CACHE_SECONDS`` in the others. Revoking a revoked key changes nothing."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"key {key_id!r} not found")
    changed = row.revoked_at is None
    if changed:
        if row.role == "admin" and await _live_admins(session) <= 1:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"key {key_id!r} is the last working admin key; make another admin key first "
                "(or use `journeys keys revoke` with database access)",
            )
        await api_keys.revoke_key(session, key_id)
        await log_change(
            session,
            principal,
            action="key.revoke",
            target=f"key:{key_id}",
            detail={"name": row.name, "role": row.role},
        )
        await session.commit()
        auth.forget_cached_keys()
    return RevokedKeyOut.model_validate(
        {**KeyOut.model_validate(row).model_dump(), "changed": changed}
    )


async def _live_admins(session: AsyncSession) -> int:
    query = select(func.count()).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))
    return int(await session.scalar(query) or 0)
