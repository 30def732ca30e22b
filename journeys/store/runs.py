"""Journey runs as the router and operators need them: which of a customer's runs are still
going, and which runs match a filter (journey, version, status, customer, start time), newest
first, a page at a time.

Pages are keyed on (``started_at``, ``id``) rather than numbered: a cursor names the last run a
page showed, so runs entering meanwhile neither shift nor repeat the pages that follow, and a deep
page costs what the first does (the ``customer_id, started_at`` and ``journey_key`` indexes).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.store.customers import resolve
from journeys.store.models import JourneyRun
from journeys.vocabulary import RUN_ROW_STATUSES
from journeys.vocabulary import RunStatus as RunStatus  # re-exported: the API's filter type

# Every status a run row may have (journeys/vocabulary.py says what each means).
RUN_STATUSES: tuple[RunStatus, ...] = RUN_ROW_STATUSES
ACTIVE = RunStatus.ACTIVE
MAX_PAGE = 500


class InvalidFilter(ValueError):
    """A filter or cursor that cannot be applied; ``field`` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RunFilter:
    """Which runs: each criterion given narrows the set; none given matches every run.

    ``customer`` is any id of the customer: runs begun under their other ids (anonymously,
    before an identify) are theirs too.
    """

    journey: str | None = None
    version: int | None = None
    status: RunStatus | None = None
    customer: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first; ``next_cursor`` fetches the next (None: no more)."""

    runs: Sequence[JourneyRun]
    next_cursor: str | None


def run_filter(
    *,
    journey: str | None = None,
    version: int | None = None,
    status: str | None = None,
    customer: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> RunFilter:
    """A checked :class:`RunFilter`: :class:`InvalidFilter` names the field at fault (a status
    no run has, a version without its journey, a naive time, an empty time window)."""
    if status is not None and status not in RUN_STATUSES:
        raise InvalidFilter("status", f"{str(status)!r} is not one of {', '.join(RUN_STATUSES)}")
    if version is not None and journey is None:
        raise InvalidFilter("version", "a version needs its journey: give journey as well")
    if version is not None and version < 1:
        raise InvalidFilter("version", "versions start at 1")
    started_after = _utc("started_after", started_after)
    started_before = _utc("started_before", started_before)
    if started_after is not None and started_before is not None and started_after >= started_before:
        raise InvalidFilter("started_before", "must be later than started_after")
    checked = RunStatus(status) if status is not None else None
    return RunFilter(journey, version, checked, customer, started_after, started_before)


def _utc(name: str, moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidFilter(name, "give a time zone (2026-11-23T10:00:00Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidFilter(name, "out of range") from None


async def find_runs(
    session: AsyncSession, runs: RunFilter, *, limit: int = 50, cursor: str | None = None
) -> RunPage:
    """The runs matching ``runs``, newest first, ``limit`` at most, after ``cursor``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidFilter("limit", f"between 1 and {MAX_PAGE}")
    conditions = await _conditions(session, runs)
    if cursor is not None:
        started_at, run_id = decode_cursor(cursor)
        conditions.append(
            or_(
                JourneyRun.started_at < started_at,
                and_(JourneyRun.started_at == started_at, JourneyRun.id < run_id),
            )
        )
    rows = list(
        await session.scalars(
            select(JourneyRun)
            .where(*conditions)
            .order_by(JourneyRun.started_at.desc(), JourneyRun.id.desc())
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return RunPage(rows, encode_cursor(rows[-1]) if more else None)


async def count_runs(session: AsyncSession, runs: RunFilter) -> int:
    conditions = await _conditions(session, runs)
    return int(await session.scalar(select(func.count(JourneyRun.id)).where(*conditions)) or 0)


async def matching_run_ids(session: AsyncSession, runs: RunFilter) -> list[str]:
    """Every matching run's id, newest first: what a bulk cancel acts on."""
    conditions = await _conditions(session, runs)
    rows = await session.scalars(
        select(JourneyRun.id)
        .where(*conditions)
        .order_by(JourneyRun.started_at.desc(), JourneyRun.id.desc())
    )
    return list(rows)


async def runs_by_id(session: AsyncSession, run_ids: Iterable[str]) -> dict[str, JourneyRun]:
    """The rows of these runs that exist, by id (read in chunks, for long lists)."""
    ids = list(dict.fromkeys(run_ids))
    found: dict[str, JourneyRun] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await session.scalars(select(JourneyRun).where(JourneyRun.id.in_(chunk)))
        found.update({row.id: row for row in rows})
    return found


async def active_runs_of(
    session: AsyncSession, customer_id: str, journey_key: str | None = None
) -> list[JourneyRun]:
    """The customer's runs still going (under any of their ids), oldest first; of one journey
    when ``journey_key`` is given."""
    identity = await resolve(session, customer_id)
    query = select(JourneyRun).where(
        JourneyRun.customer_id.in_(identity.ids), JourneyRun.status == ACTIVE
    )
    if journey_key is not None:
        query = query.where(JourneyRun.journey_key == journey_key)
    return list(await session.scalars(query.order_by(JourneyRun.started_at, JourneyRun.id)))


async def active_run_ids(
    session: AsyncSession, journey_key: str, customer_ids: Iterable[str]
) -> list[str]:
    """Workflow ids of the runs of ``journey_key`` that the customer (under any of their ids)
    has entered and that have not ended."""
    rows = await session.scalars(
        select(JourneyRun.workflow_id)
        .where(
            JourneyRun.journey_key == journey_key,
            JourneyRun.customer_id.in_(list(customer_ids)),
            JourneyRun.status == ACTIVE,
        )
        .order_by(JourneyRun.started_at)
    )
    return list(dict.fromkeys(rows))


def encode_cursor(run: JourneyRun) -> str:
    raw = f"{run.started_at.isoformat()}|{run.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (started_at, id) a cursor names; :class:`InvalidFilter` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, run_id = raw.split("|", 1)
        started_at = datetime.fromisoformat(moment)
        if started_at.tzinfo is None or not run_id:
            raise ValueError(cursor)
        return started_at.astimezone(UTC), run_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise InvalidFilter("cursor", "not a cursor this API returned") from None


async def _conditions(session: AsyncSession, runs: RunFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if runs.journey is not None:
        conditions.append(JourneyRun.journey_key == runs.journey)
    if runs.version is not None:
        conditions.append(JourneyRun.journey_version == runs.version)
    if runs.status is not None:
        conditions.append(JourneyRun.status == runs.status)
    if runs.customer is not None:
        identity = await resolve(session, runs.customer)
        conditions.append(JourneyRun.customer_id.in_(identity.ids))
    if runs.started_after is not None:
        conditions.append(JourneyRun.started_at >= runs.started_after)
    if runs.started_before is not None:
        conditions.append(JourneyRun.started_at < runs.started_before)
    return conditions
