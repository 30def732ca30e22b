"""The Temporal worker process: registers the code journeys, then serves the worker that
``journeys/worker_assembly.py`` builds until SIGTERM/SIGINT.

Its health port (``JOURNEYS_WORKER_HEALTH_PORT``, :mod:`workers.health`) is ready while the
worker polls and Temporal answers its health check; the Temporal SDK's own metrics are served by
the SDK's runtime on ``JOURNEYS_WORKER_TEMPORAL_METRICS_PORT``."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from sqlalchemy import select
from temporalio.client import Client
from temporalio.worker import Worker

from journeys import temporal
from journeys.registry import import_journeys, register_code_journeys
from journeys.secret_checks import require_secrets, worker_needs
from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.store.models import JourneyDefinition
from journeys.worker_assembly import build_worker
from workers.health import HealthServer, sdk_runtime
from workers.shutdown import stop_event

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    """Run the worker until SIGTERM/SIGINT; in-flight tasks finish, nothing is lost on a kill."""
    stop = stop_event()
    engine = create_engine(settings)
    try:
        sessions = create_sessions(engine)
        needs = worker_needs(settings, webhook_steps=await _any_webhook_step(sessions))
        require_secrets(settings, "worker", needs)
        client = await temporal.connect(
            settings, sdk_runtime(settings, settings.worker_temporal_metrics_port)
        )
        await temporal.ensure_search_attributes(client, settings.temporal_namespace)
        journeys = import_journeys(settings.journey_modules)
        await register_code_journeys(sessions, journeys)
        worker = build_worker(client, settings, sessions, journeys)
        log.info(
            "worker: serving %s on task queue %r",
            ", ".join(f"{j.spec.key} v{j.spec.version}" for j in journeys),
            settings.task_queue,
        )
        async with worker, health_port(settings, settings.worker_health_port, worker):
            await stop.wait()
            log.info("worker: stopping")
    finally:
        await engine.dispose()


def health_port(
    settings: Settings, port: int, worker: Worker
) -> contextlib.AbstractAsyncContextManager[object]:
    """The worker's health port, or nothing when ``port`` is 0."""
    if not port:
        return contextlib.nullcontext()
    return HealthServer(lambda: readiness(worker.client, worker), settings.health_host, port)


async def readiness(client: Client, worker: Worker) -> str | None:
    """Ready while the worker runs (its pollers with it) and Temporal answers its health
    check: a worker cut off from Temporal takes no task."""
    if not worker.is_running or worker.is_shutdown:
        return "the worker is not polling"
    try:
        serving = await client.service_client.check_health(timeout=timedelta(seconds=3))
    except Exception as err:
        return f"Temporal unreachable: {err}"
    return None if serving else "Temporal reports not serving"


async def _any_webhook_step(sessions: Sessions) -> bool:
    """Whether a published declarative journey has a webhook step (its calls are signed with
    JOURNEYS_WEBHOOK_SECRET). One published later is still refused at call time, by the step."""
    async with sessions() as session:
        documents = await session.scalars(
            select(JourneyDefinition.document).where(JourneyDefinition.document.is_not(None))
        )
        return any(
            isinstance(step, dict) and step.get("type") == "webhook"
            for document in documents
            if document is not None
            for step in document.get("steps") or []
        )
