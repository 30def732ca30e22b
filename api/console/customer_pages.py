"""Support's pages: find a customer, see their profile and every run with its timeline, and
(editors, admins) cancel a run that should not go on.

Contact details are shown as the API shows them (:mod:`api.contacts.redaction`): in full to admins,
masked to everyone else, in the profile, the ids, the timeline's sentences and the messages
alike. A customer whose id is masked is linked by its reference
(:mod:`api.contacts.customer_refs`), so the address bar shows no address either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import EDITORS, Principal
from api.console import views
from api.console.access import Viewer, can_edit, check_form, check_role, console_router
from api.contacts.customer_refs import MAX_REF_LENGTH, linked_id, resolve
from api.contacts.redaction import Redactor
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.runs.control import TemporalUnavailable, cancel_runs
from api.runs.current_steps import current_steps
from api.runs.out import temporal_ui_link
from journeys.contracts import StepState
from journeys.insight.timeline import (
    CustomerTimeline,
    RunTimeline,
    TimelineEntry,
    customer_timeline,
)
from journeys.settings import Settings
from journeys.store.customer_search import search_customers
from journeys.store.models import JourneyRun
from journeys.vocabulary import RunStatus

router = console_router()

RUN_LIMIT = 50
MAX_REASON = 500


@dataclass(frozen=True)
class Entry:
    """One line of a run's timeline as the viewer may see it: when, what, which step, why; for
    a message its subject and text, and the facts behind it as JSON."""

    at: datetime
    kind: str
    step: str | None
    summary: str
    subject: str | None
    body: str | None
    detail: str


@dataclass(frozen=True)
class Match:
    """A search result as the viewer may see it, and the link to the customer's page."""

    customer_id: str
    link: str
    matched: str
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class RunView:
    run: RunTimeline
    entries: list[Entry]
    temporal_ui: str
    current: StepState | None
    cancellable: bool


@router.get("/")
async def home(request: Request, principal: Viewer) -> HTMLResponse:
    return views.render(request, "home.html", {"section": "customers"}, principal=principal)


@router.get("/search")
async def search(
    request: Request,
    principal: Viewer,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=320)] = "",
) -> Response:
    """One match goes straight to the customer; several are listed; none says so."""
    query = q.strip()
    if not query:
        return views.problem(
            request,
            status.HTTP_400_BAD_REQUEST,
            "Nothing to search for",
            "q: type a customer id, an email address or a phone number.",
            principal=principal,
        )
    found = await search_customers(session, q=query)
    if len(found) == 1:
        return views.redirect(_customer_url(settings, principal, found[0].customer_id))
    redactor = Redactor(principal)
    matches = [
        Match(
            customer_id=redactor.id(match.customer_id),
            link=_customer_url(settings, principal, match.customer_id),
            matched=match.matched,
            email=redactor.address(match.email),
            phone=redactor.address(match.phone),
        )
        for match in found
    ]
    return views.render(
        request,
        "search.html",
        {"section": "customers", "query": query, "matches": matches},
        principal=principal,
        status_code=status.HTTP_200_OK if matches else status.HTTP_404_NOT_FOUND,
    )


@router.get("/customers/{customer_id:path}")
async def customer(
    request: Request,
    customer_id: str,
    principal: Viewer,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    """The profile and the newest runs, each with its timeline and, while it is active, what
    its workflow is doing now (asked of Temporal). The path holds any of the customer's ids or
    the reference their masked links carry."""
    found = None
    if len(customer_id) <= MAX_REF_LENGTH:
        found = await customer_timeline(session, resolve(settings, customer_id), limit=RUN_LIMIT)
    if found is None:
        return views.problem(
            request,
            status.HTTP_404_NOT_FOUND,
            "No such customer",
            f"No profile and no journey runs for {customer_id!r}. Search by email or phone "
            "number instead, or check the id.",
            principal=principal,
        )
    active = await _run_rows(
        session, [run.id for run in found.runs if run.status == RunStatus.ACTIVE]
    )
    steps = await current_steps(temporal, active)
    ids = [found.customer_id, *found.aliases]
    redactor = Redactor.for_customer(principal, found.traits, _recipients(found), ids)
    runs = [_run_view(run, steps.get(run.id), settings, redactor) for run in found.runs]
    timeline = replace(found, runs=[view.run for view in runs])
    return views.render(
        request,
        "customer.html",
        {
            "section": "customers",
            "customer_id": redactor.id(timeline.customer_id),
            "aliases": [redactor.id(alias) for alias in timeline.aliases],
            "has_profile": timeline.has_profile,
            "traits": redactor.traits(timeline.traits),
            "runs": runs,
            "run_limit": RUN_LIMIT,
            "can_cancel": can_edit(principal),
            "temporal_connected": temporal is not None,
            "notice": _cancel_notice(request, timeline),
        },
        principal=principal,
    )


@router.post("/runs/{run_id}/cancel")
async def cancel_run(
    request: Request,
    run_id: str,
    principal: Viewer,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    reason: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias="csrf")] = "",
) -> Response:
    """Cancel one active run as ``POST /v1/runs/{run_id}/cancel`` does (``api.runs.control``,
    which logs it in the operator log); then back to the customer's page, which shows the run
    ``cancelled`` once its worker has handled the cancel (a moment)."""
    check_form(request, principal, csrf_token)
    check_role(request, principal, EDITORS, "Cancelling a run")
    run = await session.get(JourneyRun, run_id)
    if run is None:
        return views.problem(
            request,
            status.HTTP_404_NOT_FOUND,
            "No such run",
            f"run_id: no journey run has the id {run_id!r}.",
            principal=principal,
        )
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        return views.problem(
            request,
            status.HTTP_400_BAD_REQUEST,
            "A reason is needed",
            f"reason: say why this run is cancelled, in 1 to {MAX_REASON} characters; it is "
            "kept in the operator log. Nothing was changed.",
            principal=principal,
        )
    if run.status != RunStatus.ACTIVE:
        return views.problem(
            request,
            status.HTTP_409_CONFLICT,
            "Run already ended",
            f"Run {run_id} of {run.journey_key} already ended: {run.status} "
            f"({Redactor(principal).text(run.reason)}). "
            "Nothing was changed.",
            principal=principal,
        )
    try:
        outcome = await cancel_runs(
            temporal, session, [run_id], actor=principal, reason=reason, detail={"via": "console"}
        )
    except TemporalUnavailable as err:
        return views.problem(
            request,
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Temporal unavailable",
            f"{err}. Try again in a minute.",
            principal=principal,
        )
    if run_id in outcome.failed:
        return views.problem(
            request,
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Cancel not taken",
            f"Temporal did not take the cancel: {outcome.failed[run_id]}. Nothing was changed.",
            principal=principal,
        )
    done = "ended" if run_id in outcome.already_ended else "requested"
    query = urlencode({"cancel": done, "run": run_id})
    return views.redirect(f"{_customer_url(settings, principal, run.customer_id)}?{query}")


