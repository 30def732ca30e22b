"""The activities of a journey run, as the worker registers them: its bookkeeping
(journeys/activities/runs.py) and its sends (journeys/activities/send.py), over one store and one
set of providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journeys.activities.runs import RunActivities
from journeys.activities.send import SendActivities
from journeys.delivery.channels import Provider
from journeys.delivery.templates_catalog import TemplateCatalog
from journeys.delivery.unsubscribe import UnsubscribeLinks
from journeys.store.db import Sessions


class JourneyActivities(RunActivities, SendActivities):
    def __init__(
        self,
        sessions: Sessions,
        catalog: TemplateCatalog,
        providers: Mapping[str, Provider],
        links: UnsubscribeLinks | None = None,
    ) -> None:
        RunActivities.__init__(self, sessions)
        SendActivities.__init__(self, sessions, catalog, providers, links)

    def all(self) -> list[Any]:
        return [*RunActivities.all(self), *SendActivities.all(self)]
