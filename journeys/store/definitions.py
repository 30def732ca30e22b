"""Journey definitions as stored: versions, the journey's state and draft, and how they change.

A journey is a key with one row in ``journey_states`` (its status and its draft) and one
immutable row per published version in ``journey_definitions``. Two kinds:

- ``definition``: a declarative document (:mod:`journeys.definitions.document`). It is edited as a
  **draft** (:func:`save_draft`, validated when saved: a bad draft is not stored) and
  **published** (:func:`publish`) as version N+1. Publishing clears the draft: a journey has a
  draft only while it has changes not yet published, and the next edit starts from the latest
  version. Publishing a draft equal to the latest version adds no version.
- ``code``: a Python journey, registered by the workers (:mod:`journeys.registry`); its
  versions come from its code, so drafts and publishing are refused (:class:`Refused`).

Statuses (:func:`set_status`), for both kinds:

- ``active``: customers enter. ``paused``: nobody new enters. ``archived``: nobody new enters,
  ever: the journey is read-only (no drafts, no publishing, no resume; its versions stay
  readable, as the runs still inside use them).
- ``pause``: active → paused. ``resume``: paused → active. ``archive``: active or paused →
  archived. Asking for the status a journey already has changes nothing and is no error;
  anything else (resume, pause or edit an archived journey) is :class:`Refused`.
- Publishing does not change the status: publish while paused, then resume, to start a new
  version without letting anyone in on the way.

Runs already inside a journey go on to their end on the version they started with, whatever
is published, paused or archived meanwhile (invariant 5): a run keeps its version's document.

Version numbers are unique under concurrent publishes: a publish first writes the journey's
state row, which queues concurrent publishes of that journey behind it (a row lock on
PostgreSQL, the write lock on SQLite), and the unique (key, version) index is the backstop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.definitions.document import (
    INTERPRETER_WORKFLOW,
    JourneyDocument,
    SendStep,
    parse,
    validate,
)
from journeys.store import templates
from journeys.store.base import utcnow
from journeys.store.db import Sessions
from journeys.store.models import JourneyDefinition, JourneyState
from journeys.vocabulary import JourneyKind, JourneyStatus

ACTIVE = JourneyStatus.ACTIVE
PAUSED = JourneyStatus.PAUSED
ARCHIVED = JourneyStatus.ARCHIVED
STATUSES = tuple(JourneyStatus)

Action = Literal["pause", "resume", "archive"]
# What each action leads to, and the statuses it may start from (besides its own result).
TRANSITIONS: dict[str, tuple[JourneyStatus, frozenset[JourneyStatus]]] = {
    "pause": (PAUSED, frozenset({ACTIVE})),
    "resume": (ACTIVE, frozenset({PAUSED})),
    "archive": (ARCHIVED, frozenset({ACTIVE, PAUSED})),
}

# Attempts of a write that lost a race (two first saves of one key, two publishes).
ATTEMPTS = 5

T = TypeVar("T")


class JourneyNotFound(LookupError):
    """No journey has this key (neither a state nor a version)."""


class Refused(Exception):
    """The journey's kind or status does not allow this; the message says why and what to do."""


@dataclass(frozen=True)
class Journey:
    """A journey as a whole: its state, and its versions oldest first (all of them, or only the
    latest for a listing)."""

    key: str
    kind: JourneyKind
    status: JourneyStatus
    draft: dict[str, Any] | None
    draft_updated_at: datetime | None
    entries: int
    versions: list[JourneyDefinition] = field(default_factory=list)

    @property
    def latest(self) -> JourneyDefinition | None:
        return self.versions[-1] if self.versions else None


@dataclass(frozen=True)
class Published:
    """The version a publish produced, or the latest one when the draft equalled it."""

    definition: JourneyDefinition
    created: bool


async def all_definitions(session: AsyncSession) -> Sequence[JourneyDefinition]:
    """Every version of every journey, by key then version."""
    rows = await session.scalars(
        select(JourneyDefinition).order_by(JourneyDefinition.key, JourneyDefinition.version)
    )
    return rows.all()


