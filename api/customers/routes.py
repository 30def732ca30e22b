"""Customers, for support: finding one by id, email or phone, and what ran for them and why.

Contact details are shown in full to admins only (:mod:`api.contacts.masking`): search results,
traits, recipients, ids (a customer whose id is an email address), and the audit sentences and
rendered messages that name an address alike. Where an id is masked, links and ``customer_ref``
carry an opaque reference (:mod:`api.contacts.customer_refs`) that every customer route takes in
place of the id.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, status

from api.auth import PrincipalDep
from api.contacts.customer_refs import CustomerIdOrRef, linked_id, resolve
from api.contacts.redaction import Redactor
from api.customers.schemas import (
    AuditOut,
    CurrentStep,
    CustomerJourneys,
    CustomerMatchOut,
    CustomerSearch,
    DeliveryOut,
    JourneyRunOut,
)
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.params import NO_NUL
from api.runs.current_steps import current_steps
from api.runs.out import shown_run, temporal_ui_link
from journeys.contracts import StepState
from journeys.insight.timeline import customer_history
from journeys.settings import Settings
from journeys.store.customer_search import MAX_MATCHES, search_customers
from journeys.store.models import JourneyRun

router = APIRouter(prefix="/v1/customers", tags=["customers"])

# PostgreSQL refuses text holding NUL: such input is a 422 naming its field, not a 500.


@router.get(
    "",
    responses={422: {"description": "Not exactly one of email, phone and q given, or empty"}},
)
async def find_customers(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    email: Annotated[
        str | None,
        Query(
            max_length=320,
            pattern=NO_NUL,
            description="The profile's email, as typed or in lower case",
        ),
    ] = None,
    phone: Annotated[
        str | None,
        Query(max_length=50, pattern=NO_NUL, description="The profile's phone, spaces or not"),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=320,
            pattern=NO_NUL,
            description="A customer id or alias, an email or a phone number",
        ),
    ] = None,
) -> CustomerSearch:
    """Find customers by what support has at hand; at most 50. No match is an empty list."""
    given = {name: value for name, value in (("email", email), ("phone", phone), ("q", q))}
    asked = [name for name, value in given.items() if value is not None]
    if len(asked) != 1:
        field = asked[1] if len(asked) > 1 else "q"
        raise _invalid_query(field, "give exactly one of email, phone and q")
    (name,) = asked
    if not (given[name] or "").strip():
        raise _invalid_query(name, f"{name} is empty")
    found = await search_customers(session, **{name: given[name]}, limit=MAX_MATCHES)
    redactor = Redactor(principal)
    customers = []
    for match in found:
        ref = linked_id(settings, principal, match.customer_id)
        customers.append(
            CustomerMatchOut(
                customer_id=redactor.id(match.customer_id),
                customer_ref=ref,
                matched=match.matched,
                email=redactor.address(match.email),
                phone=redactor.address(match.phone),
                timeline=f"/v1/customers/{quote(ref, safe='')}/timeline",
            )
        )
    return CustomerSearch(customers=customers)


def _invalid_query(field: str, message: str) -> HTTPException:
    """A 422 shaped as FastAPI's own validation errors, naming the query parameter."""
    detail = [{"loc": ["query", field], "msg": message, "type": "value_error"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@router.get(
    "/{customer_id}/journeys",
    responses={404: {"description": "No profile and no journey runs for this customer"}},
)
async def customer_journeys(
    customer_id: CustomerIdOrRef,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Newest runs to return")] = 100,
) -> CustomerJourneys:
    """Runs newest first; ``current_step`` is asked of Temporal for active runs, when it answers.

    ``GET /v1/customers/{customer_id}/timeline`` tells the same runs as sentences, with what
    became of each message; this is the rows as stored.
    """
    asked = resolve(settings, customer_id)
    history = await customer_history(session, asked, limit=limit)
    if history.is_unknown:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"customer {customer_id!r} not found: no profile and no journey runs",
        )
    steps = await current_steps(temporal, history.runs)
    traits = history.customer.traits if history.customer else {}
    recipients = [d.recipient for run in history.runs for d in run.deliveries]
    ids = {asked, *(run.customer_id for run in history.runs)}
    redactor = Redactor.for_customer(principal, traits, recipients, ids)
    return CustomerJourneys(
        customer_id=redactor.id(asked),
        customer_ref=linked_id(settings, principal, asked),
        traits=redactor.traits(traits),
        runs=[_run_out(run, steps.get(run.id), settings, redactor) for run in history.runs],
    )


def _run_out(
    run: JourneyRun, step: StepState | None, settings: Settings, redactor: Redactor
) -> JourneyRunOut:
    current = None if step is None else CurrentStep.model_validate(step, from_attributes=True)
    if current is not None:
        current = current.model_copy(update={"description": redactor.text(current.description)})
    return JourneyRunOut(
        **shown_run(run, settings, redactor).model_dump(),
        temporal_ui=temporal_ui_link(settings, run, redactor.principal),
        current_step=current,
        deliveries=[_delivery_out(d, redactor) for d in run.deliveries],
        timeline=[_audit_out(a, redactor) for a in run.audit],
    )


def _delivery_out(row: Any, redactor: Redactor) -> DeliveryOut:
    out = DeliveryOut.model_validate(row)
    return out.model_copy(
        update={
            "recipient": redactor.address(out.recipient),
            "reason": redactor.text(out.reason),
            "subject": None if out.subject is None else redactor.message(out.subject),
            "body": None if out.body is None else redactor.message(out.body),
        }
    )


def _audit_out(row: Any, redactor: Redactor) -> AuditOut:
    out = AuditOut.model_validate(row)
    return out.model_copy(
        update={"reason": redactor.text(out.reason), "data": redactor.value(out.data)}
    )
