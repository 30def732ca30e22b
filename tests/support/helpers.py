"""Test helpers: eventual assertions, free ports, events, and store queries."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select

from journeys.contracts import JourneyOutcome, RunRef
from journeys.ingest.events import Event
from journeys.settings import Settings
from journeys.store.db import Sessions
from journeys.store.models import AuditEvent, Delivery, JourneyRun

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.1
) -> T:
    """Retry ``probe`` until it returns without AssertionError; its last failure is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await probe()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(interval)


def run_row(ref: RunRef, started_at: datetime, trigger_event: str = "Test") -> JourneyRun:
    """The store's row of a run a test calls activities for directly, without a workflow."""
    return JourneyRun(
        id=ref.run_id,
        workflow_id=ref.workflow_id,
        journey_key=ref.journey_key,
        journey_version=ref.journey_version,
        customer_id=ref.customer_id,
        trigger_event=trigger_event,
        trigger_message_id=ref.run_id,
        started_at=started_at,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def customer_id() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


# The profile most journey tests send to: every channel has an address.
ADA_TRAITS = {"first_name": "Ada", "phone": "+15550000001", "email": "ada@example.com"}
# How late a timer may fire on the time-skipping server and still count as on time.
ON_TIME = timedelta(seconds=30)


def on_time(actual: timedelta, expected: timedelta) -> bool:
    return expected <= actual <= expected + ON_TIME


def track(name: str, customer: str, **properties: Any) -> Event:
    return Event.model_validate(
        {
            "type": "track",
            "event": name,
            "userId": customer,
            "properties": properties,
            "context": {
                "traits": {
                    "first_name": "Ada",
                    "phone": "+15550000001",
                    "email": "ada@example.com",
                }
            },
        }
    )


async def deliveries_of(sessions: Sessions, customer: str) -> list[Delivery]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Delivery).where(Delivery.customer_id == customer).order_by(Delivery.id)
        )
        return list(rows.all())


async def runs_of(sessions: Sessions, customer: str) -> list[JourneyRun]:
    async with sessions() as session:
        rows = await session.scalars(select(JourneyRun).where(JourneyRun.customer_id == customer))
        return list(rows.all())


async def audit_of(sessions: Sessions, customer: str) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.customer_id == customer)
            .order_by(AuditEvent.run_id, AuditEvent.seq)
        )
        return list(rows.all())


async def journey_outcome(env: Any, workflow_id: str) -> JourneyOutcome:
    """Wait for a run's result, letting the time-skipping server jump over its timers.

    Only handles returned by the env's own ``start_workflow`` skip time on ``result()``; runs
    started by the router are looked up by id, so unlock skipping around the wait here.
    """
    handle = env.client.get_workflow_handle(workflow_id, result_type=JourneyOutcome)
    unlocked = getattr(env, "time_skipping_unlocked", None)
    if unlocked is None:
        return await handle.result()  # type: ignore[no-any-return]
    async with unlocked():
        return await handle.result()  # type: ignore[no-any-return]


def start_process(
    command: str, settings: Settings, log: Path, **variables: str
) -> subprocess.Popen[bytes]:
    """``journeys <command>`` as its own process, configured by environment like in production,
    its output appended to ``log``."""
    env = {
        **os.environ,
        "JOURNEYS_NATS_URL": settings.nats_url,
        "JOURNEYS_TEMPORAL_ADDRESS": settings.temporal_address,
        "JOURNEYS_DATABASE_URL": settings.database_url,
        "JOURNEYS_DATA_DIR": str(settings.data_dir),
        "JOURNEYS_TASK_QUEUE": settings.task_queue,
        "JOURNEYS_TEMPLATES_DIR": str(settings.templates_dir),
        "JOURNEYS_ENV": settings.env.value,
        # Health and SDK metrics ports off unless a test asks (several processes share a host).
        "JOURNEYS_WORKER_HEALTH_PORT": "0",
        "JOURNEYS_ROUTER_HEALTH_PORT": "0",
        "JOURNEYS_WORKER_TEMPORAL_METRICS_PORT": "0",
        "JOURNEYS_ROUTER_TEMPORAL_METRICS_PORT": "0",
        **{
            f"JOURNEYS_{name.upper()}": getattr(settings, name).get_secret_value()
            for name in ("tracking_secret", "console_secret", "webhook_secret")
        },
        **variables,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli", command],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