async def statuses(session: AsyncSession) -> dict[str, str]:
    """Each journey's status by key; a journey without a state row is ``active`` (a code journey
    registered after migration 0006 and never paused)."""
    rows = await session.execute(select(JourneyState.key, JourneyState.status))
    return {key: status for key, status in rows.all()}


# -- Reading -------------------------------------------------------------------------------------


async def list_journeys(session: AsyncSession) -> list[Journey]:
    """Every journey, by key, with its latest version only."""
    newest = (
        select(JourneyDefinition.key, func.max(JourneyDefinition.version).label("version"))
        .group_by(JourneyDefinition.key)
        .subquery()
    )
    latest = await session.scalars(
        select(JourneyDefinition).join(
            newest,
            (JourneyDefinition.key == newest.c.key)
            & (JourneyDefinition.version == newest.c.version),
        )
    )
    by_key = {row.key: row for row in latest}
    states = {row.key: row for row in await session.scalars(select(JourneyState))}
    return [
        _journey(key, states.get(key), [by_key[key]] if key in by_key else [])
        for key in sorted(by_key.keys() | states.keys())
    ]


async def get_journey(session: AsyncSession, key: str) -> Journey:
    """One journey with every version; :class:`JourneyNotFound` if there is none."""
    state = await session.get(JourneyState, key, populate_existing=True)
    versions = list(
        await session.scalars(
            select(JourneyDefinition)
            .where(JourneyDefinition.key == key)
            .order_by(JourneyDefinition.version)
        )
    )
    if state is None and not versions:
        raise JourneyNotFound(key)
    return _journey(key, state, versions)


async def get_version(session: AsyncSession, key: str, version: int) -> JourneyDefinition | None:
    return await session.scalar(
        select(JourneyDefinition).where(
            JourneyDefinition.key == key, JourneyDefinition.version == version
        )
    )


def _journey(key: str, state: JourneyState | None, versions: list[JourneyDefinition]) -> Journey:
    if state is None:
        # Registered by a worker (a code journey) and never paused, drafted or archived.
        kind = versions[0].kind if versions else JourneyKind.CODE
        return Journey(key, kind, ACTIVE, None, None, 0, versions)
    return Journey(
        key,
        state.kind,
        state.status,
        state.draft,
        state.draft_updated_at,
        state.entries,
        versions,
    )


# -- Validating ----------------------------------------------------------------------------------


async def check(session: AsyncSession, raw: Any) -> JourneyDocument:
    """Validate a document as saving it would, templates included (one query for them all).
    Raises :class:`journeys.definitions.document.DefinitionError` naming each step and field at
    fault."""
    document = parse(raw)
    wanted = [
        (template, step.channel)
        for step in document.steps
        if isinstance(step, SendStep)
        for template in step.templates()
    ]
    missing = set(await templates.missing(session, wanted))
    return validate(raw, lambda name, channel: (name, channel) not in missing)


# -- Changing ------------------------------------------------------------------------------------


async def save_draft(sessions: Sessions, raw: Any) -> tuple[Journey, bool]:
    """Validate ``raw`` and store it, normalised, as its journey's draft; a new key becomes a
    declarative journey. Returns the journey and whether it was created.

    Raises ``DefinitionError`` (nothing stored), :class:`Refused` (a code or archived journey).
    """

    async def attempt(session: AsyncSession) -> tuple[Journey, bool]:
        document = await check(session, raw)
        state = await _state(session, document.key)
        created = state is None
        if state is None:
            await _refuse_code_journey(session, document.key, "save a draft of")
            state = JourneyState(key=document.key, kind=JourneyKind.DEFINITION, status=ACTIVE)
            session.add(state)
        _editable(state, "save a draft of")
        state.draft = document.as_json()
        state.draft_updated_at = utcnow()
        await session.flush()
        return await get_journey(session, document.key), created

    return await _retrying(sessions, attempt)


