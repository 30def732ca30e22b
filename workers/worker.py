"""The Temporal worker process: registers the code journeys, then serves the worker that
``journeys/worker_assembly.py`` builds until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

from sqlalchemy import select

from journeys import temporal
from journeys.registry import import_journeys, register_code_journeys
from journeys.secret_checks import require_secrets, worker_needs
from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.store.models import JourneyDefinition
from journeys.worker_assembly import build_worker
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
        client = await temporal.connect(settings)
        await temporal.ensure_search_attributes(client, settings.temporal_namespace)
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
