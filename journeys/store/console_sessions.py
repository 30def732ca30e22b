"""Console sessions: started at login, looked up on each console request, ended at logout.

A session is a random token the browser keeps (inside the console's signed cookie); the store
keeps its SHA-256 only. Rows past their expiry are deleted when the next session starts.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.store.base import utcnow
from journeys.store.models import ConsoleSession


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(session: AsyncSession, key_id: str, lifetime: timedelta) -> str:
    """A new session for ``key_id``, live for ``lifetime``: its token (shown once, not kept)."""
    now = utcnow()
    await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(id=_digest(token), key_id=key_id, created_at=now, expires_at=now + lifetime)
    )
    return token


async def live_session_key(session: AsyncSession, token: str) -> str | None:
    """The key id of the session ``token`` opens, or None once it ended or expired."""
    row = await session.get(ConsoleSession, _digest(token))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    return row.key_id


async def end_session(session: AsyncSession, token: str) -> None:
    """End the session for good (logging out); an unknown or ended one is left as it is."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == _digest(token), ConsoleSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