async def publish(sessions: Sessions, key: str) -> Published:
    """Publish the journey's draft as its next version, re-validated (templates included), and
    clear the draft. A draft equal to the latest version adds no version (``created`` false).

    Raises :class:`JourneyNotFound`, :class:`Refused` (a code or archived journey, no draft),
    ``DefinitionError`` (the draft no longer validates, e.g. stricter rules since it was saved).
    """

    async def attempt(session: AsyncSession) -> Published:
        # Write first: concurrent publishes of this journey wait here for this one to commit.
        await session.execute(
            update(JourneyState).where(JourneyState.key == key).values(updated_at=utcnow())
        )
        state = await _state(session, key)
        if state is None:
            await _refuse_code_journey(session, key, "publish")
            raise JourneyNotFound(key)
        _editable(state, "publish")
        if state.draft is None:
            raise Refused(
                f"journey {key!r} has no draft to publish: PUT /v1/journeys/{key}/draft first"
            )
        document = await check(session, state.draft)
        stored = document.as_json()
        latest = await session.scalar(
            select(JourneyDefinition)
            .where(JourneyDefinition.key == key)
            .order_by(JourneyDefinition.version.desc())
            .limit(1)
        )
        state.draft = None
        state.draft_updated_at = None
        if latest is not None and latest.document == stored:
            await session.flush()
            return Published(latest, created=False)
        row = JourneyDefinition(
            key=key,
            version=(latest.version if latest else 0) + 1,
            kind=JourneyKind.DEFINITION,
            workflow_type=INTERPRETER_WORKFLOW,
            trigger_event=document.trigger.event,
            exit_events=[rule.event for rule in document.exit_on],
            listens_to=document.listens_to(),
            status=ACTIVE,
            description=document.description,
            document=stored,
            published_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        return Published(row, created=True)

    return await _retrying(sessions, attempt)


async def set_status(sessions: Sessions, key: str, action: Action) -> tuple[Journey, bool]:
    """Pause, resume or archive a journey of either kind (see the module docstring for the
    rules). Returns the journey and whether its status changed.

    Raises :class:`JourneyNotFound`, :class:`Refused` for a transition the rules do not allow.
    """
    target, sources = TRANSITIONS[action]

    async def attempt(session: AsyncSession) -> tuple[Journey, bool]:
        state = await _state(session, key)
        if state is None:
            kind = await session.scalar(
                select(JourneyDefinition.kind).where(JourneyDefinition.key == key).limit(1)
            )
            if kind is None:
                raise JourneyNotFound(key)
            # A code journey a worker registered: its state row is made on first change.
            state = JourneyState(key=key, kind=kind, status=ACTIVE)
            session.add(state)
        changed = state.status != target
        if changed and state.status not in sources:
            raise Refused(_refusal(key, state.status, action))
        if changed:
            state.status = target
        await session.flush()
        return await get_journey(session, key), changed

    return await _retrying(sessions, attempt)


def _refusal(key: str, status: JourneyStatus, action: str) -> str:
    if status == ARCHIVED:
        return (
            f"journey {key!r} is archived: it cannot be {action}d; archiving is final "
            "(its versions stay readable); publish the document under a new key instead"
        )
    return f"journey {key!r} is {status}: it cannot be {action}d"


async def _state(session: AsyncSession, key: str) -> JourneyState | None:
    return await session.get(JourneyState, key, populate_existing=True)


def _editable(state: JourneyState, what: str) -> None:
    if state.kind != JourneyKind.DEFINITION:
        raise Refused(_code_refusal(state.key, what))
    if state.status == ARCHIVED:
        raise Refused(
            f"journey {state.key!r} is archived: cannot {what} it; archiving is final, "
            "use a new key"
        )


async def _refuse_code_journey(session: AsyncSession, key: str, what: str) -> None:
    kind = await session.scalar(
        select(JourneyDefinition.kind).where(JourneyDefinition.key == key).limit(1)
    )
    if kind is not None and kind != JourneyKind.DEFINITION:
        raise Refused(_code_refusal(key, what))


def _code_refusal(key: str, what: str) -> str:
    return (
        f"journey {key!r} is a code journey: cannot {what} it through the API; its versions "
        "come from its Python code (@journey(version=...)), registered by the workers"
    )


async def _retrying(sessions: Sessions, attempt: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``attempt`` in a transaction of its own, again if it lost a race on a unique key (two
    first saves of one key, two publishes of one version)."""
    for remaining in reversed(range(ATTEMPTS)):
        try:
            async with sessions.begin() as session:
                return await attempt(session)
        except IntegrityError:
            if not remaining:
                raise
    raise AssertionError("unreachable")