def _cancel_notice(request: Request, timeline: CustomerTimeline) -> str:
    """What the cancel just posted did, said by the page itself (never text from the URL)."""
    run_id, done = request.query_params.get("run"), request.query_params.get("cancel")
    run = next((r for r in timeline.runs if r.id == run_id), None)
    if run is None or done not in ("requested", "ended"):
        return ""
    if done == "ended":
        return f"Run {run.id} of {run.journey_key} had already ended; nothing was cancelled."
    if run.status == RunStatus.ACTIVE:
        return (
            f"Run {run.id} of {run.journey_key}: cancel requested; it ends as cancelled within "
            "moments (reload to see it)."
        )
    return f"Run {run.id} of {run.journey_key} is {run.status}: {run.reason}"


def _customer_url(settings: Settings, principal: Principal, customer_id: str) -> str:
    """The customer's page: by their id, or by its reference if the id is masked for them."""
    linked = linked_id(settings, principal, customer_id)
    return f"{views.PREFIX}/customers/{views.segment(linked)}"


async def _run_rows(session: AsyncSession, run_ids: list[str]) -> list[JourneyRun]:
    """The runs' rows, which :func:`api.runs.current_steps.current_steps` asks Temporal about."""
    if not run_ids:
        return []
    return list(await session.scalars(select(JourneyRun).where(JourneyRun.id.in_(run_ids))))


def _run_view(
    run: RunTimeline,
    step: StepState | None,
    settings: Settings,
    redactor: Redactor,
) -> RunView:
    shown = run
    if not redactor.principal.sees_contacts:
        shown = replace(
            run,
            workflow_id=redactor.id(run.workflow_id),
            customer_id=redactor.id(run.customer_id),
            trigger_message_id=redactor.id(run.trigger_message_id),
            entry_key=None if run.entry_key is None else redactor.id(run.entry_key),
            reason=redactor.text(run.reason),
        )
    if step is not None and not redactor.principal.sees_contacts:
        step = replace(step, description=redactor.text(step.description))
    return RunView(
        run=shown,
        entries=[_entry(entry, redactor) for entry in run.entries],
        temporal_ui=temporal_ui_link(settings, run, redactor.principal),
        current=step,
        cancellable=run.status == RunStatus.ACTIVE,
    )


def _entry(entry: TimelineEntry, redactor: Redactor) -> Entry:
    detail = redactor.value(entry.detail)
    subject, body = detail.pop("subject", None), detail.pop("body", None)
    detail.pop("html", None)  # the text part tells it; the HTML is in the template preview
    facts = json.dumps(detail, sort_keys=True, default=str, ensure_ascii=False) if detail else ""
    return Entry(
        at=entry.at,
        kind=entry.kind,
        step=entry.step,
        summary=redactor.text(entry.summary),
        subject=subject if isinstance(subject, str) else None,
        body=body if isinstance(body, str) else None,
        detail=facts,
    )


def _recipients(timeline: CustomerTimeline) -> list[str | None]:
    """Where the customer's messages went: addresses to hide in every sentence as well."""
    return [
        recipient
        for run in timeline.runs
        for entry in run.entries
        if isinstance(recipient := entry.detail.get("recipient"), str)
    ]
