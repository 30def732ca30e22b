"""The router: JetStream partitions in, journey starts and signals out, nothing lost or reordered.

Events are published on ``events.<partition>.…`` with the partition a hash of the customer id
(:mod:`journeys.ingest.bus`), and each partition has its own durable pull consumer. A router holds a
lease on the partitions it consumes (:mod:`workers.partitions`), so one router at a time pulls a
given partition; each consumer admits one pull's worth of unacknowledged events
(``max_ack_pending`` = batch), so the next pull of a partition waits until the previous one is
settled. Together these keep one customer's events in publication order across batches, routers
and crashes, while different customers and partitions run concurrently.

Per event: identify and alias calls update the customer's profile and identity first; every
journey the event triggers gets a signal-with-start on ``journey/<key>/<customer>``; every
journey listening to it (exit or wait) gets a signal, and "no such run" is nothing to do.

A pull is acknowledged as a whole (ack-all on its last event) only after Temporal accepted all of
it (invariant 1); if the router dies first, the whole pull is redelivered in order, and starts and
signals are idempotent (workflow ids, messageIds, one entry per trigger). An event that fails for
a reason of its own is retried in place a bounded number of times, then moved to ``EVENTS_DLQ``
with the reason; an outage (Temporal or the database unreachable) is waited out instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from journeys import temporal
from journeys.contracts import EVENT_SIGNAL, JourneyEvent, JourneyStart, WatchStart
from journeys.definitions.document import ALWAYS
from journeys.definitions.expressions import ExpressionError, compile_expression, scope
from journeys.delivery.compliance import suppressed_event
from journeys.ingest import bus
from journeys.ingest.events import Event, EventTooLarge, InvalidEvent, decode_event
from journeys.ingest.outages import is_outage
from journeys.ingest.routing import JourneyIndex, RouteTarget, load_index
from journeys.settings import Settings
from journeys.store import consent, customers
from journeys.store.consent import ConsentChange
from journeys.store.customers import Identity
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.store.runs import active_run_ids
from journeys.temporal import keyed_workflow_id, run_search_attributes, watcher_id, workflow_id
from journeys.workflows.inactivity import WATCHER_WORKFLOW
from workers.partitions import PartitionLeases, router_identity
from workers.shutdown import stop_event

log = logging.getLogger(__name__)

_IDENTITY_CALLS = ("identify", "alias")
# After the first event of a batch, how long a fetch may wait for the rest when none is there:
# the no-wait probe answers at once when events are waiting, so this is only paid when idle.
_TOP_UP_SECONDS = 0.005


@dataclass
class RouteResult:
    customer_id: str = ""
    started: list[str] = field(default_factory=list)
    signalled: list[str] = field(default_factory=list)
    not_running: list[str] = field(default_factory=list)
    # Journeys the event would have entered but for their entry rules (a trigger filter that
    # does not hold, an entry key the event lacks).
    filtered: list[str] = field(default_factory=list)


class EventRouter:
    """What one valid event does: to the customer's identity and profile, then to journeys."""

    def __init__(
        self, client: Client, settings: Settings, index: JourneyIndex, sessions: Sessions
    ) -> None:
        self.client = client
        self.settings = settings
        self.index = index
        self.sessions = sessions

    def has_work(self, event: Event) -> bool:
        """False for events nothing needs (page views no journey wants): ack them at once."""
        return (
            event.type in _IDENTITY_CALLS
            or event.name in consent.CONSENT_EVENTS
            or self.index.wants(event.name)
        )

    async def route(self, event: Event, known: Identity | None = None) -> RouteResult:
        """Apply ``event``; ``known`` is its customer's identity when the caller resolved it
        already (a pull's customers at once, :meth:`resolve_pull`)."""
        identity = await self.apply_identity(event, known)
        result = RouteResult(customer_id=identity.customer_id)
        journey_event = replace(event.to_journey_event(), customer_id=identity.customer_id)
        await self.apply_consent(event, identity, journey_event, result)
        started_keys = set()
        for target in self.index.started_by(event.name):
            if target.trigger_where is not None and not target.trigger_where.holds(
                scope(now=datetime.now(UTC), trigger=journey_event, event=journey_event)
            ):
                result.filtered.append(target.key)
                continue
            if target.inactivity_seconds is not None:
                await self._restart_countdown(target, identity.customer_id, journey_event)
                result.started.append(watcher_id(target.key, identity.customer_id))
                continue
            started_keys.add(target.key)
            if target.keyed:
                entry_key = _entry_key(target, journey_event) if target.entry.key else None
                if target.entry.key is not None and entry_key is None:
                    result.filtered.append(target.key)
                    continue
                wid = self._keyed_id(target, identity.customer_id, journey_event, entry_key)
                await self._start(target, identity.customer_id, journey_event, wid, entry_key)
                result.started.append(wid)
                continue
            # A run begun under another id of this customer (anonymously, say) is theirs.
            for other in identity.aliases:
                if await self._signal(workflow_id(target.key, other), journey_event, result):
                    break
            else:
                await self._start(target, identity.customer_id, journey_event)
                result.started.append(workflow_id(target.key, identity.customer_id))
        for target in self.index.signalled_by(event.name):
            if target.key in started_keys:
                continue
            if target.keyed:
                for wid in await self._runs_of(target, identity, journey_event):
                    await self._signal(wid, journey_event, result)
                continue
            for customer_id in identity.ids:
                await self._signal(workflow_id(target.key, customer_id), journey_event, result)
        return result

    def _keyed_id(
        self, target: RouteTarget, customer_id: str, event: JourneyEvent, entry_key: str | None
    ) -> str:
        """The run id for an entry into a keyed journey: the entry key's value, and for
        journeys entered on every trigger, the trigger's messageId."""
        parts = [entry_key] if entry_key is not None else []
        if target.entry.reentry == ALWAYS:
            parts.append(event.message_id)
        return keyed_workflow_id(target.key, customer_id, *parts)

    async def _runs_of(
        self, target: RouteTarget, identity: Identity, event: JourneyEvent
    ) -> list[str]:
        """The customer's running runs of a keyed journey that ``event`` may concern: the one
        its entry key names, when the event carries that key (``cart_id``), else all of them
        as the store knows them."""
        if target.entry.key is not None and target.entry.reentry != ALWAYS:
            value = _entry_key(target, event)
            if value is not None:
                return [keyed_workflow_id(target.key, identity.customer_id, value)]
        async with self.sessions() as session:
            return await active_run_ids(session, target.key, identity.ids)

    def needs_identity(self, event: Event) -> bool:
        """An event a journey wants that does not change identity: it only resolves its
        customer, which can be done for a whole pull at once."""
        return event.type not in _IDENTITY_CALLS and self.index.wants(event.name)

    async def resolve_pull(self, events: list[Event]) -> dict[str, Identity]:
        """The identities of a pull's customers, in one session (see :meth:`route`)."""
        ids = {event.customer_id for event in events if self.needs_identity(event)}
        if not ids:
            return {}
        async with self.sessions() as session:
            return await customers.resolve_many(session, ids)

    async def apply_identity(self, event: Event, known: Identity | None = None) -> Identity:
        """Identify and alias calls link ids and merge traits; events a journey wants only
        resolve (``known`` when the pull resolved them already); the rest need nothing."""
        if self.needs_identity(event):
            if known is not None:
                return known
            async with self.sessions() as session:
                return await customers.resolve(session, event.customer_id)
        if event.type not in _IDENTITY_CALLS:
            return Identity(event.customer_id)
        async with self.sessions.begin() as session:
            if event.type == "alias":
                previous = _previous_id(event)
                if previous and event.user_id:
                    await customers.link(session, previous, event.user_id, source="alias")
            elif event.user_id and event.anonymous_id:
                await customers.link(session, event.anonymous_id, event.user_id, source="identify")
            identity = await customers.resolve(session, event.customer_id)
            if event.type == "identify":
                await customers.merge_traits(session, identity.customer_id, event.all_traits())
            return identity

    async def apply_consent(
        self, event: Event, identity: Identity, journey_event: JourneyEvent, result: RouteResult
    ) -> ConsentChange:
        """Consent from identify traits, suppressions from unsubscribes, complaints and bounces;
        a change that forbids marketing ends the customer's running marketing journeys."""
        if event.type != "identify" and event.name not in consent.CONSENT_EVENTS:
            return ConsentChange()
        async with self.sessions.begin() as session:
            if event.type == "identify":
                change = await consent.apply_traits(
                    session,
                    identity.customer_id,
                    event.all_traits(),
                    at=event.timestamp,
                    source_id=event.message_id,
                )
            else:
                change = await consent.apply_event(
                    session,
                    identity.customer_id,
                    event.name,
                    event.properties,
                    at=event.timestamp,
                    source_id=event.message_id,
                    asm_groups=self.settings.subscription_groups_by_asm_id,
                )
            ending = (
                await consent.runs_to_end(session, identity.ids) if change.ends_marketing else []
            )
        signal = suppressed_event(journey_event, change.reasons)
        for wid in ending:
            await self._signal(wid, signal, result)
        return change

    async def _start(
        self,
        target: RouteTarget,
        customer_id: str,
        event: JourneyEvent,
        wid: str | None = None,
        entry_key: str | None = None,
    ) -> None:
        """Signal-with-start: starts the run, or only signals it if it is already running.
        A declarative journey's run gets its version's document as its snapshot."""
        start = JourneyStart(
            journey_key=target.key,
            journey_version=target.version,
            customer_id=customer_id,
            time_scale=self.settings.time_scale,
            definition=target.definition,
            entry_key=entry_key,
        )
        wid = wid or workflow_id(target.key, customer_id)
        await self._signal_with_start(target.workflow_type, start, wid, target, event)

    async def _restart_countdown(
        self, target: RouteTarget, customer_id: str, event: JourneyEvent
    ) -> None:
        """Signal-with-start the customer's inactivity watcher for this journey."""
        assert target.inactivity_seconds is not None
        start = WatchStart(
            journey_key=target.key,
            journey_version=target.version,
            workflow_type=target.workflow_type,
            customer_id=customer_id,
            event_name=event.name,
            period_seconds=target.inactivity_seconds,
            time_scale=self.settings.time_scale,
        )
        wid = watcher_id(target.key, customer_id)
        await self._signal_with_start(WATCHER_WORKFLOW, start, wid, target, event)

    async def _signal_with_start(
        self,
        workflow: str,
        start: JourneyStart | WatchStart,
        wid: str,
        target: RouteTarget,
        event: JourneyEvent,
    ) -> None:
        await self.client.start_workflow(
            workflow,
            start,
            id=wid,
            task_queue=self.settings.task_queue,
            start_signal=EVENT_SIGNAL,
            start_signal_args=[event],
            search_attributes=run_search_attributes(start.customer_id, target.key, target.version),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    async def _signal(self, wid: str, event: JourneyEvent, result: RouteResult) -> bool:
        try:
            await self.client.get_workflow_handle(wid).signal(EVENT_SIGNAL, event)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            result.not_running.append(wid)
            return False
        result.signalled.append(wid)
        return True


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
        self.sessions = sessions
        self.settings = settings
        self.events = EventRouter(client, settings, JourneyIndex(), sessions)
        self.leases = PartitionLeases(js, settings, owner or router_identity())
        self._stopping = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.router_concurrency)
        # Partitions whose pull was abandoned unacknowledged at stop: their leases must expire
        # (not be released) so their events are redelivered before anyone pulls newer ones.
        self._abandoned: set[int] = set()
        # Per partition, the consumer's delivery sequence of the newest event this router took.
        self._delivered: dict[int, int] = {}

    def stop(self) -> None:
        """Finish the pulls in hand, acknowledge them, then return from :meth:`run`."""
        self._stopping.set()

    async def refresh_index(self) -> None:
        self.events.index = await load_index(self.sessions)

    async def run(self) -> None:
        await bus.ensure_streams(self.js, self.settings)
        await self.refresh_index()
        await self.leases.open()
        await self.leases.renew()
        log.info(
            "router %s: %d journeys in the index, %d partitions, %d routers live",
            self.leases.owner,
            self.events.index.size,
            self.settings.event_partitions,
            self.leases.live_routers,
        )
        helpers = [
            asyncio.create_task(self._refresh_forever()),
            asyncio.create_task(self._renew_forever()),
        ]
        try:
            await asyncio.gather(*(self._consume(p) for p in range(self.settings.event_partitions)))
        finally:
            for task in helpers:
                task.cancel()
            await self.leases.close(keep=self._abandoned)

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
                    await self._pause(1)
                    continue
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
                    event = decode_event(msg.data)
                except EventTooLarge as err:
                    await self.dead_letter(msg, str(err))
                    continue
                except InvalidEvent as err:
                    await self.dead_letter(msg, f"invalid event: {err}")
                    continue
                except Exception as err:  # undecodable bytes, not even JSON text
                    await self.dead_letter(msg, f"undecodable message: {err}")
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
            if not any(event.type in _IDENTITY_CALLS for _, event in items)
            for _, event in items
        ]
        try:
            return await self.events.resolve_pull(steady)
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
        if not self.events.has_work(event):
            return True
        earlier = (msg.metadata.num_delivered or 1) - 1
        if earlier >= self.settings.router_max_deliver:
            await self.dead_letter(msg, f"delivered {earlier + 1} times without being settled")
            return True
        failures = 0
        while True:
            try:
                result = await self.events.route(event, known)
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
                    await self.dead_letter(msg, reason)
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
            return True

    async def dead_letter(self, msg: Msg, reason: str) -> None:
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


def _entry_key(target: RouteTarget, event: JourneyEvent) -> str | None:
    """The entry key's value for ``event`` (``event.properties.cart_id``), or ``None``."""
    assert target.entry.key is not None
    names = scope(now=datetime.now(UTC), trigger=event, event=event)
    try:
        value = compile_expression(target.entry.key).evaluate(names)
    except ExpressionError:
        return None
    return None if value is None or value == "" else str(value)


def _previous_id(event: Event) -> str | None:
    """An alias call's ``previousId`` (a declared field, or kept among the extras)."""
    value = getattr(event, "previous_id", None) or (event.model_extra or {}).get("previousId")
    return value if isinstance(value, str) and value else None


async def serve(settings: Settings) -> None:
    """Run the router until SIGTERM/SIGINT, then finish the pulls in hand and drain."""
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


def _stream_seq(msg: Msg) -> int:
    return msg.metadata.sequence.stream if msg.metadata.sequence else 0
