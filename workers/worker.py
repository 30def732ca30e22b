"""The Temporal worker: hosts every code journey and the activities that do their I/O."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from journeys import temporal
from journeys.activities import JourneyActivities
from journeys.channels import Provider, build_providers, close_providers
from journeys.compliance import Policy
from journeys.compliance_activities import ComplianceActivities
from journeys.dsl import Journey
from journeys.inactivity import InactivityWatcher
from journeys.registry import import_journeys, register_code_journeys
from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.templates_catalog import TemplateCatalog, seed_templates
from workers.shutdown import stop_event

log = logging.getLogger(__name__)

# Contracts are plain dataclasses: passing them through keeps their real ``datetime`` type (the
# sandbox proxies the datetime module) and spares re-importing them for every workflow run.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("journeys.contracts")
)


class JourneyWorker(Worker):
    """A Temporal worker that seeds the templates it ships with before it takes any task, and
    closes its channel providers' connections once it has stopped.

    Closing happens when ``run`` ends, which ``async with`` waits for on exit: every activity
    has finished by then, so no delivery loses its client mid-request.
    """

    def __init__(
        self,
        client: Client,
        *,
        providers: Mapping[str, Provider],
        sessions: Sessions,
        settings: Settings,
        **config: Any,
    ) -> None:
        super().__init__(client, **config)
        self.providers = providers
        self.sessions = sessions
        self.settings = settings

    async def __aenter__(self) -> JourneyWorker:
        report = await seed_templates(self.sessions, self.settings)
        log.info("worker: templates from %s: %s", self.settings.templates_dir, report)
        await super().__aenter__()
        return self

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await close_providers(self.providers.values())


def build_worker(
    client: Client, settings: Settings, sessions: Sessions, journeys: list[type[Journey]]
) -> JourneyWorker:
    """The worker for ``journeys``; its providers are built once here (refusing a configuration
    that could not send) and closed when the worker stops."""
    providers = build_providers(settings)
    activities = JourneyActivities(sessions, TemplateCatalog(sessions), providers)
    compliance = ComplianceActivities(sessions, Policy.from_settings(settings))
    return JourneyWorker(
        client,
        providers=providers,
        sessions=sessions,
        settings=settings,
        task_queue=settings.task_queue,
        workflows=[*journeys, InactivityWatcher],
        activities=[*activities.all(), *compliance.all()],
        workflow_runner=SANDBOX,
    )


async def serve(settings: Settings) -> None:
    """Run the worker until SIGTERM/SIGINT; in-flight tasks finish, nothing is lost on a kill."""
    stop = stop_event()
    client = await temporal.connect(settings)
    await temporal.ensure_search_attributes(client, settings.temporal_namespace)
    engine = create_engine(settings)
    try:
        sessions = create_sessions(engine)
        journeys = import_journeys(settings.journey_modules)
        await register_code_journeys(sessions, journeys)
        worker = build_worker(client, settings, sessions, journeys)
        log.info(
            "worker: serving %s on task queue %r",
            ", ".join(f"{j.spec.key} v{j.spec.version}" for j in journeys),
            settings.task_queue,
        )
        async with worker:
            await stop.wait()
            log.info("worker: stopping")
    finally:
        await engine.dispose()
