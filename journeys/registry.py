"""Code journeys: importing the configured modules, and registering them in the store."""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import select

from journeys.store.base import utcnow
from journeys.store.db import Sessions
from journeys.store.models import JourneyDefinition, JourneyState
from journeys.vocabulary import JourneyKind, JourneyStatus
from journeys.workflows.dsl import Journey, registered_journeys


def import_journeys(modules: list[str]) -> list[type[Journey]]:
    """Import each module (and a package's submodules) so their ``@journey`` classes register."""
    for name in modules:
        module = importlib.import_module(name)
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{name}."):
            importlib.import_module(info.name)
    return registered_journeys()


async def register_code_journeys(sessions: Sessions, journeys: list[type[Journey]]) -> None:
    """Upsert one definition row per (key, version); the router routes on these rows.

    A code journey's state row is created active the first time; after that its status is the
    operators' (a paused code journey stays paused when workers restart).
    """
    async with sessions.begin() as session:
        for cls in journeys:
            spec = cls.spec
            if await session.get(JourneyState, spec.key) is None:
                session.add(
                    JourneyState(
                        key=spec.key,
                        kind=JourneyKind.CODE,
                        status=JourneyStatus.ACTIVE,
                        entries=0,
                    )
                )
            row = await session.scalar(
                select(JourneyDefinition).where(
                    JourneyDefinition.key == spec.key, JourneyDefinition.version == spec.version
                )
            )
            if row is None:
                row = JourneyDefinition(key=spec.key, version=spec.version, kind=JourneyKind.CODE)
                session.add(row)
            row.workflow_type = spec.workflow_type
            row.trigger_event = spec.trigger
            row.inactivity_seconds = (
                int(spec.inactive_for.total_seconds()) if spec.inactive_for else None
            )
            row.exit_events = list(spec.exit_on)
            # The goal event too: a running journey must hear it to record its conversion.
            row.listens_to = [name for name in spec.signalled_by if name not in spec.exit_on]
            row.description = spec.description
            row.status = JourneyStatus.ACTIVE
            row.document = spec.document()
            row.published_at = row.published_at or utcnow()
