"""API keys, for admins: make one (its secret shown once), list them, revoke one.

The store keeps only a key's SHA-256 (:mod:`journeys.store.api_keys`), so a lost key cannot be
shown again: revoke it and make another. Every key made or revoked is written to the operator
log with the admin who did it. ``journeys keys ...`` does the same from a shell with database
access, which is how the first admin key is made.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import auth
from api.auth import PrincipalDep, log_change
from api.deps import SessionDep
from api.keys.schemas import KeyCreate, KeyOut, NewKeyOut, RevokedKeyOut
from journeys.store import api_keys
from journeys.store.models import ApiKey

# A key's name and role fit in a few hundred bytes; nothing larger is read.
BODY_LIMIT = 4 * 1024
router = APIRouter(prefix="/v1/keys", tags=["keys"], max_body_size=BODY_LIMIT)

KeyId = Annotated[str, Path(max_length=32, description="The key's id: `jk_<id>_...`")]


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
