"""Template versions as stored: the queries of the send path, the API and seeding.

A template is a (name, channel) pair; its versions are immutable rows, the current one the
highest. Nothing here updates or deletes a version (the catalog's cache relies on it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.store.models import TemplateVersion

SEED = "seed"
API = "api"


@dataclass(frozen=True)
class Content:
    """What a version renders; two versions with equal content render alike."""

    subject: str | None
    text: str | None
    html: str | None

    @classmethod
    def of(cls, row: TemplateVersion) -> Content:
        return cls(row.subject, row.text, row.html)


async def latest_number(session: AsyncSession, name: str, channel: str) -> int | None:
    """The current version number: one lookup on the (name, channel, version) unique index."""
    number: int | None = await session.scalar(
        select(TemplateVersion.version)
        .where(TemplateVersion.name == name, TemplateVersion.channel == channel)
        .order_by(TemplateVersion.version.desc())
        .limit(1)
    )
    return number


async def get(
    session: AsyncSession, name: str, channel: str, version: int | None = None
) -> TemplateVersion | None:
    """One version, the latest when ``version`` is ``None``."""
    query = select(TemplateVersion).where(
        TemplateVersion.name == name, TemplateVersion.channel == channel
    )
    if version is not None:
        return await session.scalar(query.where(TemplateVersion.version == version))
    return await session.scalar(query.order_by(TemplateVersion.version.desc()).limit(1))


async def latest_from(
    session: AsyncSession, name: str, channel: str, source: str
) -> TemplateVersion | None:
    """The newest version ``source`` created (e.g. the last one seeded from the files)."""
    return await session.scalar(
        select(TemplateVersion)
        .where(
            TemplateVersion.name == name,
            TemplateVersion.channel == channel,
            TemplateVersion.source == source,
        )
        .order_by(TemplateVersion.version.desc())
        .limit(1)
    )


async def versions(session: AsyncSession, name: str, channel: str) -> Sequence[TemplateVersion]:
    """Every version of one template, newest first."""
    rows = await session.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.name == name, TemplateVersion.channel == channel)
        .order_by(TemplateVersion.version.desc())
    )
    return rows.all()


async def latest_all(
    session: AsyncSession, channel: str | None = None
) -> Sequence[TemplateVersion]:
    """The latest version of every template (of ``channel`` only, if given), by name, channel."""
    newest = select(
        TemplateVersion.name,
        TemplateVersion.channel,
        func.max(TemplateVersion.version).label("version"),
    ).group_by(TemplateVersion.name, TemplateVersion.channel)
    if channel is not None:
        newest = newest.where(TemplateVersion.channel == channel)
    latest = newest.subquery()
    rows = await session.scalars(
        select(TemplateVersion)
        .join(
            latest,
            (TemplateVersion.name == latest.c.name)
            & (TemplateVersion.channel == latest.c.channel)
            & (TemplateVersion.version == latest.c.version),
        )
        .order_by(TemplateVersion.name, TemplateVersion.channel)
    )
    return rows.all()


async def add_version(
    session: AsyncSession,
    name: str,
    channel: str,
    content: Content,
    *,
    previous: int | None,
    source: str,
    description: str = "",
) -> TemplateVersion:
    """Add the version after ``previous``, the latest version the caller based its change on
    (``None`` for a new template), and flush. If another version was added since, the insert
    collides on the unique index: ``IntegrityError``, for the caller to look again or report."""
    row = TemplateVersion(
        name=name,
        channel=channel,
        version=(previous or 0) + 1,
        subject=content.subject,
        text=content.text,
        html=content.html,
        description=description,
        source=source,
    )
    session.add(row)
    await session.flush()
    return row


async def exists(session: AsyncSession, name: str, channel: str) -> bool:
    """Whether a template (any version) exists for ``channel``."""
    return await latest_number(session, name, channel) is not None


async def missing(
    session: AsyncSession, templates: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Those of the (name, channel) pairs that have no template, in the order given: what a
    journey definition refers to but cannot send. One query whatever the number of pairs."""
    wanted = list(dict.fromkeys(templates))
    if not wanted:
        return []
    rows = await session.execute(
        select(TemplateVersion.name, TemplateVersion.channel)
        .where(TemplateVersion.name.in_({name for name, _ in wanted}))
        .distinct()
    )
    found = {(name, channel) for name, channel in rows}
    return [pair for pair in wanted if pair not in found]
