"""Audience uploads: enter a list of customers into a journey, and follow how far it has got.

``POST /v1/audiences`` takes the list as JSON (``customer_ids``) or as CSV with a
``customer_id`` column, checks it and the journey, stores the list and starts the
``AudienceImport`` workflow (journeys/workflows/audience.py), then answers 202 with the import's id
at once: the entering happens in batches, durably, and ``GET /v1/audiences/{id}`` shows its
progress. Each customer enters as on the journey's own trigger event, with the messageId
``audience/<import id>/<customer>`` (:mod:`journeys.audiences` says why), so uploading the same
list again enters nobody twice: customers already in are counted as skipped.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.audiences.schemas import EXAMPLE_UPLOAD, AudienceBody, ImportOut, UploadOut
from api.auth import PrincipalDep, log_change
from api.contacts.redaction import Redactor
from api.deps import JetStreamDep, SessionDep, SettingsDep, TemporalDep
from api.params import NO_NUL, json_problem
from journeys.audiences import (
    AUDIENCE_WORKFLOW,
    MAX_AUDIENCE,
    AudienceProgress,
    AudienceStart,
    audience_workflow_id,
)
from journeys.ingest.audience_lists import drop_list, save_list
from journeys.store import audiences as store
from journeys.store.definitions import ACTIVE, ARCHIVED, JourneyNotFound, get_journey
from journeys.store.models import AudienceImport
from journeys.vocabulary import ImportStatus

router = APIRouter(prefix="/v1/audiences", tags=["audiences"])

MAX_ID_LENGTH = 200
# 100,000 ids of up to 200 characters, quoted and separated, with room for properties.
MAX_BODY_BYTES = 24_000_000
CSV_TYPES = {"text/csv", "application/csv"}
JSON_TYPES = {"application/json", ""}
# Problems named per upload: the first few are enough to fix a file.
SHOWN_PROBLEMS = 10
UPLOAD_ACTION = "audience.upload"


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The list as JSON, or as CSV with a `customer_id` column (then the "
        "journey is the `journey` query parameter; other columns are ignored)",
        "content": {
            "application/json": {
                "schema": AudienceBody.model_json_schema(),
                "example": EXAMPLE_UPLOAD,
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "customer_id,name\nc-1001,Ada\nc-1002,Grace\n",
            },
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=UPLOAD_BODY,
    responses={
        404: {"description": "No journey has this key"},
        409: {"description": "The journey is paused or archived, or takes no list"},
        413: {"description": f"More than {MAX_AUDIENCE:,} customers, or the body is too large"},
        415: {"description": "Neither JSON nor CSV"},
        422: {"description": "An empty list, or an id or field at fault (`detail[].loc`)"},
        503: {"description": "Temporal or NATS is unreachable: nothing was started"},
    },
)
async def upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    js: JetStreamDep,
    principal: PrincipalDep,
    journey: Annotated[
        str | None,
        Query(max_length=200, pattern=NO_NUL, description="The journey, for a CSV body"),
    ] = None,
) -> UploadOut:
    """Enter a list of customers into a journey, in the background; 202 with the import's id.
    Customers already in the journey, or whom its entry rules refuse, are skipped."""
    body = await _parse(request, journey)
    customer_ids = list(dict.fromkeys(body.customer_ids))
    try:
        found = await get_journey(session, body.journey)
    except JourneyNotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"journey: no journey has the key {body.journey!r}"
        ) from None
    if found.status != ACTIVE:
        advice = "" if found.status == ARCHIVED else ": resume it first"
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"journey {body.journey!r} is {found.status}{advice}"
        )
    if found.latest is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"journey {body.journey!r} has no published version"
        )
    if found.latest.inactivity_seconds is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"journey {body.journey!r} enters customers on inactivity, not from a list",
        )
    if temporal is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Temporal is not reachable from the API; nothing was started",
        )
    import_id = uuid.uuid4().hex
    try:
        await save_list(js, import_id, customer_ids, replicas=settings.stream_replicas)
    except Exception as err:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the list could not be stored in NATS ({err}); nothing was started",
        ) from err
    await store.create_import(
        session, import_id, body.journey, len(customer_ids), created_by=principal.name
    )
    await log_change(
        session,
        principal,
        action=UPLOAD_ACTION,
        target=f"audience:{import_id}",
        detail={
            "journey": body.journey,
            "total": len(customer_ids),
            "duplicates": len(body.customer_ids) - len(customer_ids),
            "properties": body.properties,
        },
    )
    await session.commit()
    start = AudienceStart(
        import_id=import_id,
        journey_key=body.journey,
        total=len(customer_ids),
        properties=body.properties,
    )
    try:
        await temporal.start_workflow(
            AUDIENCE_WORKFLOW,
            start,
            id=audience_workflow_id(import_id),
            task_queue=settings.task_queue,
        )
    except Exception as err:
        failed = AudienceProgress(errors=[f"not started: {err}"])
        await store.record_progress(session, import_id, failed, status=ImportStatus.FAILED)
        await session.commit()
        await drop_list(js, import_id)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the import could not be started in Temporal ({err}); nobody was entered",
        ) from err
    return UploadOut(
        id=import_id,
        journey=body.journey,
        status=ImportStatus.RUNNING,
        total=len(customer_ids),
        duplicates=len(body.customer_ids) - len(customer_ids),
    )


@router.get("")
async def list_imports(
    session: SessionDep,
    journey: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="Only this journey's")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    *,
    principal: PrincipalDep,
) -> list[ImportOut]:
    """Audience imports, newest first."""
    rows = await store.list_imports(session, journey_key=journey, limit=limit)
    return [_out(row, Redactor(principal)) for row in rows]


@router.get("/{import_id}", responses={404: {"description": "No import has this id"}})
async def get_import(
    import_id: Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)],
    session: SessionDep,
    principal: PrincipalDep,
) -> ImportOut:
    """One import's progress, updated after each batch of 100 customers."""
    row = await store.get_import(session, import_id)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"import_id: no audience import has the id {import_id!r}"
        )
    return _out(row, Redactor(principal))


