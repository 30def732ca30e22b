"""A customer's data rights, for admins: export everything held about them, or erase them.

Erasure starts in Temporal, not in the store: a journey still running would write the customer
back (an audit row, a delivery, a trait update) after the store forgot them. So the customer's
running workflows are terminated first, and their histories deleted (they hold the events'
traits and properties), and only then are the store's rows erased, in one transaction. When
Temporal cannot be reached the answer is a 503 and nothing is erased; erasing again once it is
back is safe, every step being idempotent.

Both are written to the operator log. The erasure's row names the customer by the SHA-256 of
their id only (:func:`journeys.store.erasure.customer_hash`), and earlier rows naming them are
rewritten to that hash, so the log does not undo the erasure.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import PrincipalDep, log_change
from api.deps import SessionDep, TemporalDep
from api.params import CustomerId
from api.privacy.schemas import CustomerExport, ErasureCountsOut, ErasureOut, ErasureRequest
from journeys.store import erasure
from journeys.store.customers import Identity
from journeys.store.models import JourneyDefinition, JourneyRun
from journeys.temporal import CUSTOMER_ID, watcher_id
from journeys.vocabulary import RunStatus

log = logging.getLogger(__name__)

# Mounted for admins only (api/main.py): documented here for clients.
ACCESS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "Not an admin key: only admins export and erase customers"},
}
router = APIRouter(prefix="/v1/customers", tags=["privacy"], responses=ACCESS)

EXPORTED = "customer.exported"
ERASED = "customer.erased"
# Each call to Temporal gives up after this, so a hung server is a 503, not a hung request.
TEMPORAL_TIMEOUT = timedelta(seconds=10)
# Characters that would need escaping inside a Temporal visibility query's string literal; ids
# holding them are found through the store's runs only.
_UNQUOTABLE = frozenset("'\"\\\n\r\t")


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Nothing is held about this customer (or it was erased)"}
}


# --- export ----------------------------------------------------------------------------------


def _attachment_name(customer_id: str) -> str:
    return "customer-" + re.sub(r"[^A-Za-z0-9._-]", "_", customer_id)[:100] + ".json"


@router.get(
    "/{customer_id}/export",
    summary="Export everything held about a customer",
    response_model=CustomerExport,
    responses={
        200: {
            "description": "The export; with `download=true` also a `Content-Disposition: "
            "attachment` header, so a browser saves it as a file"
        },
        **_NOT_FOUND,
    },
)
async def export_customer(
    customer_id: CustomerId,
    session: SessionDep,
    principal: PrincipalDep,
    download: Annotated[
        bool, Query(description="Send it as a file to save (Content-Disposition: attachment)")
    ] = False,
) -> JSONResponse:
    """Profile, aliases, consents, the suppressions of their addresses, every journey run with
    its audit trail and rendered messages, and conversions, as one JSON document (the right of
    access). Written to the operator log, since it hands personal data out."""
    exported = await erasure.export_customer(session, customer_id)
    if exported is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"customer {customer_id!r} not found: nothing is held about this id",
        )
    body = CustomerExport.model_validate(exported)
    await log_change(
        session,
        principal,
        action=EXPORTED,
        target=f"customer:{body.customer_id}",
        detail={"runs": len(body.runs), "download": download},
    )
    await session.commit()
    headers = {}
    if download:
        headers["Content-Disposition"] = (
            f'attachment; filename="{_attachment_name(body.customer_id)}"'
        )
    return JSONResponse(jsonable_encoder(body), headers=headers)


# --- erasure ---------------------------------------------------------------------------------


@router.post(
    "/{customer_id}/erase",
    summary="Erase a customer",
    responses={
        **_NOT_FOUND,
        422: {"description": "A field is invalid, or `confirm` is not the customer id"},
        503: {
            "description": "Temporal unreachable or failing: nothing was erased from the "
            "store; retry (erasing again is safe)"
        },
    },
)
async def erase_customer(
    customer_id: CustomerId,
    request: ErasureRequest,
    session: SessionDep,
    temporal: TemporalDep,
    principal: PrincipalDep,
) -> ErasureOut:
    """Terminate the customer's running journeys, delete their workflow histories (unless
    ``delete_histories`` is false), then delete their profile, aliases and consents and
    pseudonymise their runs, deliveries, audit trail and conversions (counts stay, contents go).
    Suppressions of their addresses stay in force. Cannot be undone."""
    if request.confirm != customer_id:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "confirm"),
                    "msg": "confirm must repeat the customer id of the path exactly",
                    "input": request.confirm,
                }
            ]
        )
    identity = await erasure.identity_of(session, customer_id)
    if identity is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"customer {customer_id!r} not found: nothing is held about this id "
            "(never seen, or already erased)",
        )
    await session.rollback()  # no transaction held open while Temporal is asked
    if temporal is None:
        raise _unavailable("Temporal is unreachable")
    try:
        terminated = await terminate_workflows(temporal, session, identity)
        deleted = (
            await delete_histories(temporal, session, identity) if request.delete_histories else 0
        )
    except RPCError as err:
        raise _unavailable(f"Temporal failed: {err}") from err
    await session.rollback()
    hashed = erasure.customer_hash(identity.customer_id)
    try:
        async with session.begin():
            counts = await erasure.erase_customer(
                session, identity.customer_id, pseudonym=erasure.new_pseudonym()
            )
            await log_change(
                session,
                principal,
                action=ERASED,
                target=f"customer:{hashed}",
                detail={
                    "reason": request.reason,
                    "workflows_terminated": len(terminated),
                    "histories_deleted": deleted,
                    "counts": counts.as_dict(),
                },
            )
    except erasure.CustomerNotFound as err:  # erased by another request meanwhile
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"customer {customer_id!r} not found: already erased"
        ) from err
    log.info("customer %s erased by %s", hashed, principal.key_id)
    return ErasureOut(
        customer_hash=hashed,
        workflows_terminated=len(terminated),
        histories_deleted=deleted,
        counts=ErasureCountsOut(**counts.as_dict()),
    )


def _unavailable(why: str) -> HTTPException:
    """Nothing is erased from the store while a journey of the customer may still run (it would
    write them back). Workflows terminated before the failure stay terminated; erasing again
    once Temporal answers is safe and finishes the job."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{why}: nothing was erased from the store, since a journey left running would write "
        "the customer back; retry once Temporal answers (erasing again is safe)",
    )


