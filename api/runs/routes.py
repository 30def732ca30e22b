"""Run management for operators: find runs, stop one or many, and hand a run an event.

- ``GET /v1/runs``: runs by journey, version, status, customer and start time, newest first,
  a page at a time (``next_cursor``).
- ``POST /v1/runs/{run_id}/cancel``: stop one run now; it ends as ``cancelled`` with the reason.
- ``POST /v1/runs/cancel``: stop every active run a filter matches. A dry run first says how
  many and shows some; the real cancel must repeat that count as ``expected_count`` and is
  refused (409, naming the new count) if the set changed meanwhile, so an operator stops
  exactly what they looked at, not what entered since.
- ``POST /v1/runs/events``: send an event by hand to a customer's active runs (a stuck run
  waiting for an event that was lost).

Each change goes through :mod:`api.runs.control`, which also logs it in the operator log.
Runs are shown as everywhere (:func:`api.runs.out.shown_run`): ids holding contact details are
masked for roles that do not see them, and a customer may be named by its ``customer_ref``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from temporalio.client import Client

from api.auth import PrincipalDep
from api.contacts.customer_refs import MAX_REF_LENGTH, resolve
from api.contacts.redaction import Redactor
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.params import MAX_VERSION, NO_NUL
from api.runs.control import TemporalUnavailable, cancel_runs, send_event
from api.runs.out import shown_run
from api.runs.schemas import (
    BulkCancelBodyDep,
    BulkCancelOut,
    CancelBodyDep,
    CancelledOut,
    EventBodyDep,
    EventOut,
    NudgedOut,
    RunsPage,
)
from journeys.contracts import JourneyOutcome
from journeys.store.models import JourneyRun
from journeys.store.runs import (
    ACTIVE,
    MAX_PAGE,
    InvalidFilter,
    RunFilter,
    RunStatus,
    count_runs,
    find_runs,
    matching_run_ids,
    run_filter,
)

router = APIRouter(prefix="/v1/runs", tags=["runs"])

# How long cancelling one run waits to report it ended; a busy or stopped worker ends it later.
CANCEL_WAIT_SECONDS = 5.0
SAMPLE_SIZE = 10

TEMPORAL_DOWN = {"description": "Temporal is unreachable from the API: nothing was changed"}
INVALID = {"description": "A parameter is invalid; `detail[].loc` names it"}


@router.get("", responses={422: INVALID})
async def list_runs(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    journey: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="A journey key")
    ] = None,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="A version of `journey`")
    ] = None,
    run_status: Annotated[RunStatus | None, Query(alias="status")] = None,
    customer: Annotated[
        str | None,
        Query(
            max_length=MAX_REF_LENGTH,
            pattern=NO_NUL,
            description="Any id of the customer, or its `customer_ref`",
        ),
    ] = None,
    started_after: Annotated[
        datetime | None, Query(description="Inclusive; ISO 8601 with a zone")
    ] = None,
    started_before: Annotated[
        datetime | None, Query(description="Exclusive; ISO 8601 with a zone")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=1000, pattern=NO_NUL, description="`next_cursor` of the last page"),
    ] = None,
) -> RunsPage:
    """Runs matching every filter given, newest first (by start, then id). Runs entered while
    paging appear on no later page: the cursor continues from the last run shown."""
    with _invalid("query"):
        runs = run_filter(
            journey=journey,
            version=version,
            status=run_status,
            customer=None if customer is None else resolve(settings, customer),
            started_after=started_after,
            started_before=started_before,
        )
        page = await find_runs(session, runs, limit=limit, cursor=cursor)
    redactor = Redactor(principal)
    return RunsPage(
        runs=[shown_run(run, settings, redactor) for run in page.runs],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/{run_id}/cancel",
    responses={
        404: {"description": "No run has this id"},
        409: {"description": "The run has already ended; `detail` names its status"},
        422: INVALID,
        503: TEMPORAL_DOWN,
    },
)
async def cancel_run(
    run_id: Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)],
    body: CancelBodyDep,
    session: SessionDep,
    temporal: TemporalDep,
    principal: PrincipalDep,
) -> CancelledOut:
    """Stop one run now, from whatever step it is in (a wait, a deferred or retrying send):
    it ends as `cancelled` with "cancelled by <your key's name>: <reason>", audited, and sends
    nothing more. Logged in the operator log."""
    run = await session.get(JourneyRun, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"run_id: no run has the id {run_id!r}")
    if run.status != ACTIVE:
        reason = Redactor(principal).text(run.reason)
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"run {run_id} already ended: {run.status} ({reason})"
        )
    workflow_id = run.workflow_id
    with _temporal_answers():
        outcome = await cancel_runs(
            temporal, session, [run_id], actor=principal, reason=body.reason
        )
    if run_id in outcome.failed:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"Temporal did not take the cancel: {outcome.failed[run_id]}; nothing was changed",
        )
    if run_id in outcome.already_ended:
        ended = outcome.already_ended[run_id]
        raise HTTPException(status.HTTP_409_CONFLICT, f"run {run_id} already ended ({ended})")
    assert temporal is not None
    ended_as = await _outcome_within(temporal, workflow_id, run_id, CANCEL_WAIT_SECONDS)
    if ended_as is None:
        reason = f"cancelled by {principal.name}: {body.reason}"
        return CancelledOut(run_id=run_id, status="cancelling", reason=reason)
    reason = Redactor(principal).text(ended_as.reason)
    return CancelledOut(run_id=run_id, status=ended_as.status, reason=reason)


@router.post(
    "/cancel",
    responses={
        409: {
            "description": "The matching set changed since the dry run: `detail.count` is the "
            "new count; dry-run again, check, and confirm that number"
        },
        422: INVALID,
        503: TEMPORAL_DOWN,
    },
)
async def cancel_matching(
    body: BulkCancelBodyDep,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    principal: PrincipalDep,
) -> BulkCancelOut:
    """Stop every active run of a journey (or a customer), optionally of one version or
    started in a window: how to stop a misbehaving journey now. Pausing the journey as well
    (`POST /v1/journeys/{key}/pause`) keeps new customers out."""
    if body.journey is None and body.customer is None:
        raise _invalid_field(
            "body", "journey", "give journey (or customer): an empty filter would reach every run"
        )
    with _invalid("body"):
        runs = run_filter(
            journey=body.journey,
            version=body.version,
            status=ACTIVE,
            customer=None if body.customer is None else resolve(settings, body.customer),
            started_after=body.started_after,
            started_before=body.started_before,
        )
    if body.dry_run:
        count = await count_runs(session, runs)
        sample = await find_runs(session, runs, limit=SAMPLE_SIZE)
        return BulkCancelOut(
            dry_run=True,
            count=count,
            sample=[shown_run(run, settings, Redactor(principal)) for run in sample.runs],
            requested=[],
            already_ended={},
            failed={},
        )
    if body.reason is None:
        raise _invalid_field("body", "reason", "say why these runs are cancelled")
    if body.expected_count is None:
        raise _invalid_field("body", "expected_count", "dry-run first, then send the count it gave")
    run_ids = await matching_run_ids(session, runs)
    if len(run_ids) != body.expected_count:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {
                "message": f"the filter now matches {len(run_ids)} active runs, not "
                f"{body.expected_count}: dry-run again and confirm {len(run_ids)}",
                "count": len(run_ids),
            },
        )
    with _temporal_answers():
        outcome = await cancel_runs(
            temporal,
            session,
            run_ids,
            actor=principal,
            reason=body.reason,
            target=_target(runs),
            detail={"filter": _described(runs), "matched": len(run_ids)},
        )
    return BulkCancelOut(
        dry_run=False,
        count=len(run_ids),
        sample=[],
        requested=outcome.requested,
        already_ended=outcome.already_ended,
        failed=outcome.failed,
    )


@router.post(
    "/events",
    responses={
        404: {"description": "The customer has no active run (of that journey)"},
        422: INVALID,
        503: TEMPORAL_DOWN,
    },
)
async def send_event_by_hand(
    body: EventBodyDep,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    principal: PrincipalDep,
) -> EventOut:
    """Hand an event to the customer's active runs (of one journey, if given), as if it had
    arrived: a run waiting for it moves on, an exit event ends the run. Each run gets it with a
    messageId of its own; no other journey sees it, and it enters nobody anywhere. Logged."""
    with _temporal_answers():
        outcome = await send_event(
            temporal,
            session,
            resolve(settings, body.customer_id),
            body.event,
            body.properties,
            actor=principal,
            journey=body.journey,
        )
    if not outcome.delivered and not outcome.missed:
        of = f" in journey {body.journey!r}" if body.journey else ""
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"customer_id: {body.customer_id!r} has no active run{of}; nothing was sent",
        )
    redactor = Redactor(principal)
    nudged = [NudgedOut.model_validate(n, from_attributes=True) for n in outcome.delivered]
    return EventOut(
        customer_id=redactor.id(outcome.customer_id),
        event=body.event,
        runs=[n.model_copy(update={"workflow_id": redactor.id(n.workflow_id)}) for n in nudged],
        missed={run_id: redactor.text(why) for run_id, why in outcome.missed.items()},
    )


async def _outcome_within(
    temporal: Client, workflow_id: str, run_id: str, seconds: float
) -> JourneyOutcome | None:
    """The run's outcome if it ends within ``seconds``; None if it is still going."""
    handle = temporal.get_workflow_handle(workflow_id, run_id=run_id, result_type=JourneyOutcome)
    try:
        outcome: JourneyOutcome = await asyncio.wait_for(handle.result(), seconds)
    except Exception:  # still running, or Temporal slow: the cancel stands either way
        return None
    return outcome


def _target(runs: RunFilter) -> str:
    return f"journey:{runs.journey}" if runs.journey is not None else f"customer:{runs.customer}"


def _described(runs: RunFilter) -> dict[str, Any]:
    values: Mapping[str, Any] = {
        "journey": runs.journey,
        "version": runs.version,
        "customer": runs.customer,
        "started_after": runs.started_after.isoformat() if runs.started_after else None,
        "started_before": runs.started_before.isoformat() if runs.started_before else None,
    }
    return {name: value for name, value in values.items() if value is not None}


def _invalid_field(where: str, name: str, message: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own, naming the parameter."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, name), "msg": message, "input": None}]
    )


@contextmanager
def _invalid(where: str) -> Iterator[None]:
    try:
        yield
    except InvalidFilter as err:
        raise _invalid_field(where, err.field, err.message) from None


@contextmanager
def _temporal_answers() -> Iterator[None]:
    try:
        yield
    except TemporalUnavailable as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from None
