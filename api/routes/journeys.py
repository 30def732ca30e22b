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

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, cast

import yaml  # type: ignore[import-untyped]
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep
from api.isolated import CheckStopped, run_isolated
from journeys.definitions.diff import diff
from journeys.definitions.document import (
    KEY_PATTERN,
    DefinitionError,
    Problem,
    expression_problems,
    validate,
)
from journeys.store import definitions as store
from journeys.store.db import Sessions
from journeys.store.models import JourneyDefinition

# Mounted for staff to read and editors to change (api/main.py): documented here for clients.
ACCESS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "The key's role may not do this (reads: support and up; changes: editor)"},
}
router = APIRouter(prefix="/v1/journeys", tags=["journeys"], responses=ACCESS)

# Versions are the database's 32-bit integers: a larger number is refused (422), never looked up.
MAX_VERSION = 2_147_483_647
# PostgreSQL refuses text holding NUL: such input is a 422 naming its field, not a 500.
NO_NUL = r"^[^\x00]*$"
KeyPath = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)]
VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION)]
VERSION_OR_DRAFT = r"^([1-9][0-9]{0,8}|draft)$"
DRAFT = "draft"
Status = Literal["active", "paused", "archived"]

# A definition is a few kilobytes; this is far above any real one.
MAX_BODY_BYTES = 1_000_000
# A definition's JSON or YAML nests a few levels (a send's data a few more).
MAX_DEPTH = 32
JSON_TYPES = {"application/json", ""}
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}

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
EXAMPLE_DOCUMENT: dict[str, Any] = {
    "key": "cart-recovery-lite",
    "name": "Cart recovery (lite)",
    "trigger": {"event": "Cart Abandoned", "where": "event.properties.total > 20"},
    "entry": {"reentry": "after_exit", "cooldown": "1d", "key": "event.properties.cart_id"},
    "exit_on": [{"event": "Order Completed"}],
    "steps": [
        {"id": "pause", "type": "delay", "duration": "15m"},
        {"id": "nudge", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
    ],
}
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


class ProblemOut(BaseModel):
    """One thing wrong with a definition: ``step`` is ``null`` for the journey's own fields."""

    step: str | None
    field: str
    message: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "step": "nudge",
                    "field": "template",
                    "message": "there is no sms template named 'cart_sms'",
                }
            ]
        }
    )


class ProblemsOut(BaseModel):
    detail: list[ProblemOut]


PROBLEMS = {
    "model": ProblemsOut,
    "description": "The definition is refused: `detail` lists each problem, step and field; "
    "nothing is stored",
}
NOT_FOUND = {"description": "No such journey (or version, or draft)"}