# --- the customer's workflows ----------------------------------------------------------------


def visibility_query(ids: list[str] | tuple[str, ...]) -> str | None:
    """``CustomerId IN ('c-42', 'anon-7')``, leaving out ids a string literal cannot hold."""
    quotable = [i for i in ids if not _UNQUOTABLE & set(i)]
    if not quotable:
        return None
    literals = ", ".join(f"'{i}'" for i in quotable)
    return f"{CUSTOMER_ID.name} IN ({literals})"


async def terminate_workflows(
    client: Client, session: AsyncSession, identity: Identity
) -> list[str]:
    """Terminate every running workflow of the customer; the ids of those it terminated.

    Found three ways, since Temporal's visibility lags a start by a moment: the search attribute
    ``CustomerId``, the store's active runs, and the inactivity watchers' deterministic ids.
    A workflow already closed or never started is skipped.
    """
    ids = list(identity.ids)
    candidates: set[str] = set(
        await session.scalars(
            select(JourneyRun.workflow_id).where(
                JourneyRun.customer_id.in_(ids), JourneyRun.status == RunStatus.ACTIVE
            )
        )
    )
    watched = await session.scalars(
        select(JourneyDefinition.key).where(JourneyDefinition.inactivity_seconds.is_not(None))
    )
    candidates |= {watcher_id(key, i) for key in set(watched) for i in ids}
    await session.rollback()
    query = visibility_query(ids)
    if query is not None:
        running = f"({query}) AND ExecutionStatus = 'Running'"
        async for execution in client.list_workflows(running, rpc_timeout=TEMPORAL_TIMEOUT):
            candidates.add(execution.id)
    terminated = []
    for wid in sorted(candidates):
        try:
            await client.get_workflow_handle(wid).terminate(
                reason="customer erased", rpc_timeout=TEMPORAL_TIMEOUT
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        terminated.append(wid)
    return terminated


async def delete_histories(client: Client, session: AsyncSession, identity: Identity) -> int:
    """Delete every workflow execution of the customer that Temporal still keeps, open or
    closed; how many it deleted. Temporal removes the history asynchronously, within seconds."""
    ids = list(identity.ids)
    stored = await session.execute(
        select(JourneyRun.workflow_id, JourneyRun.id).where(JourneyRun.customer_id.in_(ids))
    )
    executions = {(wid, run_id) for wid, run_id in stored.all()}
    await session.rollback()
    query = visibility_query(ids)
    if query is not None:
        async for execution in client.list_workflows(query, rpc_timeout=TEMPORAL_TIMEOUT):
            executions.add((execution.id, execution.run_id))
    deleted = 0
    for wid, run_id in sorted(executions):
        request = DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=wid, run_id=run_id),
        )
        try:
            await client.workflow_service.delete_workflow_execution(
                request, retry=True, timeout=TEMPORAL_TIMEOUT
            )
        except RPCError as err:
            # Gone already, or a run id the store made up (not a Temporal run).
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                continue
            raise
        deleted += 1
    return deleted
