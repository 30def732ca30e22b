"""The Temporal worker: hosts every code journey and the activities that do their I/O."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from journeys.activities import JourneyActivities
from journeys.channels import build_providers
from journeys.dsl import Journey
from journeys.rendering import TemplateRenderer
from journeys.settings import Settings
from journeys.store.db import Sessions

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
