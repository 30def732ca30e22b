"""One customer's journeys, for support: what ran, what was sent, and why, decision by decision."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict

from api.current_steps import current_steps
from api.deps import SessionDep, SettingsDep, TemporalDep
from journeys.contracts import StepState
from journeys.settings import Settings
from journeys.store.models import JourneyRun
from journeys.store.timeline import customer_history

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel: str
    template: str
    template_version: int | None
    step: str
    status: str
    reason: str
    recipient: str | None
    subject: str | None
    body: str | None
    provider_message_id: str | None
    requested_at: datetime


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    kind: str
    reason: str
    step: str | None
    data: dict[str, Any]
    occurred_at: datetime


class CurrentStep(BaseModel):
    kind: str
    description: str
    since: datetime
    until: datetime | None


class RunOut(BaseModel):
    run_id: str
    workflow_id: str
    journey_key: str
    journey_version: int
    status: str
    reason: str
    trigger_event: str
    trigger_message_id: str
    started_at: datetime
    ended_at: datetime | None
    temporal_ui: str
    current_step: CurrentStep | None
    deliveries: list[DeliveryOut]
    timeline: list[AuditOut]


class CustomerJourneys(BaseModel):
    customer_id: str
    traits: dict[str, Any]
    runs: list[RunOut]


@router.get(
    "/{customer_id}/journeys",
    responses={404: {"description": "No profile and no journey runs for this customer"}},
)
async def customer_journeys(
    customer_id: str,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Newest runs to return")] = 100,
) -> CustomerJourneys:
    """Runs newest first; ``current_step`` is asked of Temporal for active runs, when it answers."""
    history = await customer_history(session, customer_id, limit=limit)
    if history.is_unknown:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"customer {customer_id!r} not found: no profile and no journey runs",
        )
    steps = await current_steps(temporal, history.runs)
    return CustomerJourneys(
        customer_id=customer_id,
        traits=history.customer.traits if history.customer else {},
        runs=[_run_out(run, steps.get(run.id), settings) for run in history.runs],
    )


def _run_out(run: JourneyRun, step: StepState | None, settings: Settings) -> RunOut:
    current = None if step is None else CurrentStep.model_validate(step, from_attributes=True)
    return RunOut(
        run_id=run.id,
        workflow_id=run.workflow_id,
        journey_key=run.journey_key,
        journey_version=run.journey_version,
        status=run.status,
        reason=run.reason,
        trigger_event=run.trigger_event,
        trigger_message_id=run.trigger_message_id,
        started_at=run.started_at,
        ended_at=run.ended_at,
        temporal_ui=temporal_ui_link(settings, run),
        current_step=current,
        deliveries=[DeliveryOut.model_validate(d) for d in run.deliveries],
        timeline=[AuditOut.model_validate(a) for a in run.audit],
    )


def temporal_ui_link(settings: Settings, run: JourneyRun) -> str:
    """Deep link to the run's event history; workflow ids hold slashes, so they are escaped."""
    namespace = quote(settings.temporal_namespace, safe="")
    workflow = quote(run.workflow_id, safe="")
    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{namespace}/workflows/{workflow}/{run.id}/history"
