"""The router's in-memory index: which journeys an event starts, and which it must reach.

Built from the active journey definitions in the store, so routers need no journey code and see
a newly registered journey on their next refresh.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from journeys.store.db import Sessions
from journeys.store.definitions import all_definitions
from journeys.store.models import JourneyDefinition


@dataclass(frozen=True)
class RouteTarget:
    key: str
    version: int
    workflow_type: str
    # Set for journeys entered on the absence of the trigger: the trigger restarts a countdown.
    inactivity_seconds: int | None = None


class JourneyIndex:
    def __init__(self, definitions: Iterable[JourneyDefinition] = ()) -> None:
        latest: dict[str, JourneyDefinition] = {}
        for definition in definitions:
            if definition.status != "active":
                continue
            known = latest.get(definition.key)
            if known is None or definition.version > known.version:
                latest[definition.key] = definition
        self._triggers: dict[str, list[RouteTarget]] = defaultdict(list)
        self._listeners: dict[str, list[RouteTarget]] = defaultdict(list)
        for definition in latest.values():
            target = RouteTarget(
                definition.key,
                definition.version,
                definition.workflow_type,
                definition.inactivity_seconds,
            )
            self._triggers[definition.trigger_event].append(target)
            for name in dict.fromkeys([*definition.exit_events, *definition.listens_to]):
                self._listeners[name].append(target)
        self.size = len(latest)

    def started_by(self, event_name: str) -> list[RouteTarget]:
        return self._triggers.get(event_name, [])

    def signalled_by(self, event_name: str) -> list[RouteTarget]:
        return self._listeners.get(event_name, [])

    def wants(self, event_name: str) -> bool:
        return event_name in self._triggers or event_name in self._listeners


async def load_index(sessions: Sessions) -> JourneyIndex:
    async with sessions() as session:
        return JourneyIndex(await all_definitions(session))
