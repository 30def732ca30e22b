"""The router: a durable JetStream pull consumer that turns events into journey starts and signals.

Per event: every journey it triggers gets a signal-with-start on ``journey/<key>/<customer>``; every
journey that listens to it (exit or wait_for) gets a signal, and "no such run" is simply nothing to
do. A message is acked only after Temporal accepted all of that (invariant 1). A message that can
never succeed goes to ``EVENTS_DLQ`` with its reason; one that keeps failing is retried a bounded
number of times and then dead-lettered too, so nothing blocks the stream.

Messages of one customer within a batch are applied in order; customers run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from journeys import bus, temporal
from journeys.contracts import EVENT_SIGNAL, JourneyStart
from journeys.events import Event, InvalidEvent, parse_event
from journeys.routing import JourneyIndex, load_index
from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.temporal import run_search_attributes, workflow_id
from workers.shutdown import stop_event

log = logging.getLogger(__name__)


@dataclass
class RouteResult:
    started: list[str] = field(default_factory=list)
    signalled: list[str] = field(default_factory=list)
    not_running: list[str] = field(default_factory=list)


class EventRouter:
    """The Temporal half of routing: what one valid event does to journeys."""

    def __init__(self, client: Client, settings: Settings, index: JourneyIndex) -> None:
        self.client = client
        self.settings = settings
        self.index = index

    async def route(self, event: Event) -> RouteResult:
        result = RouteResult()
        journey_event = event.to_journey_event()
        customer = event.customer_id
        started_keys = set()
        for target in self.index.started_by(event.name):
            wid = workflow_id(target.key, customer)
            # Signal-with-start: starts the run, or only signals it if it is already running.
            await self.client.start_workflow(
                target.workflow_type,
                JourneyStart(
                    journey_key=target.key,
                    journey_version=target.version,
                    customer_id=customer,
                    time_scale=self.settings.time_scale,
                ),
                id=wid,
                task_queue=self.settings.task_queue,
                start_signal=EVENT_SIGNAL,
                start_signal_args=[journey_event],
                search_attributes=run_search_attributes(customer, target.key, target.version),
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
            started_keys.add(target.key)
            result.started.append(wid)
        for target in self.index.signalled_by(event.name):
            if target.key in started_keys:
                continue
            wid = workflow_id(target.key, customer)
            try:
                await self.client.get_workflow_handle(wid).signal(EVENT_SIGNAL, journey_event)
                result.signalled.append(wid)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                result.not_running.append(wid)
        return result


class Router:
    """The NATS half: consume, group by customer, route, ack / retry / dead-letter."""

    def __init__(
        self, js: JetStreamContext, client: Client, sessions: Sessions, settings: Settings
    ) -> None:
        self.js = js
        self.sessions = sessions
        self.settings = settings
        self.events = EventRouter(client, settings, JourneyIndex())
        self._stopping = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.router_concurrency)

    def stop(self) -> None:
        """Finish the batch in hand, ack it, then return from :meth:`run` (graceful drain)."""
        self._stopping.set()

    async def refresh_index(self) -> None:
        self.events.index = await load_index(self.sessions)

    async def run(self) -> None:
        settings = self.settings
        await bus.ensure_streams(self.js, settings)
        await self.refresh_index()
        log.info("router: %d journeys in the index", self.events.index.size)
        subscription = await self.js.pull_subscribe(
            settings.events_subjects,
            durable=settings.router_durable,
            stream=settings.events_stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=settings.router_ack_wait_seconds,
                # One more than ours: a backstop if the router dies while dead-lettering.
                max_deliver=settings.router_max_deliver + 1,
                max_ack_pending=max(1000, settings.router_batch * 10),
            ),
        )
        refresher = asyncio.create_task(self._refresh_forever())
        try:
            while not self._stopping.is_set():
                try:
                    batch = await subscription.fetch(
                        settings.router_batch, timeout=settings.router_fetch_timeout_seconds
                    )
                except (FetchTimeoutError, TimeoutError):
                    continue
                except nats.errors.Error as err:
                    # Disconnected or reconnecting: unacked messages come back after ack_wait.
                    log.warning("router: fetch failed (%r); retrying", err)
                    await asyncio.sleep(1)
                    continue
                await self.handle_batch(batch)
        finally:
            refresher.cancel()
            await subscription.unsubscribe()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.router_index_refresh_seconds)
            try:
                await self.refresh_index()
            except Exception:
                log.exception("router: index refresh failed; keeping the previous index")

    async def handle_batch(self, batch: list[Msg]) -> None:
        per_customer: dict[str, list[tuple[Msg, Event]]] = defaultdict(list)
        for msg in batch:
            try:
                event = parse_event(msg.data)
            except InvalidEvent as err:
                await self.dead_letter(msg, f"invalid event: {err}")
                continue
            except Exception as err:  # undecodable bytes, not even JSON text
                await self.dead_letter(msg, f"undecodable message: {err}")
                continue
            per_customer[event.customer_id].append((msg, event))
        await asyncio.gather(*(self._apply_in_order(items) for items in per_customer.values()))

    async def _apply_in_order(self, items: list[tuple[Msg, Event]]) -> None:
        async with self._limit:
            for position, (msg, event) in enumerate(items):
                try:
                    applied = await self._apply(msg, event)
                except nats.errors.Error as err:
                    # The ack or nak itself failed: JetStream redelivers after ack_wait, and the
                    # workflow drops the repeated messageId. Later events of this customer wait.
                    log.warning("router: could not settle %s: %r", msg.subject, err)
                    applied = False
                if not applied:
                    # Keep this customer's order: what follows waits for the failed one's retry.
                    for later, _ in items[position + 1 :]:
                        with contextlib.suppress(nats.errors.Error):
                            await later.nak(delay=1)
                    return

    async def _apply(self, msg: Msg, event: Event) -> bool:
        if not self.events.index.wants(event.name):
            await msg.ack()
            return True
        try:
            result = await self.events.route(event)
        except Exception as err:
            attempts = msg.metadata.num_delivered or 1
            if attempts >= self.settings.router_max_deliver:
                await self.dead_letter(msg, f"gave up after {attempts} attempts: {err!r}")
                return True
            log.warning("router: %s (attempt %d) failed, will retry: %r", event.name, attempts, err)
            await msg.nak(delay=min(2**attempts, 30))
            return False
        log.info(
            "router: %s for %s started=%s signalled=%s",
            event.name,
            event.customer_id,
            result.started,
            result.signalled,
        )
        await msg.ack()
        return True

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        """Move a message to EVENTS_DLQ with its reason, then ack it so the stream moves on."""
        sequence = str(msg.metadata.sequence.stream) if msg.metadata.sequence else "?"
        log.warning("router: dead-lettering %s #%s: %s", msg.subject, sequence, reason)
        await self.js.publish(
            f"{self.settings.dlq_subject_prefix}.{msg.subject}",
            msg.data,
            headers={
                bus.HEADER_DLQ_REASON: reason[:4000],
                bus.HEADER_ORIGINAL_SUBJECT: msg.subject,
                bus.HEADER_ORIGINAL_SEQUENCE: sequence,
                "Nats-Msg-Id": f"dlq-{msg.subject}-{sequence}",
            },
        )
        await msg.ack()


async def serve(settings: Settings) -> None:
    """Run the router until SIGTERM/SIGINT, then finish the batch in hand and drain."""
    stop = stop_event()
    nc = await bus.connect(settings, "router")
    client = await temporal.connect(settings)
    engine = create_engine(settings)
    router = Router(nc.jetstream(), client, create_sessions(engine), settings)
    running = asyncio.create_task(router.run())
    try:
        await asyncio.wait(
            [running, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        router.stop()
        await running
    finally:
        await nc.drain()
        await engine.dispose()
