"""The router's in-memory index: which journeys an event starts, and which it must reach.

Built from the journey versions in the store, so routers need no journey code and see a newly
published version or a paused journey on their next refresh. Triggers come from the latest
version of each ``active`` journey; listeners from every version, because customers finish on
the version they started with, whatever has been published or paused since.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from journeys.definitions.document import ALWAYS, Entry
from journeys.definitions.expressions import Expression, compile_expression
from journeys.store.db import Sessions
from journeys.store.definitions import all_definitions, statuses
from journeys.store.models import JourneyDefinition
from journeys.vocabulary import JourneyKind, JourneyStatus


@dataclass(frozen=True)
class RouteTarget:
    key: str
    version: int
    workflow_type: str
    # Set for journeys entered on the absence of the trigger: the trigger restarts a countdown.
    inactivity_seconds: int | None = None
    # Enter only when this holds for the trigger event.
    trigger_where: Expression | None = None
    entry: Entry = field(default_factory=Entry)
    # A declarative journey's document: the snapshot its runs start with.
    definition: dict[str, Any] | None = None

    @property
    def keyed(self) -> bool:
        """Runs of this journey have ids of their own beyond the customer's (an entry key, or
        one per trigger), so an event for them is routed by looking the runs up."""
        return self.entry.key is not None or self.entry.reentry == ALWAYS


def _target(definition: JourneyDefinition) -> RouteTarget:
    document = definition.document or {}
    where = (document.get("trigger") or {}).get("where")
    return RouteTarget(
        definition.key,
        definition.version,
        definition.workflow_type,
        definition.inactivity_seconds,
        trigger_where=compile_expression(where) if where else None,
        entry=Entry.model_validate(document.get("entry") or {}),
        definition=document if definition.kind == JourneyKind.DEFINITION else None,
    )


class JourneyIndex:
    def __init__(
        self, definitions: Iterable[JourneyDefinition] = (), status: Mapping[str, str] = {}
    ) -> None:
        latest: dict[str, JourneyDefinition] = {}
        versions: dict[str, list[JourneyDefinition]] = defaultdict(list)
        for definition in definitions:
            versions[definition.key].append(definition)
            known = latest.get(definition.key)
            if known is None or definition.version > known.version:
                latest[definition.key] = definition
        self._triggers: dict[str, list[RouteTarget]] = defaultdict(list)
        self._listeners: dict[str, list[RouteTarget]] = defaultdict(list)
        for key, definition in latest.items():
            target = _target(definition)
            if status.get(key, JourneyStatus.ACTIVE) == JourneyStatus.ACTIVE:
                self._triggers[definition.trigger_event].append(target)
            names = [
                name
                for version in versions[key]
                for name in [*version.exit_events, *version.listens_to]
            ]
            for name in dict.fromkeys(names):
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
        return JourneyIndex(await all_definitions(session), await statuses(session))
