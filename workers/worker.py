"""The Temporal worker: hosts every code journey and the activities that do their I/O."""

from __future__ import annotations

import logging

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from journeys import temporal
from journeys.activities import JourneyActivities
from journeys.channels import build_providers
from journeys.dsl import Journey
from journeys.registry import import_journeys, register_code_journeys
from journeys.rendering import TemplateRenderer
from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from workers.shutdown import stop_event

log = logging.getLogger(__name__)

# Contracts are plain dataclasses: passing them through keeps their real ``datetime`` type (the
# sandbox proxies the datetime module) and spares re-importing them for every workflow run.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("journeys.contracts")
)


def build_worker(
    client: Client, settings: Settings, sessions: Sessions, journeys: list[type[Journey]]
) -> Worker:
    activities = JourneyActivities(
        sessions, TemplateRenderer(settings.templates_dir), build_providers(settings)
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=journeys,
        activities=activities.all(),
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
