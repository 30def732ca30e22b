"""The router: JetStream partitions in, journey starts and signals out, nothing lost or reordered.

Events are published on ``events.<partition>.…`` with the partition a hash of the customer id
(:mod:`journeys.ingest.bus`), and each partition has its own durable pull consumer. A router holds a
lease on the partitions it consumes (:mod:`workers.partitions`), so one router at a time pulls a
given partition; each consumer admits one pull's worth of unacknowledged events
(``max_ack_pending`` = batch), so the next pull of a partition waits until the previous one is
settled. Together these keep one customer's events in publication order across batches, routers
and crashes, while different customers and partitions run concurrently.

What an event does (its identity, its consent, the journeys it starts or signals) is the
pipeline's to decide (:mod:`journeys.ingest.pipeline`); this module only feeds it, in order,
and acknowledges what it settled.

A pull is acknowledged as a whole (ack-all on its last event) only after Temporal accepted all of
it (invariant 1); if the router dies first, the whole pull is redelivered in order, and starts and
signals are idempotent (workflow ids, messageIds, one entry per trigger). An event that fails for
a reason of its own is retried in place a bounded number of times, then moved to ``EVENTS_DLQ``
with the reason; an outage (Temporal or the database unreachable) is waited out instead.

Its health port (``JOURNEYS_ROUTER_HEALTH_PORT``, :mod:`workers.health`) is ready while NATS is
connected, every partition the router holds is being pulled, and Temporal answers; it counts
what it does in :mod:`journeys.metrics` (decisions, dead letters, redeliveries, lag).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from datetime import timedelta

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError
from temporalio.client import Client

from journeys import metrics, temporal
from journeys.ingest import bus
from journeys.ingest.events import Event
from journeys.ingest.identify import changes_identity
from journeys.ingest.outages import is_outage
from journeys.ingest.pipeline import EventPipeline, RouteResult, Undecodable, decode
from journeys.ingest.routing import JourneyIndex, load_index
from journeys.metrics import DeadLetterReason, RouterDecision
from journeys.settings import Settings
from journeys.store.customers import Identity
from journeys.store.db import Sessions, create_engine, create_sessions
from workers.health import HealthServer, sdk_runtime
from workers.partitions import PartitionLeases, router_identity
from workers.shutdown import stop_event

log = logging.getLogger(__name__)

# After the first event of a batch, how long a fetch may wait for the rest when none is there:
# the no-wait probe answers at once when events are waiting, so this is only paid when idle.
_TOP_UP_SECONDS = 0.005


class Router:
    """The NATS half: hold partitions, pull, apply each customer's events in order, ack."""

    def __init__(
        self,
        js: JetStreamContext,
        client: Client,
        sessions: Sessions,
        settings: Settings,
        *,
        owner: str | None = None,
    ) -> None:
        self.js = js
        self.client = client
        self.sessions = sessions
        self.settings = settings
        self.pipeline = EventPipeline(client, settings, JourneyIndex(), sessions)
        self.leases = PartitionLeases(js, settings, owner or router_identity())
        self._stopping = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.router_concurrency)
        # Partitions whose pull was abandoned unacknowledged at stop: their leases must expire
        # (not be released) so their events are redelivered before anyone pulls newer ones.
        self._abandoned: set[int] = set()
        # Per partition, the consumer's delivery sequence of the newest event this router took.
        self._delivered: dict[int, int] = {}
        # Set once the streams, the index and the leases are open: the router consumes.
        self._started = False
        # Partitions whose last fetch failed (NATS away): held but not being consumed.
        self._failing: set[int] = set()

    def stop(self) -> None:
        """Finish the pulls in hand, acknowledge them, then return from :meth:`run`."""
        self._stopping.set()

    async def refresh_index(self) -> None:
        self.pipeline.index = await load_index(self.sessions)

    async def run(self) -> None:
        await bus.ensure_streams(self.js, self.settings)
        await self.refresh_index()
        await self.leases.open()
        await self.leases.renew()
        log.info(
            "router %s: %d journeys in the index, %d partitions, %d routers live",
            self.leases.owner,
            self.pipeline.index.size,
            self.settings.event_partitions,
            self.leases.live_routers,
        )
        self._started = True
        helpers = [
            asyncio.create_task(self._refresh_forever()),
            asyncio.create_task(self._renew_forever()),
        ]
        try:
            await asyncio.gather(*(self._consume(p) for p in range(self.settings.event_partitions)))
        finally:
            self._started = False
            for task in helpers:
                task.cancel()
            await self.leases.close(keep=self._abandoned)

    async def readiness(self, connection: NATS) -> str | None:
        """None while the router consumes: NATS connected, its streams and leases open, every
        partition it holds pulled without error, and Temporal answering; else why not."""
        if self._stopping.is_set():
            return "stopping"
        if not connection.is_connected:
            return "NATS is not connected"
        if not self._started:
            return "starting: streams, index and leases not yet open"
        failing = sorted(self._failing & self.leases.owned)
        if failing:
            return f"fetching partitions {failing} fails"
        try:
            serving = await self.client.service_client.check_health(timeout=timedelta(seconds=3))
        except Exception as err:
            return f"Temporal unreachable: {err}"
        return None if serving else "Temporal reports not serving"

    @property
    def _renew_interval(self) -> float:
        return self.settings.router_ack_wait_seconds / 3

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _consume(self, partition: int) -> None:
        subscription = None
        try:
            while not self._stopping.is_set():
                try:
                    acquired = await self.leases.acquire(partition)
                except nats.errors.Error as err:
                    log.warning("router: lease of partition %d not taken (%r)", partition, err)
                    acquired = False
                if not acquired:
                    await self._pause(self._renew_interval * random.uniform(0.5, 1.0))
                    continue
                if subscription is None:
                    subscription = await self._subscribe(partition)
                try:
                    batch = await self._fetch(subscription, partition)
                except nats.errors.Error as err:
                    # Disconnected or reconnecting: unacked events come back after ack_wait.
                    log.warning("router: fetch of partition %d failed (%r)", partition, err)
                    self._failing.add(partition)
                    await self._pause(1)
                    continue
                self._failing.discard(partition)
                if batch:
                    _count_pull(partition, batch)
                if batch and not await self.handle_batch(batch):
                    self._abandoned.add(partition)
                    return
                if partition in self.leases.surplus():
                    await self.leases.release(partition)
        finally:
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _fetch(
        self, subscription: JetStreamContext.PullSubscription, partition: int
    ) -> list[Msg]:
        """The next batch: wait up to the fetch timeout for the first event, then take what is
        already there, up to ``router_batch``, without waiting for more.

        One ``fetch(router_batch)`` would do it in one request, but a pull that finds nothing
        waiting keeps collecting until the batch is full or the timeout ends: at a low rate each
        event waited up to the whole fetch timeout (a 1 s p99 from publish to the journey's first
        task, measured by ``journeys bench``). Under load the first fetch returns at once and the
        second takes a full batch, so throughput keeps its batches.
        """
        settings = self.settings
        try:
            first = await subscription.fetch(1, timeout=settings.router_fetch_timeout_seconds)
        except (FetchTimeoutError, TimeoutError):
            return []
        rest: list[Msg] = []
        if settings.router_batch > 1:
            with contextlib.suppress(FetchTimeoutError, TimeoutError):
                rest = await subscription.fetch(settings.router_batch - 1, timeout=_TOP_UP_SECONDS)
        return await self._whole_pull(subscription, partition, first + rest)

    async def _whole_pull(
        self, subscription: JetStreamContext.PullSubscription, partition: int, batch: list[Msg]
    ) -> list[Msg]:
        """The pull to apply and acknowledge: every event of the partition delivered and not yet
        acknowledged, in stream order; empty if they cannot all be had now.

        A pull is acknowledged with one ack-all on its newest event, which acknowledges every
        older event of the partition too. That is safe only if the pull holds every event that
        is out. After a crash it need not: the dead router's pull comes back event by event, as
        each one's ack wait ends, and a fetch that took only the first of them would acknowledge
        the rest unseen (`tests/workers/test_router_crash.py` lost one that way). So when a pull
        does not follow the previous one delivery for delivery (the first after subscribing, a
        gap, a redelivery), the router asks the consumer how many events are out and fetches
        until it holds them all, then applies them in stream order. If they cannot all be had
        within twice the ack wait, it applies none: they come back and are taken whole later.
        """
        held = {_stream_seq(msg): msg for msg in batch}
        last = self._delivered.get(partition)
        deliveries = sorted(
            msg.metadata.sequence.consumer for msg in batch if msg.metadata.sequence
        )
        follows = last is not None and deliveries == list(range(last + 1, last + 1 + len(batch)))
        if not follows or any((msg.metadata.num_delivered or 1) > 1 for msg in batch):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 2 * self.settings.router_ack_wait_seconds
            while (out := (await subscription.consumer_info()).num_ack_pending or 0) > len(held):
                if loop.time() > deadline or self._stopping.is_set():
                    self._delivered.pop(partition, None)
                    return []
                # Events the server delivered after a fetch gave up wait in the client's
                # buffer: take them at once. Others come back when their ack wait ends.
                buffered = subscription.pending_msgs > 0
                wait = _TOP_UP_SECONDS if buffered else self.settings.router_ack_wait_seconds
                with contextlib.suppress(FetchTimeoutError, TimeoutError):
                    more = await subscription.fetch(out - len(held), timeout=wait)
                    held.update((_stream_seq(msg), msg) for msg in more)
            batch = [held[seq] for seq in sorted(held)]
        self._delivered[partition] = max(
            (msg.metadata.sequence.consumer for msg in batch if msg.metadata.sequence), default=0
        )
        return batch

    async def _subscribe(self, partition: int) -> JetStreamContext.PullSubscription:
        settings = self.settings
        return await self.js.pull_subscribe(
            bus.partition_subjects(settings, partition),
            durable=f"{settings.router_durable}-{partition}",
            stream=settings.events_stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.ALL,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=settings.router_ack_wait_seconds,
                # Unlimited: the router itself dead-letters an event delivered too often.
                max_deliver=-1,
                # One pull in flight per partition: the next waits until this one is settled.
                max_ack_pending=settings.router_batch,
            ),
        )

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.router_index_refresh_seconds)
            try:
                await self.refresh_index()
            except Exception:
                log.exception("router: index refresh failed; keeping the previous index")

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_interval)
            try:
                await self.leases.renew()
            except Exception:
                log.exception("router: lease renewal failed; retrying")

    async def handle_batch(self, batch: list[Msg]) -> bool:
        """Apply one pull; True once it is acknowledged, False if abandoned at stop."""
        keepalive = asyncio.create_task(self._keep_alive(batch))
        try:
            per_customer: dict[str, list[tuple[Msg, Event]]] = defaultdict(list)
            for msg in batch:
                try:
                    event = decode(msg.data)
                except Undecodable as err:
                    await self.dead_letter(msg, str(err), err.reason)
                    continue
                per_customer[event.partition_key].append((msg, event))
            known = await self._resolve(per_customer)
            chains = [self._apply_in_order(items, known) for items in per_customer.values()]
            if not all(await asyncio.gather(*chains)):
                return False
            # Ack-all on the newest event settles the whole pull at once.
            newest = max(
                batch, key=lambda m: m.metadata.sequence.stream if m.metadata.sequence else 0
            )
            await newest.ack()
            return True
        finally:
            keepalive.cancel()

    async def _keep_alive(self, batch: list[Msg]) -> None:
        """Tell JetStream the pull is still being worked on, so it is not redelivered meanwhile."""
        while True:
            await asyncio.sleep(self.settings.router_ack_wait_seconds / 3)
            for msg in batch:
                with contextlib.suppress(nats.errors.Error):
                    await msg.in_progress()

    async def _resolve(
        self, per_customer: dict[str, list[tuple[Msg, Event]]]
    ) -> dict[str, Identity]:
        """The identities of the pull's customers, resolved at once: one session per pull
        instead of one per event (it was the router's largest cost per journey start).

        A customer whose events in this pull include an identify or alias call is left out:
        their identity may change between their events, so each resolves in turn. If the store
        cannot answer, every event resolves on its own, with the usual retries."""
        steady = [
            event
            for items in per_customer.values()
            if not any(changes_identity(event) for _, event in items)
            for _, event in items
        ]
        try:
            return await self.pipeline.resolve_pull(steady)
        except Exception as err:
            log.warning("router: resolving the pull's customers failed: %r", err)
            return {}

    async def _apply_in_order(
        self, items: list[tuple[Msg, Event]], known: dict[str, Identity]
    ) -> bool:
        async with self._limit:
            for msg, event in items:
                if not await self._apply(msg, event, known.get(event.customer_id)):
                    return False
            return True

    async def _apply(self, msg: Msg, event: Event, known: Identity | None = None) -> bool:
        """Route one event: True when settled (applied or dead-lettered), False if abandoned."""
        if not self.pipeline.has_work(event):
            metrics.routed(RouterDecision.NOT_WANTED)
            return True
        earlier = (msg.metadata.num_delivered or 1) - 1
        if earlier >= self.settings.router_max_deliver:
            reason = f"delivered {earlier + 1} times without being settled"
            await self.dead_letter(msg, reason, DeadLetterReason.REDELIVERED)
            return True
        failures = 0
        while True:
            try:
                result = await self.pipeline.route(event, known)
            except Exception as err:
                if self._stopping.is_set():
                    return False
                if is_outage(err):
                    log.warning("router: outage while routing %s, waiting: %r", event.name, err)
                    await self._pause(min(2 ** min(failures, 5), 30))
                    continue
                failures += 1
                if earlier + failures >= self.settings.router_max_deliver:
                    reason = f"gave up after {earlier + failures} attempts: {err!r}"
                    await self.dead_letter(msg, reason, DeadLetterReason.FAILED)
                    return True
                log.warning("router: %s failed (attempt %d): %r", event.name, failures, err)
                await self._pause(min(0.25 * 2**failures, 30))
                continue
            log.info(
                "router: %s for %s started=%s signalled=%s",
                event.name,
                result.customer_id,
                result.started,
                result.signalled,
            )
            metrics.routed(_decision(result))
            return True

    async def dead_letter(self, msg: Msg, reason: str, reason_class: DeadLetterReason) -> None:
        """Copy an event to EVENTS_DLQ with its reason; the pull's ack then settles it."""
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
        metrics.dead_lettered(reason_class)


