"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from journeys.store.models import Base
from journeys.store.schema import upgrade_async
from tests.conftest import Store


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(store: Store) -> None:
    engine = store.sessions.kw["bind"]
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"journey_definitions", "customers", "journey_runs", "deliveries"} <= tables


async def test_migrating_twice_changes_nothing(store: Store) -> None:
    await upgrade_async(store.settings)
    engine = store.sessions.kw["bind"]
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []
