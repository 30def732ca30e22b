"""Audience import rows: what an upload asked for and how far its workflow has got.

The ``AudienceImport`` workflow writes absolute counts after each batch (never increments), so a
retried batch rewrites the same numbers instead of counting its customers twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.audiences import AudienceProgress
from journeys.store.base import utcnow
from journeys.store.models import AudienceImport
from journeys.vocabulary import ImportStatus


async def create_import(
    session: AsyncSession, import_id: str, journey_key: str, total: int, *, created_by: str
) -> AudienceImport:
    row = AudienceImport(
        id=import_id,
        journey_key=journey_key,
        status=ImportStatus.RUNNING,
        total=total,
        entered=0,
        skipped=0,
        failed=0,
        errors=[],
        created_by=created_by,
        created_at=utcnow(),
        finished_at=None,
    )
    session.add(row)
    await session.flush()
    return row


async def get_import(session: AsyncSession, import_id: str) -> AudienceImport | None:
    return await session.get(AudienceImport, import_id, populate_existing=True)


async def list_imports(
    session: AsyncSession, *, journey_key: str | None = None, limit: int = 50
) -> Sequence[AudienceImport]:
    """Newest first, of one journey if given."""
    query = select(AudienceImport).order_by(
        AudienceImport.created_at.desc(), AudienceImport.id.desc()
    )
    if journey_key is not None:
        query = query.where(AudienceImport.journey_key == journey_key)
    return (await session.scalars(query.limit(limit))).all()


async def record_progress(
    session: AsyncSession,
    import_id: str,
    progress: AudienceProgress,
    *,
    status: ImportStatus = ImportStatus.RUNNING,
) -> None:
    """Write the counts as they are now; an import that has ended gets its end time."""
    row = await session.get(AudienceImport, import_id, populate_existing=True)
    if row is None:
        return
    row.entered = progress.entered
    row.skipped = progress.skipped
    row.failed = progress.failed
    row.errors = list(progress.errors)
    row.status = status
    if status != ImportStatus.RUNNING and row.finished_at is None:
        row.finished_at = utcnow()