async def serve(settings: Settings) -> None:
    """Run the router until SIGTERM/SIGINT, then finish the pulls in hand and drain."""
    stop = stop_event()
    nc = await bus.connect(settings, "router")
    client = await temporal.connect(
        settings, sdk_runtime(settings, settings.router_temporal_metrics_port)
    )
    engine = create_engine(settings)
    router = Router(nc.jetstream(), client, create_sessions(engine), settings)
    health = HealthServer(
        lambda: router.readiness(nc), settings.health_host, settings.router_health_port
    )
    if settings.router_health_port:
        await health.start()
    running = asyncio.create_task(router.run())
    try:
        await asyncio.wait(
            [running, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        router.stop()
        await running
    finally:
        await health.close()
        await nc.drain()
        await engine.dispose()


def _count_pull(partition: int, batch: list[Msg]) -> None:
    """A pull's redeliveries, and the partition's lag: the events left after the newest one."""
    metrics.redelivered(partition, sum(1 for msg in batch if (msg.metadata.num_delivered or 1) > 1))
    newest = max(batch, key=_stream_seq)
    if newest.metadata.num_pending is not None:
        metrics.pending(partition, newest.metadata.num_pending)


def _decision(result: RouteResult) -> RouterDecision:
    if result.started:
        return RouterDecision.STARTED
    if result.signalled:
        return RouterDecision.SIGNALLED
    if result.filtered:
        return RouterDecision.FILTERED
    return RouterDecision.NO_MATCH


def _stream_seq(msg: Msg) -> int:
    return msg.metadata.sequence.stream if msg.metadata.sequence else 0
