"""A journey run as every route shows it: the ``journey_runs`` row's fields, one model.

The run list, a run's timeline and a customer's timeline all start from these fields and add
their own (the timeline's entries, the Temporal Web UI link), so a new column is shown alike
everywhere, and masked alike (:func:`shown_run`): ids holding an email address or phone number
are masked for roles that do not see contacts, and ``customer_ref`` is what links carry then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal
from api.contacts.customer_refs import linked_id
from api.contacts.masking import shown_id
from api.contacts.redaction import Redactor
from journeys.settings import Settings
from journeys.vocabulary import RunStatus

RUN_EXAMPLE: dict[str, Any] = {
    "run_id": "0b7c2a4e-52c1-4d4f-9f0e-6d8a1d0f9c11",
    "workflow_id": "journey/cart-recovery/c-123",
    "journey_key": "cart-recovery",
    "journey_version": 3,
    "customer_id": "c-123",
    "customer_ref": "c-123",
    "status": "active",
    "reason": "",
    "trigger_event": "Cart Abandoned",
    "trigger_message_id": "msg-8f1",
    "started_at": "2026-11-23T10:00:00Z",
    "ended_at": None,
    "holdout": False,
    "entry_key": None,
}


class RunOut(BaseModel):
    """One run: a customer's pass through one journey version."""

    model_config = ConfigDict(
        from_attributes=True, populate_by_name=True, json_schema_extra={"examples": [RUN_EXAMPLE]}
    )

    run_id: str = Field(validation_alias="id", description="Temporal's run id")
    workflow_id: str
    journey_key: str
    journey_version: int
    customer_id: str = Field(description="Masked if it holds contact details you may not see")
    customer_ref: str = Field(
        default="",
        description="The customer in paths (`/v1/customers/{customer_ref}/timeline`): the id, "
        "or an opaque `cref_...` reference when the id is masked for you",
    )
    status: RunStatus = Field(description="The row's status: never `duplicate`, an outcome only")
    reason: str = Field(description="Why it ended (or was not entered); empty while active")
    trigger_event: str
    trigger_message_id: str
    started_at: datetime
    ended_at: datetime | None
    holdout: bool
    entry_key: str | None


def shown_run(run: object, settings: Settings, redactor: Redactor) -> RunOut:
    """``run`` (a ``journey_runs`` row or a timeline's run) as ``redactor``'s principal may see
    it: its ids and reason masked unless they see contacts, with the reference links carry."""
    out = RunOut.model_validate(run)
    if redactor.principal.sees_contacts:
        return out.model_copy(update={"customer_ref": out.customer_id})
    return out.model_copy(
        update={
            "workflow_id": redactor.id(out.workflow_id),
            "customer_id": redactor.id(out.customer_id),
            "customer_ref": linked_id(settings, redactor.principal, out.customer_id),
            "trigger_message_id": redactor.id(out.trigger_message_id),
            "entry_key": None if out.entry_key is None else redactor.id(out.entry_key),
            "reason": redactor.text(out.reason),
        }
    )


class RunIds(Protocol):
    """What names a run in Temporal: a ``JourneyRun`` row, a timeline's ``RunTimeline``."""

    @property
    def id(self) -> str: ...

    @property
    def workflow_id(self) -> str: ...


def temporal_ui_link(settings: Settings, run: RunIds, principal: Principal) -> str:
    """Deep link to the run's event history; workflow ids hold slashes, so they are escaped.

    A workflow id holds the customer id: when that is masked for ``principal``, the link finds
    the run by its run id instead, so the link shows no address (the Temporal Web UI itself
    shows everything: only those who may see contact details should have access to it)."""
    namespace = quote(settings.temporal_namespace, safe="")
    base = settings.temporal_ui_url.rstrip("/")
    if shown_id(run.workflow_id, principal) != run.workflow_id:
        query = quote(f'RunId="{run.id}"', safe="")
        return f"{base}/namespaces/{namespace}/workflows?query={query}"
    workflow = quote(run.workflow_id, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{workflow}/{run.id}/history"
