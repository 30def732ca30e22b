"""Journeys: list and read them; edit, validate and publish declarative ones; pause, resume,
archive; read any version, and diff two.

A declarative journey (docs/journeys.md, "Declarative journeys") is edited as a draft, in JSON
or YAML, and published as immutable version N+1; customers already inside finish on the version
they entered. A draft that does not validate is refused with 422 and every problem, each naming
the step and field: ``{"step": "nudge", "field": "template", "message": "..."}``. Code
journeys are registered by the workers from their Python code: they can be paused, resumed and
archived here, not edited. The rules of each change are in :mod:`journeys.store.definitions`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep, SessionsDep
from api.journeys.reading import problems_out, read_body, refused
from api.journeys.schemas import (
    EXAMPLE_DOCUMENT,
    ChangeOut,
    DiffOut,
    DraftOut,
    JourneyOut,
    JourneySummary,
    JourneyValidationOut,
    JourneyVersionSummary,
    ProblemsOut,
    PublishedOut,
    StatusOut,
    VersionOut,
)
from api.params import NO_NUL, VersionPath
from journeys.definitions.diff import diff
from journeys.definitions.document import KEY_PATTERN, DefinitionError, Problem
from journeys.store import definitions as store
from journeys.store.db import Sessions
from journeys.store.models import JourneyDefinition

# Mounted for staff to read and editors to change (api/main.py): documented here for clients.
ACCESS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "The key's role may not do this (reads: support and up; changes: editor)"},
}
router = APIRouter(prefix="/v1/journeys", tags=["journeys"], responses=ACCESS)

KeyPath = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)]
VERSION_OR_DRAFT = r"^([1-9][0-9]{0,8}|draft)$"
DRAFT = "draft"

EXAMPLE_YAML = """\
key: cart-recovery-lite
name: Cart recovery (lite)
trigger: {event: Cart Abandoned, where: "event.properties.total > 20"}
entry: {reentry: after_exit, cooldown: 1d, key: event.properties.cart_id}
exit_on: [{event: Order Completed}]
steps:
  - {id: pause, type: delay, duration: 15m}
  - {id: nudge, type: send, channel: sms, template: cart_recovery_sms}