def _out(row: AudienceImport, redactor: Redactor) -> ImportOut:
    """Errors name customers by id, which may hold an address: masked as ids are elsewhere."""
    return ImportOut.model_validate(
        {
            "id": row.id,
            "journey_key": row.journey_key,
            "status": row.status,
            "total": row.total,
            "processed": row.entered + row.skipped + row.failed,
            "entered": row.entered,
            "skipped": row.skipped,
            "failed": row.failed,
            "errors": [redactor.text(error) for error in row.errors or []],
            "created_by": row.created_by,
            "created_at": row.created_at,
            "finished_at": row.finished_at,
        }
    )


async def _parse(request: Request, journey: str | None) -> AudienceBody:
    """The upload as an :class:`AudienceBody`, from JSON or CSV: 413 for too many customers,
    422 naming the field, the id or the CSV line at fault."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"an upload is at most {MAX_BODY_BYTES:,} bytes ({MAX_AUDIENCE:,} customers)",
        )
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in CSV_TYPES:
        body = _from_csv(raw, journey)
    elif media in JSON_TYPES or media.endswith("+json"):
        body = _from_json(raw, journey)
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send the list as application/json or text/csv, not {media!r}",
        )
    if len(body.customer_ids) > MAX_AUDIENCE:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"customer_ids: {len(body.customer_ids):,} customers; at most {MAX_AUDIENCE:,} "
            "per upload: split the list",
        )
    if not body.customer_ids:
        raise _invalid([("body", "customer_ids")], "the list is empty: nobody to enter")
    problems: list[tuple[tuple[str | int, ...], str]] = [
        (("body", "customer_ids", i), why)
        for i, customer in enumerate(body.customer_ids)
        if (why := _id_problem(customer)) is not None
    ]
    if (problem := json_problem(body.properties)) is not None:
        problems.append((("body", "properties"), f"may not contain {problem}"))
    if problems:
        raise RequestValidationError(
            [
                {"type": "value_error", "loc": loc, "msg": why, "input": None}
                for loc, why in problems[:SHOWN_PROBLEMS]
            ]
        )
    return body


def _from_json(raw: bytes, journey: str | None) -> AudienceBody:
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise _invalid([("body",)], f"the JSON does not parse: {err}") from None
    try:
        body = AudienceBody.model_validate(data)
    except ValidationError as err:
        raise RequestValidationError(
            [
                {**error, "loc": ("body", *error["loc"])}
                for error in err.errors(include_url=False)[:SHOWN_PROBLEMS]
            ]
        ) from None
    if journey is not None and journey != body.journey:
        raise _invalid([("query", "journey")], "differs from the body's journey")
    return body


def _from_csv(raw: bytes, journey: str | None) -> AudienceBody:
    if journey is None:
        raise _invalid([("query", "journey")], "a CSV upload names its journey here")
    try:
        text = raw.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
    except (UnicodeDecodeError, csv.Error) as err:
        raise _invalid([("body",)], f"not a UTF-8 CSV file: {err}") from None
    header = [name.strip().lower() for name in rows[0]] if rows else []
    if "customer_id" not in header:
        raise _invalid([("body", "customer_id")], "the CSV's first line needs a customer_id column")
    column = header.index("customer_id")
    customer_ids: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        value = row[column].strip() if column < len(row) else ""
        if not value:
            raise _invalid([("body", "customer_id", f"line {line}")], "no customer_id")
        customer_ids.append(value)
    try:
        return AudienceBody(journey=journey, customer_ids=customer_ids)
    except ValidationError as err:
        raise _invalid([("query", "journey")], str(err.errors()[0]["msg"])) from None


def _id_problem(customer: str) -> str | None:
    if not customer.strip():
        return "an empty customer id"
    if len(customer) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    if "\x00" in customer:
        return "contains the NUL character"
    return None


def _invalid(locs: list[tuple[Any, ...]], message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": loc, "msg": message, "input": None} for loc in locs]
    )