class VersionSummary(BaseModel):
    """One published version; immutable."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    kind: str = Field(description="`definition` (declarative) or `code`")
    workflow_type: str
    trigger_event: str
    exit_events: list[str]
    listens_to: list[str]
    description: str
    published_at: datetime | None = Field(
        description="When published; for a code journey, when a worker first registered it"
    )
    created_at: datetime


class VersionOut(VersionSummary):
    key: str
    document: dict[str, Any] | None = Field(
        description="The journey as published, normalised; `null` for a code journey without one"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "version": 2,
                    "kind": "definition",
                    "workflow_type": "DefinitionJourney",
                    "trigger_event": "Cart Abandoned",
                    "exit_events": ["Order Completed"],
                    "listens_to": [],
                    "description": "",
                    "published_at": "2026-11-23T10:00:00Z",
                    "created_at": "2026-11-23T10:00:00Z",
                    "document": EXAMPLE_DOCUMENT,
                }
            ]
        }
    )


class PublishedOut(VersionOut):
    created: bool = Field(description="False when the draft equalled the latest version")


class JourneySummary(BaseModel):
    """A journey and its latest version, as the router routes it (when ``status`` is active)."""

    key: str
    kind: str = Field(description="`definition` (declarative) or `code`")
    status: Status
    version: int | None = Field(description="The latest version; `null` before the first publish")
    workflow_type: str | None
    trigger_event: str | None
    exit_events: list[str]
    listens_to: list[str]
    description: str
    published_at: datetime | None
    has_draft: bool = Field(description="Changes saved, not yet published")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "kind": "definition",
                    "status": "active",
                    "version": 2,
                    "workflow_type": "DefinitionJourney",
                    "trigger_event": "Cart Abandoned",
                    "exit_events": ["Order Completed"],
                    "listens_to": [],
                    "description": "",
                    "published_at": "2026-11-23T10:00:00Z",
                    "has_draft": False,
                }
            ]
        }
    )


class JourneyOut(BaseModel):
    key: str
    kind: str = Field(description="`definition` (declarative) or `code`")
    status: Status
    entries: int = Field(description="Customers entered so far, across versions")
    latest_version: int | None
    draft: dict[str, Any] | None = Field(description="The draft, validated and normalised")
    draft_updated_at: datetime | None
    versions: list[VersionSummary] = Field(description="Every version, newest first")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "kind": "definition",
                    "status": "paused",
                    "entries": 0,
                    "latest_version": None,
                    "draft": EXAMPLE_DOCUMENT,
                    "draft_updated_at": "2026-11-23T09:55:00Z",
                    "versions": [],
                }
            ]
        }
    )


class DraftOut(JourneyOut):
    created: bool = Field(description="True when this draft created the journey")


class StatusOut(JourneyOut):
    changed: bool = Field(description="False when the journey already had this status")


class ValidationOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]
    document: dict[str, Any] | None = Field(description="The document normalised, if valid")


class ChangeOut(BaseModel):
    """One change; ``from`` is absent for ``added``, ``to`` for ``removed``."""

    model_config = ConfigDict(populate_by_name=True)

    path: str = Field(description="`steps.<step id>.<field>`, `entry.cooldown`, `exit_on[0]`...")
    change: Literal["added", "removed", "changed", "reordered"]
    from_: Any = Field(default=None, alias="from")
    to: Any = None


class DiffOut(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "from": "1",
                    "to": "2",
                    "changes": [
                        {
                            "path": "steps.nudge.template",
                            "change": "changed",
                            "from": "cart_recovery_sms",
                            "to": "cart_recovery_sms_v2",
                        },
                        {"path": "entry.cooldown", "change": "removed", "from": "1d"},
                    ],
                }
            ]
        },
    )

    key: str
    from_: str = Field(alias="from", description="A version number, or `draft`")
    to: str
    changes: list[ChangeOut]


def get_sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


SessionsDep = Annotated[Sessions, Depends(get_sessions)]


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
async def validate_definition(request: Request, session: SessionDep) -> ValidationOut:
    """Check a definition as saving it would (templates included), without saving anything.
    A definition over a budget (an expression too costly to evaluate, nesting too deep, YAML
    aliases, the time limit) is refused with 422, naming the field."""
    read = await _read(request)
    if read.problems:
        return ValidationOut(valid=False, problems=_problems(read.problems), document=None)
    try:
        document = await store.check(session, read.document)
    except DefinitionError as err:
        return ValidationOut(valid=False, problems=_problems(err.problems), document=None)
    return ValidationOut(valid=True, problems=[], document=document.as_json())


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
        raise _refused([Problem(None, "key", message)])
    read = await _read(request, key)
    raw = read.document
    if isinstance(raw, dict) and raw["key"] != key:
        problem = Problem(None, "key", f"the body's key {raw['key']!r} is not the path's")
        raise _refused([problem])
    if read.problems:
        raise _refused(read.problems)
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


@dataclass(frozen=True)
class _Read:
    """A definition read from a request body in a child process: the parsed ``document`` and
    its ``problems`` (those :func:`definition.validate` finds without the store)."""

    document: Any
    problems: list[Problem]
    refused: list[Problem]


async def _read(request: Request, key: str | None = None) -> _Read:
    """The request's definition, parsed and checked in a child process (api/isolated.py); 413,
    415, or 422 when it does not parse or goes over a budget. ``key`` fills a missing key."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"a definition is at most {MAX_BODY_BYTES} bytes"
        )
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in YAML_TYPES and media not in JSON_TYPES and not media.endswith("+json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send the definition as application/json or application/yaml, not {media!r}",
        )
    try:
        read = await run_isolated(_read_definition, body, media in YAML_TYPES, key)
    except CheckStopped as err:
        raise _refused([Problem(None, "body", f"{err}: the definition is refused")]) from None
    if read.refused:
        raise _refused(read.refused)
    return read


