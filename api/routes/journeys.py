"""Journey definitions as the router sees them: every registered (key, version)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from api.deps import SessionDep
from journeys.store.definitions import all_definitions

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])


class JourneyDefinitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    version: int
    kind: str
    workflow_type: str
    trigger_event: str
    exit_events: list[str]
    listens_to: list[str]
    status: str
    description: str


@router.get("")
async def list_journeys(session: SessionDep) -> list[JourneyDefinitionOut]:
    rows = await all_definitions(session)
    return [JourneyDefinitionOut.model_validate(row) for row in rows]