"""
DOCUMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A journey definition (docs/journeys.md), as JSON or YAML",
        "content": {
            "application/json": {
                "schema": {"type": "object", "additionalProperties": True},
                "example": EXAMPLE_DOCUMENT,
            },
            "application/yaml": {"schema": {"type": "string"}, "example": EXAMPLE_YAML},
        },
    }
}
PROBLEMS = {
    "model": ProblemsOut,
    "description": "The definition is refused: `detail` lists each problem, step and field; "
    "nothing is stored",
}
NOT_FOUND = {"description": "No such journey (or version, or draft)"}


# -- Reading -------------------------------------------------------------------------------------


@router.get("")
async def list_journeys(session: SessionDep) -> list[JourneySummary]:
    """Every journey, code and declarative, by key: its status and its latest version."""
    return [_summary(journey) for journey in await store.list_journeys(session)]


@router.get("/{key}", responses={404: NOT_FOUND})
async def get_journey(key: KeyPath, session: SessionDep) -> JourneyOut:
    """A journey: its status, its draft and a summary of every version."""
    with _answers(key):
        return _journey(await store.get_journey(session, key))


@router.get("/{key}/versions/{version}", responses={404: NOT_FOUND})
async def get_version(key: KeyPath, version: VersionPath, session: SessionDep) -> VersionOut:
    """One published version, with its document."""
    row = await store.get_version(session, key, version)
    if row is None:
        raise _not_found(key, version)
    return VersionOut.model_validate(row)


@router.get(
    "/{key}/diff",
    responses={404: NOT_FOUND},
    response_model=DiffOut,
    response_model_exclude_unset=True,
)
async def diff_versions(
    key: KeyPath,
    session: SessionDep,
    from_: Annotated[
        str, Query(alias="from", pattern=VERSION_OR_DRAFT, description="A version, or `draft`")
    ],
    to: Annotated[str, Query(pattern=VERSION_OR_DRAFT, description="A version, or `draft`")],
) -> Any:
    """What changed from one version (or the draft) to another: each change a path
    (`steps.nudge.template`), with what it was and what it becomes."""
    with _answers(key):
        journey = await store.get_journey(session, key)
    before = await _document(session, journey, from_)
    after = await _document(session, journey, to)
    changes = [ChangeOut.model_validate(change) for change in diff(before, after)]
    return DiffOut.model_validate({"key": key, "from": from_, "to": to, "changes": changes})


# -- Drafts and versions -------------------------------------------------------------------------


@router.post(
    "/validate",
    openapi_extra=DOCUMENT_BODY,
    responses={
        413: {"description": "Body too large"},
        415: {"description": "Not JSON or YAML"},
        422: {
            "model": ProblemsOut,
            "description": "The JSON or YAML does not parse, or the definition goes over a "
            "budget (nesting, YAML aliases, an expression too costly, the time limit)",
        },
    },
)
async def validate_definition(request: Request, session: SessionDep) -> JourneyValidationOut:
    """Check a definition as saving it would (templates included), without saving anything.
    A definition over a budget (an expression too costly to evaluate, nesting too deep, YAML
    aliases, the time limit) is refused with 422, naming the field."""
    read = await read_body(request)
    if read.problems:
        return JourneyValidationOut(
            valid=False, problems=problems_out(read.problems), document=None
        )
    try:
        document = await store.check(session, read.document)
    except DefinitionError as err:
        return JourneyValidationOut(valid=False, problems=problems_out(err.problems), document=None)
    return JourneyValidationOut(valid=True, problems=[], document=document.as_json())


@router.put(
    "/{key}/draft",
    status_code=status.HTTP_200_OK,
    openapi_extra=DOCUMENT_BODY,
    responses={
        201: {"description": "The draft created the journey", "model": DraftOut},
        409: {"description": "A code or archived journey: it has no drafts"},
        413: {"description": "Body too large"},
        415: {"description": "Not JSON or YAML"},
        422: PROBLEMS,
    },
)
async def save_draft(
    key: KeyPath, request: Request, response: Response, sessions: SessionsDep
) -> DraftOut:
    """Save the journey's draft (JSON, or YAML with `Content-Type: application/yaml`); a new key
    creates a declarative journey. The draft is validated first: a bad one is refused, naming
    each step and field, and nothing is stored. The body's `key`, if given, must be the path's."""
    if not re.fullmatch(KEY_PATTERN, key):
        message = "a journey key is lowercase letters, digits, _ . and -, up to 100 characters"
        raise refused([Problem(None, "key", message)])
    read = await read_body(request, key)
    raw = read.document
    if isinstance(raw, dict) and raw["key"] != key:
        problem = Problem(None, "key", f"the body's key {raw['key']!r} is not the path's")
        raise refused([problem])
    if read.problems:
        raise refused(read.problems)
    with _answers(key):
        journey, created = await store.save_draft(sessions, raw)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return DraftOut(**_journey(journey).model_dump(), created=created)


@router.post(
    "/{key}/publish",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The draft equalled the latest version: no new version"},
        404: NOT_FOUND,
        409: {"description": "A code or archived journey, or no draft to publish"},
        422: PROBLEMS,
    },
)
async def publish(key: KeyPath, response: Response, sessions: SessionsDep) -> PublishedOut:
    """Publish the draft as the next version (1, 2, ...), immutable from then on, and clear the
    draft. New entrants get this version; customers already inside finish on theirs. The status
    does not change: a paused journey stays paused until resumed."""
    with _answers(key):
        published = await store.publish(sessions, key)
    if not published.created:
        response.status_code = status.HTTP_200_OK
    return PublishedOut(**_version(published.definition), created=published.created)


# -- Status --------------------------------------------------------------------------------------

STATUS_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: NOT_FOUND,
    409: {"description": "The journey's status does not allow it (archived is final)"},
}


@router.post("/{key}/pause", responses=STATUS_RESPONSES)
async def pause(key: KeyPath, sessions: SessionsDep) -> StatusOut:
    """Nobody new enters; customers inside go on to their end. Code journeys too."""
    return await _set_status(sessions, key, "pause")


@router.post("/{key}/resume", responses=STATUS_RESPONSES)
async def resume(key: KeyPath, sessions: SessionsDep) -> StatusOut:
    """Customers enter again, on the latest version. Not for an archived journey."""
    return await _set_status(sessions, key, "resume")


@router.post("/{key}/archive", responses=STATUS_RESPONSES)
async def archive(key: KeyPath, sessions: SessionsDep) -> StatusOut:
    """Nobody new enters, ever: the journey becomes read-only (no draft, publish or resume).
    Customers inside finish on their version; the versions stay readable."""
    return await _set_status(sessions, key, "archive")


async def _set_status(sessions: Sessions, key: str, action: store.Action) -> StatusOut:
    with _answers(key):
        journey, changed = await store.set_status(sessions, key, action)
    return StatusOut(**_journey(journey).model_dump(), changed=changed)


# -- Helpers -------------------------------------------------------------------------------------


@contextmanager
def _answers(key: str | None = None) -> Iterator[None]:
    """The store's refusals as HTTP answers: 404, 409 with the reason, 422 with the problems."""
    try:
        yield
    except store.JourneyNotFound:
        raise _not_found(key or "") from None
    except store.Refused as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    except DefinitionError as err:
        raise refused(err.problems) from None


def _not_found(key: str, version: int | None = None, what: str | None = None) -> HTTPException:
    if what is None:
        what = f"version {version} of journey" if version else "journey"
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} {key!r} not found")


async def _document(session: AsyncSession, journey: store.Journey, which: str) -> dict[str, Any]:
    """The document of a version, or of the draft (``which`` is ``draft``)."""
    if which == DRAFT:
        if journey.draft is None:
            raise _not_found(journey.key, what="draft of journey")
        return journey.draft
    row = await store.get_version(session, journey.key, int(which))
    if row is None:
        raise _not_found(journey.key, int(which))
    if row.document is None:
        raise _not_found(journey.key, what=f"a document of version {which} of journey")
    return row.document


def _version(row: JourneyDefinition) -> dict[str, Any]:
    return VersionOut.model_validate(row).model_dump()


def _journey(journey: store.Journey) -> JourneyOut:
    summaries = [JourneyVersionSummary.model_validate(row) for row in reversed(journey.versions)]
    latest = journey.latest
    return JourneyOut(
        key=journey.key,
        kind=journey.kind,
        status=journey.status,
        entries=journey.entries,
        latest_version=latest.version if latest else None,
        draft=journey.draft,
        draft_updated_at=journey.draft_updated_at,
        versions=summaries,
    )


def _summary(journey: store.Journey) -> JourneySummary:
    latest = journey.latest
    return JourneySummary(
        key=journey.key,
        kind=journey.kind,
        status=journey.status,
        version=latest.version if latest else None,
        workflow_type=latest.workflow_type if latest else None,
        trigger_event=latest.trigger_event if latest else None,
        exit_events=list(latest.exit_events) if latest else [],
        listens_to=list(latest.listens_to) if latest else [],
        description=latest.description if latest else "",
        published_at=latest.published_at if latest else None,
        has_draft=journey.draft is not None,
    )
