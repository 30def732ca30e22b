"""The operator log, for admins: who changed what, newest first.

Every change made through the API, the console or the CLI beyond reading writes a row here
(:mod:`journeys.store.operator_log`): keys made and revoked, runs cancelled, events sent to runs
by hand, audiences entered, customers exported and erased. This is where "who cancelled these
runs?" and "when was this customer erased?" are answered.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.operator_log.schemas import OperatorActionOut, OperatorLog
from journeys.store.operator_log import actions

router = APIRouter(prefix="/v1/operator-log", tags=["operator log"])


@router.get("")
async def operator_log(
    session: SessionDep,
    target: Annotated[
        str | None,
        Query(
            max_length=500,
            description="Only actions on this target: `run:<id>`, `journey:<key>`, "
            "`customer:<id>` (`customer:<SHA-256 of the id>` once erased), `key:<id>`, "
            "`audience:<id>`",
        ),
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=50, description="Only this kind: `run.cancel`, `key.create`, ..."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> OperatorLog:
    """The newest ``limit`` actions, optionally of one kind or on one target."""
    rows = await actions(session, target=target, action=action, limit=limit)
    return OperatorLog(actions=[OperatorActionOut.model_validate(row) for row in rows])
