"""What a Journeys worker is made of: its workflows, its activities built with their clients,
the workflow sandbox and the tuning the settings ask for.

Library, not process: ``workers/worker.py`` runs it until a signal, and ``journeys.testing``
runs it on the time-skipping server, so both assemble the same worker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from journeys.activities.audience import AudienceActivities
from journeys.activities.compliance import ComplianceActivities
from journeys.activities.journey import JourneyActivities
from journeys.activities.steps import Publish, StepActivities
from journeys.converter import with_journeys_converter
from journeys.delivery.channels import Provider, build_providers, close_providers
from journeys.delivery.channels.webhook import WebhookProvider
from journeys.delivery.compliance import Policy
from journeys.delivery.templates_catalog import TemplateCatalog, seed_templates
from journeys.delivery.unsubscribe import UnsubscribeLinks
from journeys.ingest.bus import EventPublisher
from journeys.settings import Settings
from journeys.store.db import Sessions
from journeys.workflows.audience import AudienceImport
from journeys.workflows.dsl import Journey
from journeys.workflows.inactivity import InactivityWatcher
from journeys.workflows.interpreter import DefinitionJourney

log = logging.getLogger(__name__)

# The `journeys` library (the DSL, the contracts, the shipped example journeys) is passed
# through: its contracts keep their real ``datetime`` type (the sandbox proxies the datetime
# module), and no run re-imports it. Re-importing the DSL and re-declaring each journey class
# for every run the worker starts or replays took over half of the worker's CPU in
# `journeys bench` (docs/scaling.md). Journey modules elsewhere are still imported inside the
# sandbox, so its checks still catch their mistakes, unless listed in
# JOURNEYS_WORKER_SANDBOX_PASSTHROUGH.
# Jinja2 (journey expressions) and pydantic (definitions) are pure, and Jinja2 imports parts
# lazily while compiling, which inside the sandbox would re-import it, module locks and all.
SANDBOX_PASSTHROUGH = ("journeys", "jinja2", "markupsafe", "pydantic", "pydantic_core")
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
)


def sandbox(settings: Settings) -> SandboxedWorkflowRunner:
    if not settings.worker_sandbox_passthrough:
        return SANDBOX
    restrictions = SandboxRestrictions.default.with_passthrough_modules(
        *SANDBOX_PASSTHROUGH, *settings.worker_sandbox_passthrough
    )
    return SandboxedWorkflowRunner(restrictions=restrictions)


def tuning(settings: Settings) -> dict[str, Any]:
    """The worker options JOURNEYS_WORKER_* set (docs/scaling.md); unset ones keep Temporal's."""
    options: dict[str, Any] = {"max_cached_workflows": settings.worker_max_cached_workflows}
    if settings.worker_max_concurrent_workflow_tasks is not None:
        options["max_concurrent_workflow_tasks"] = settings.worker_max_concurrent_workflow_tasks
    if settings.worker_workflow_task_pollers is not None:
        options["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
            settings.worker_workflow_task_pollers
        )
    if settings.worker_activity_task_pollers is not None:
        options["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
            settings.worker_activity_task_pollers
        )
    return options


class Closable(Protocol):
    async def aclose(self) -> None: ...


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
        step_clients: Sequence[Closable] = (),
        **config: Any,
    ) -> None:
        super().__init__(client, **config)
        self.providers = providers
        self.step_clients = step_clients
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
            for step_client in self.step_clients:
                await step_client.aclose()


def build_worker(
    client: Client,
    settings: Settings,
    sessions: Sessions,
    journeys: list[type[Journey]],
    *,
    publish: Publish | None = None,
) -> JourneyWorker:
    """The worker for ``journeys``; its providers are built once here (refusing a configuration
    that could not send) and closed when the worker stops. Emit steps publish to JetStream,
    or through ``publish`` (journeys.testing routes them straight back to its router)."""
    providers = build_providers(settings)
    activities = JourneyActivities(
        sessions, TemplateCatalog(sessions), providers, UnsubscribeLinks(settings)
    )
    compliance = ComplianceActivities(sessions, Policy.from_settings(settings))
    # Emit and webhook steps: a JetStream publisher and a webhook client of their own, closed
    # with the channel providers.
    publisher = EventPublisher(settings)
    webhooks = WebhookProvider(settings)
    steps = StepActivities(sessions, settings, publish or publisher, webhooks)
    # Audience imports read their lists from NATS, over a connection of their own.
    audiences = AudienceActivities(sessions, settings)
    return JourneyWorker(
        with_journeys_converter(client),
        providers=providers,
        step_clients=[publisher, webhooks, audiences],
        sessions=sessions,
        settings=settings,
        task_queue=settings.task_queue,
        workflows=[*journeys, InactivityWatcher, DefinitionJourney, AudienceImport],
        activities=[*activities.all(), *compliance.all(), *steps.all(), *audiences.all()],
        workflow_runner=sandbox(settings),
        **tuning(settings),
    )
