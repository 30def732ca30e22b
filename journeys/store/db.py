"""Engine and session factory, created by each process at start (never at import)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from journeys.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(settings.database_url, pool_pre_ping=True)


def create_sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)


def insert_or_skip(session: AsyncSession, model: type[Any], key: list[Any]) -> Insert:
    """An insert into ``model`` that skips rows whose ``key`` columns are already taken: one
    statement, so writers racing on the same row cannot collide. Both stores say it the same
    way, through their own dialect's ``ON CONFLICT DO NOTHING``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=key)
    if dialect == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing(index_elements=key)
    raise NotImplementedError(f"no insert-or-skip for the {dialect} dialect")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the API read while the worker writes; busy_timeout queues the writers."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