def _read_definition(body: bytes, is_yaml: bool, key: str | None) -> _Read:
    """Parse ``body`` and check it: run in a child process, bounded in time by its parent."""
    try:
        # SafeLoader: plain data
        document = yaml.load(body, Loader=_YamlLoader) if is_yaml else json.loads(body)
    except yaml.YAMLError as err:
        return _Read(None, [], [Problem(None, "body", f"the YAML does not parse: {err}")])
    except ValueError as err:
        return _Read(None, [], [Problem(None, "body", f"the JSON does not parse: {err}")])
    except RecursionError:
        message = f"the body is nested more than {MAX_DEPTH} levels deep"
        return _Read(None, [], [Problem(None, "body", message)])
    refused = _plain(document)
    if refused is not None:
        return _Read(None, [], [refused])
    if isinstance(document, dict) and key is not None and document.get("key") is None:
        document = {**document, "key": key}
    try:
        expressions = expression_problems(validate(document))
    except DefinitionError as err:
        return _Read(document, err.problems, [])
    return _Read(document, [], expressions)


def _plain(document: Any) -> Problem | None:
    """Why ``document`` cannot be stored: a NUL character (PostgreSQL refuses it in text), or
    nesting deeper than MAX_DEPTH; ``None`` when it can."""
    pending = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return Problem(None, "body", f"the body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, str) and "\x00" in value:
            return Problem(None, "body", "text may not contain the NUL character")
        if isinstance(value, dict):
            pending += [(item, depth + 1) for item in (*value.keys(), *value.values())]
        elif isinstance(value, list):
            pending += [(item, depth + 1) for item in value]
    return None


def _compose_node(loader: Any, parent: Any, index: Any) -> Any:
    """PyYAML's composer, refusing aliases (``*name``: a few hundred bytes of them expand to
    billions of nodes) and nesting deeper than MAX_DEPTH (its recursion's limit)."""
    event = loader.peek_event()
    if isinstance(event, yaml.AliasEvent):
        raise yaml.composer.ComposerError(
            None, None, "aliases (*name) are not accepted in a definition", event.start_mark
        )
    depth = getattr(loader, "depth", 0)
    if depth >= MAX_DEPTH:
        raise yaml.composer.ComposerError(
            None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
        )
    loader.depth = depth + 1
    try:
        return yaml.SafeLoader.compose_node(loader, parent, index)
    finally:
        loader.depth = depth


# YAML 1.1's safe loader with YAML 1.2's scalars: ``10:30`` is a string (not 630, base 60),
# ``2026-11-23`` a string (not a date), and only ``true``/``false`` are booleans (``no`` and
# ``on`` are strings), as a definition's times, dates and names need.
_YamlLoader: Any = type("_YamlLoader", (yaml.SafeLoader,), {"compose_node": _compose_node})
_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag
        not in {
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
            "tag:yaml.org,2002:timestamp",
        }
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+)$"
    ),
    list("-+0123456789."),
)


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
        raise _refused(err.problems) from None


def _problems(problems: list[Problem]) -> list[ProblemOut]:
    return [ProblemOut(step=p.step, field=p.field, message=p.message) for p in problems]


def _refused(problems: list[Problem]) -> HTTPException:
    detail = [p.model_dump() for p in _problems(problems)]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


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
    summaries = [VersionSummary.model_validate(row) for row in reversed(journey.versions)]
    latest = journey.latest
    return JourneyOut(
        key=journey.key,
        kind=journey.kind,
        status=cast(Status, journey.status),
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
        status=cast(Status, journey.status),
        version=latest.version if latest else None,
        workflow_type=latest.workflow_type if latest else None,
        trigger_event=latest.trigger_event if latest else None,
        exit_events=list(latest.exit_events) if latest else [],
        listens_to=list(latest.listens_to) if latest else [],
        description=latest.description if latest else "",
        published_at=latest.published_at if latest else None,
        has_draft=journey.draft is not None,
    )
