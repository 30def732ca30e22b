"""Timelines for support: a customer's or a run's story, entry by entry, in the order it happened.

"Why did this customer get this message, or not?" is answered by reading one list: entered on
which event and version, each wait and until when, each message with its rendered content and
what became of it (delivered, opened, clicked), each skip, deferral and branch with its reason,
the conversion and the end. Each run links to its event history in the Temporal Web UI.

Contact details are shown in full to admins only: the traits, the recipients, the ids and
aliases, and every sentence or rendered message that names one of the customer's addresses
(:mod:`api.contacts.redaction`). The message body itself is kept, since support needs to see
what the customer read. A customer whose id is masked is reached by its ``customer_ref``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.auth import PrincipalDep
from api.contacts.customer_refs import CustomerIdOrRef, linked_id, resolve
from api.contacts.redaction import Redactor
from api.deps import SessionDep, SettingsDep
from api.params import NO_NUL
from api.runs.out import shown_run, temporal_ui_link
from api.timelines.schemas import CustomerTimelineOut, EntryOut, RunTimelineOut
from journeys.insight.timeline import (
    RunTimeline,
    TimelineEntry,
    customer_timeline,
    run_timeline,
)
from journeys.settings import Settings
from journeys.store import customers

router = APIRouter(prefix="/v1", tags=["timelines"])


@router.get(
    "/customers/{customer_id}/timeline",
    responses={404: {"description": "No profile and no journey runs for this customer"}},
)
async def get_customer_timeline(
    customer_id: CustomerIdOrRef,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Newest runs to return")] = 100,
) -> CustomerTimelineOut:
    """The customer's profile and their newest runs, each with its timeline, oldest entry first.

    The id may be any of the customer's ids: an ``anonymousId`` they were identified from
    finds them, and their runs from before they were identified are included.
    """
    found = await customer_timeline(session, resolve(settings, customer_id), limit=limit)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"customer {customer_id!r} not found: no profile and no journey runs",
        )
    ids = [found.customer_id, *found.aliases]
    redactor = Redactor.for_customer(principal, found.traits, _recipients(found.runs), ids)
    return CustomerTimelineOut(
        customer_id=redactor.id(found.customer_id),
        customer_ref=linked_id(settings, principal, found.customer_id),
        aliases=[redactor.id(alias) for alias in found.aliases],
        has_profile=found.has_profile,
        traits=redactor.traits(found.traits),
        runs=[_run_out(run, settings, redactor) for run in found.runs],
    )


@router.get(
    "/runs/{run_id}/timeline",
    responses={404: {"description": "No journey run has this id"}},
)
async def get_run_timeline(
    run_id: Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)],
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> RunTimelineOut:
    """One run's timeline; ``run_id`` is the Temporal run id (``run_id`` of a customer's runs)."""
    found = await run_timeline(session, run_id)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"run_id: no journey run has the id {run_id!r}"
        )
    profile = await customers.profile(session, found.customer_id)
    traits = dict(profile.traits or {}) if profile is not None else {}
    ids = [found.customer_id, *([profile.id] if profile is not None else [])]
    redactor = Redactor.for_customer(principal, traits, _recipients([found]), ids)
    return _run_out(found, settings, redactor)


def _run_out(run: RunTimeline, settings: Settings, redactor: Redactor) -> RunTimelineOut:
    return RunTimelineOut(
        **shown_run(run, settings, redactor).model_dump(),
        temporal_ui=temporal_ui_link(settings, run, redactor.principal),
        entries=[_entry_out(entry, redactor) for entry in run.entries],
    )


def _entry_out(entry: TimelineEntry, redactor: Redactor) -> EntryOut:
    return EntryOut(
        at=entry.at,
        kind=entry.kind,
        step=entry.step,
        summary=redactor.text(entry.summary),
        detail=redactor.value(entry.detail),
    )


def _recipients(runs: Iterable[RunTimeline]) -> list[str]:
    return [
        str(entry.detail["recipient"])
        for run in runs
        for entry in run.entries
        if entry.detail.get("recipient")
    ]
