"""Message templates: list, read, create, add a version, preview and validate.

A template is a (channel, name) pair with immutable versions; saving adds version N+1 and the
latest version is the one journeys send. A draft that does not check out (syntax, an undefined
variable against the sample, the channel's rules) is refused with 422 and every problem, each
naming its field (``["body", "text"]``) and template line. Warnings (an SMS of many segments)
do not refuse a save; they come back with it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep
from api.isolated import CheckStopped, run_isolated
from api.params import VersionPath
from api.templates.previews import preview_version
from api.templates.schemas import (
    Parts,
    PreviewIn,
    PreviewOut,
    Rendered,
    Sample,
    SavedTemplate,
    SmsOut,
    TemplateCreate,
    TemplateDetail,
    TemplateOut,
    TemplateProblemOut,
    TemplateUpdate,
    TemplateValidationOut,
    TemplateVersionSummary,
    ValidateIn,
)
from journeys.delivery.template_checks import (
    REFUSED,
    Checked,
    Problem,
    SmsSegments,
    check,
)
from journeys.delivery.templates_catalog import CHANNEL_PATTERN, NAME_PATTERN
from journeys.store import templates as store
from journeys.store.models import TemplateVersion

# Mounted for staff to read and editors to change (api/main.py): documented here for clients.
ACCESS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "The key's role may not do this (reads: support and up; changes: editor)"},
}
router = APIRouter(prefix="/v1/templates", tags=["templates"], responses=ACCESS)


NamePath = Annotated[str, Path(pattern=NAME_PATTERN)]
ChannelPath = Annotated[str, Path(pattern=CHANNEL_PATTERN)]

PROBLEMS = {"description": "The template has errors: `detail` lists them, field and line"}


@router.get("")
async def list_templates(
    session: SessionDep, channel: Annotated[str | None, Query(pattern=CHANNEL_PATTERN)] = None
) -> list[TemplateOut]:
    """The latest version of every template, by name and channel."""
    return [TemplateOut.model_validate(row) for row in await store.latest_all(session, channel)]


@router.get("/{channel}/{name}", responses={404: {"description": "No such template"}})
async def get_template(channel: ChannelPath, name: NamePath, session: SessionDep) -> TemplateDetail:
    """The latest version, and a summary of every version."""
    rows = await store.versions(session, name, channel)
    if not rows:
        raise _not_found(name, channel)
    summaries = [TemplateVersionSummary.model_validate(row) for row in rows]
    return TemplateDetail.model_validate({**_fields(rows[0]), "versions": summaries})


@router.get(
    "/{channel}/{name}/versions/{version}", responses={404: {"description": "No such version"}}
)
async def get_version(
    channel: ChannelPath,
    name: NamePath,
    version: VersionPath,
    session: SessionDep,
) -> TemplateOut:
    """One version of a template, as it was saved; versions never change."""
    row = await store.get(session, name, channel, version)
    if row is None:
        raise _not_found(name, channel, version)
    return TemplateOut.model_validate(row)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The template exists: PUT a new version"}, 422: PROBLEMS},
    response_model=SavedTemplate,
)
async def create_template(body: TemplateCreate, session: SessionDep) -> Any:
    """Create a template: its version 1, once it checks out against the sample data."""
    if await store.exists(session, body.name, body.channel):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"template {body.name!r} exists for channel {body.channel!r}: PUT "
            f"/v1/templates/{body.channel}/{body.name} to add a version",
        )
    checked = await _check(body.channel, body, body.sample)
    if checked.errors:
        return _problems(checked)
    return await _save(session, body.name, body.channel, None, body, checked, body.description)


@router.put(
    "/{channel}/{name}",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "Same content as the latest version: no new version"},
        404: {"description": "No such template: POST to create it"},
        409: {"description": "Another version was saved since `base_version`"},
        422: PROBLEMS,
    },
    response_model=SavedTemplate,
)
async def update_template(
    channel: ChannelPath, name: NamePath, body: TemplateUpdate, session: SessionDep
) -> Any:
    """Save a new version (N+1) of a template; its earlier versions stay as they were."""
    latest = await store.get(session, name, channel)
    if latest is None:
        raise _not_found(name, channel)
    if body.base_version is not None and body.base_version != latest.version:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"template {name!r} ({channel}) is at version {latest.version}, not "
            f"{body.base_version}: another version was saved since; merge and retry",
        )
    checked = await _check(channel, body, body.sample)
    if checked.errors:
        return _problems(checked)
    if store.Content.of(latest) == body.content() and latest.description == body.description:
        saved = SavedTemplate(**_fields(latest), created=False, warnings=_out(checked.warnings))
        return JSONResponse(saved.model_dump(mode="json"), status_code=status.HTTP_200_OK)
    return await _save(session, name, channel, latest.version, body, checked, body.description)


@router.post(
    "/{channel}/{name}/preview",
    responses={404: {"description": "No such template or version"}, 422: PROBLEMS},
    response_model=PreviewOut,
)
async def preview_template(
    channel: ChannelPath, name: NamePath, session: SessionDep, body: PreviewIn | None = None
) -> Any:
    """Render the latest version (or ``version``) with sample data, as a send would."""
    body = body or PreviewIn()
    row = await store.get(session, name, channel, body.version)
    if row is None:
        raise _not_found(name, channel, body.version)
    parts = (row.subject, row.text, row.html)
    try:
        checked, rendered = await run_isolated(
            preview_version, name, channel, row.version, parts, body.context()
        )
    except CheckStopped as err:
        return _stopped(err, where="template")
    if isinstance(rendered, str):
        return _problems(checked, where="template")
    return PreviewOut(
        name=name,
        channel=channel,
        version=row.version,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        sms=_sms(checked.sms),
        warnings=_out(checked.warnings),
    )


@router.post(
    "/validate",
    responses={422: {"description": "The sandbox refuses the draft, or it ran out of time"}},
    response_model=TemplateValidationOut,
)
async def validate_draft(body: ValidateIn) -> Any:
    """Check an unsaved draft: what saving it would answer, and what it renders to. A draft
    the sandbox refuses (an unsafe attribute, an operation over its budget) or past the time
    limit is refused with 422, naming the part."""
    checked = await _check(body.channel, body, body)
    if any(p.code in REFUSED for p in checked.errors):
        return _problems(checked)
    return TemplateValidationOut(
        valid=not checked.errors,
        problems=_out(checked.problems),
        rendered=None if checked.rendered is None else Rendered(**checked.rendered),
        sms=_sms(checked.sms),
    )


async def _check(channel: str, parts: Parts, sample: Sample | None) -> Checked:
    """:func:`check` in a child process (api/isolated.py), so that no draft holds the event
    loop; past the time limit, a ``time_limit`` error of the body."""
    content = parts.content()
    context = sample.context() if sample is not None else None
    try:
        return await run_isolated(
            check, channel, content.subject, content.text, content.html, context
        )
    except CheckStopped as err:
        return Checked(problems=[Problem("body", str(err), "time_limit")])


def _stopped(err: CheckStopped, where: str = "body") -> JSONResponse:
    problem = TemplateProblemOut(
        loc=[where], msg=str(err), type="time_limit", line=None, severity="error"
    )
    return JSONResponse({"detail": [problem.model_dump()], "warnings": []}, status_code=422)


async def _save(
    session: AsyncSession,
    name: str,
    channel: str,
    previous: int | None,
    parts: Parts,
    checked: Checked,
    description: str,
) -> SavedTemplate:
    """Add the version after ``previous``; 409 if another was saved since it was read."""
    try:
        row = await store.add_version(
            session,
            name,
            channel,
            parts.content(),
            previous=previous,
            source=store.API,
            description=description,
        )
        await session.commit()
    except IntegrityError as err:
        await session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"another version of template {name!r} ({channel}) was saved meanwhile; "
            "reload it and retry",
        ) from err
    return SavedTemplate(**_fields(row), created=True, warnings=_out(checked.warnings))


def _fields(row: TemplateVersion) -> dict[str, Any]:
    return TemplateOut.model_validate(row).model_dump()


def _out(problems: list[Problem], where: str = "body") -> list[TemplateProblemOut]:
    return [
        TemplateProblemOut(
            loc=[where, p.field], msg=p.message, type=p.code, line=p.line, severity=p.severity
        )
        for p in problems
    ]


def _problems(checked: Checked, where: str = "body") -> JSONResponse:
    content = {
        "detail": [p.model_dump() for p in _out(checked.errors, where)],
        "warnings": [p.model_dump() for p in _out(checked.warnings, where)],
    }
    return JSONResponse(content, status_code=422)


def _sms(segments: SmsSegments | None) -> SmsOut | None:
    if segments is None:
        return None
    return SmsOut(
        encoding=segments.encoding,
        characters=segments.characters,
        units=segments.units,
        segments=segments.segments,
        non_gsm=list(segments.non_gsm),
    )


def _not_found(name: str, channel: str, version: int | None = None) -> HTTPException:
    what = f"version {version} of template" if version else "template"
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} {name!r} not found for {channel!r}")
