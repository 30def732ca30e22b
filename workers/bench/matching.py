"""Ours, matching events: triggers the router turns into signal-with-starts of journeys.

Throughput: a backlog of "Bench Wait" triggers, published while the router is stopped, drained
by a freshly started ``journeys router``, in events per second; and the rate at which the runs
reach their timer (router start to the last run's first wait), which is what the worker
sustains. Each run waits on its timer until one common instant, so the same phase gives the
memory figure (worker RSS with N journeys waiting) and checks that every run completes when its
timer fires.

Send capacity: a backlog of "Bench Send" triggers (a zero-delay send each) published at once;
the rate at which they are delivered is the maximum rate of that workload.

Latency: "Bench Send" triggers published at half the send capacity; from each publish to the run's
first workflow task and to the completion of its zero-delay send's activity (the console
provider has delivered and the delivery row says ``sent``), in Temporal's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from journeys.store import customers
from journeys.store.models import AuditEvent, Delivery, JourneyRun
from journeys.vocabulary import AuditKind, DeliveryStatus, RunStatus
from journeys.workflow_ids import workflow_id
from workers.bench.config import BenchSizes
from workers.bench.cpu import CpuMeter
from workers.bench.draining import router_drain
from workers.bench.journeys import CHANNEL, BenchSend, BenchWait
from workers.bench.memory import RssSampler, mib
from workers.bench.progress import Steps, paced
from workers.bench.publishing import (
    publish,
    publish_many,
    run_tag,
    send_trigger,
    wait_trigger,
    wait_until,
)
from workers.bench.stack import BenchStack
from workers.bench.stats import even_sample, latencies, summary_ms

# Publishing a backlog runs at several thousand events per second; a conservative guess.
_PUBLISH_RATE_GUESS = 1500.0


async def _count(stack: BenchStack, query: Any) -> int:
    async with stack.sessions() as session:
        return int(await session.scalar(query) or 0)


async def throughput_and_memory(
    stack: BenchStack,
    sizes: BenchSizes,
    steps: Steps,
    *,
    while_waiting: Callable[[], Awaitable[None]] | None = None,
    while_waiting_seconds: float = 0.0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The matching rate, then memory with every run waiting on its timer.

    ``while_waiting`` runs once every run waits and the memory figure is taken, before the
    timers fire: the bench measures raw Temporal again there, on the server as our phase left
    it. Its expected duration, ``while_waiting_seconds``, is added to the time the timers
    give; ``memory["timers_fired_during_pause"]`` says if they fired before it was done.
    """
    n = sizes.waiting_journeys
    tag = run_tag()
    prefix = f"bench-wait-{tag}-"
    key = BenchWait.spec.key
    worker = stack.children["worker"]
    sampler = RssSampler(worker.pid)
    idle_rss = sampler.now()

    # One instant for every run, after the router and the worker should have started them all,
    # so all N wait at once. A pilot batch (whose runs complete at once) says how fast runs get
    # through; a run started after the instant completes at once, and ``waiting_at_once`` shows.
    pilot_rate = await _pilot(stack, max(20, min(1000, n // 10)), steps)
    expected = n / _PUBLISH_RATE_GUESS + n / (0.8 * pilot_rate)
    margin = sizes.wake_margin_seconds + while_waiting_seconds
    wake_at = datetime.now(UTC) + timedelta(seconds=expected + margin)
    await stack.stop_child("router")
    steps.step("ours, matching: publishing triggers", n)
    await publish_many(stack, [wait_trigger(f"{prefix}{i}", wake_at) for i in range(n)], steps)

    runs = select(func.count()).select_from(JourneyRun).where(JourneyRun.journey_key == key)
    of_run = JourneyRun.customer_id.like(f"{prefix}%")
    waiting = (
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.journey_key == key, AuditEvent.kind == AuditKind.WAITING)
        .where(AuditEvent.customer_id.like(f"{prefix}%"))
    )
    seen = 0

    async def all_waiting() -> bool:
        nonlocal seen
        count = await _count(stack, waiting)
        steps.advance(count - seen)
        seen = count
        return count >= n or datetime.now(UTC) >= wake_at

    async with sampler:
        steps.step("ours, matching: router starts journeys", n)
        # CPU is metered from the router's start (its start-up included) until the last run
        # waits on its timer, as raw's is until its last run completed: the worker brings most
        # runs to their first wait after the router has drained.
        with CpuMeter(stack) as meter:
            router_started = time.perf_counter()
            await stack.start_child("router")
            drain = await router_drain(stack, n, steps, timeout=max(300.0, n / 10))

            steps.step("memory: journeys reach their timer", n)
            until_wake = (wake_at - datetime.now(UTC)).total_seconds()
            await wait_until(all_waiting, timeout=max(until_wake, 0) + 60, interval=0.5)
            to_first_wait = time.perf_counter() - router_started
        await asyncio.sleep(1.0)  # let the worker settle after its last task
        active = await _count(stack, runs.where(of_run, JourneyRun.status == RunStatus.ACTIVE))
        rss_waiting = sampler.now()
        peak_before_wake = sampler.peak
        if while_waiting is not None:
            await while_waiting()
        fired_during_pause = while_waiting is not None and datetime.now(UTC) >= wake_at

        wait_left = (wake_at - datetime.now(UTC)).total_seconds()
        steps.step(f"memory: timers fire in {max(wait_left, 0):.0f} s", None)
        if wait_left > 0:
            await asyncio.sleep(wait_left)
        steps.step("memory: journeys complete", n)
        completed_seen = 0
        woke = time.perf_counter()

        async def all_completed() -> bool:
            nonlocal completed_seen
            stack.check_children()
            count = await _count(
                stack, runs.where(of_run, JourneyRun.status == RunStatus.COMPLETED)
            )
            steps.advance(count - completed_seen)
            completed_seen = count
            return count >= n

        with contextlib.suppress(TimeoutError):  # reported as all_completed: false
            await wait_until(all_completed, timeout=sizes.completion_timeout_seconds, interval=0.5)
        completion_seconds = time.perf_counter() - woke
    started = await _count(stack, runs.where(of_run))
    matching = {
        "journey": key,
        "pilot_runs_per_second": round(pilot_rate, 1),
        "events": n,
        "seconds": round(drain.seconds, 3),
        "events_per_second": round(drain.per_second, 1),
        # Runs that reached their first wait before the timers fired (every run, unless the
        # worker fell that far behind), per second since the router started.
        "waiting_per_second": round(seen / to_first_wait, 1),
        "runs_started": started,
        "cpu": meter.result(n),
    }
    memory = {
        "journeys": n,
        "waiting_at_once": active,
        "worker_rss_idle_mib": mib(idle_rss),
        "worker_rss_waiting_mib": mib(rss_waiting),
        "worker_rss_peak_before_wake_mib": mib(peak_before_wake),
        "worker_rss_peak_mib": mib(sampler.peak),
        "completed": completed_seen,
        "all_completed": completed_seen >= n,
        "seconds_to_complete_after_wake": round(completion_seconds, 1),
        "timers_fired_during_pause": fired_during_pause,
        "rss_samples": [(round(t, 2), mib(rss)) for t, rss in even_sample(sampler.samples, 1500)],
    }
    return matching, memory


async def _pilot(stack: BenchStack, count: int, steps: Steps) -> float:
    """Runs per second from publish to completed, for ``count`` runs that wake at once."""
    prefix = f"bench-pilot-{run_tag()}-"
    now = datetime.now(UTC)
    steps.step("ours, matching: pilot batch", count)
    began = time.perf_counter()
    await publish_many(stack, [wait_trigger(f"{prefix}{i}", now) for i in range(count)], steps)
    if "router" not in stack.children:
        await stack.start_child("router")
    done = (
        select(func.count())
        .select_from(JourneyRun)
        .where(JourneyRun.customer_id.like(f"{prefix}%"), JourneyRun.status == RunStatus.COMPLETED)
    )

    async def completed() -> bool:
        stack.check_children()
        return await _count(stack, done) >= count

    await wait_until(completed, timeout=max(300.0, count), interval=0.2, what="pilot batch")
    return count / (time.perf_counter() - began)


# Sends made and delivered before any measured one: the first runs of a just-started worker pay
# one-time costs (the workflow sandbox's first imports, cold connection pools), up to a second
# each, which a running platform does not. Measured, they made the whole p99 of a 5/s run.
_WARM_UP_SENDS = 20


async def _send_and_deliver(
    stack: BenchStack, customer_ids: list[str], steps: Steps
) -> tuple[float, int]:
    """Publish a zero-delay send for each customer at once; the seconds until all were
    delivered, and how many were. A worker that falls too far behind is given up on after
    ``max(120 s, 0.5 s per send)``: the count says so, and the run goes on."""
    async with stack.sessions.begin() as session:
        for customer in customer_ids:
            await customers.merge_traits(session, customer, {CHANNEL: f"{customer}@bench"})
    began = time.perf_counter()
    for customer in customer_ids:
        await publish(stack, send_trigger(customer))
    sent = (
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.customer_id.in_(customer_ids), Delivery.status == DeliveryStatus.SENT)
    )
    seen = 0

    async def all_sent() -> bool:
        nonlocal seen
        stack.check_children()
        done = await _count(stack, sent)
        steps.advance(done - seen)
        seen = done
        return done >= len(customer_ids)

    with contextlib.suppress(TimeoutError):
        await wait_until(all_sent, timeout=max(120.0, len(customer_ids) / 2), interval=0.2)
    return time.perf_counter() - began, seen


async def send_capacity(stack: BenchStack, sizes: BenchSizes, steps: Steps) -> dict[str, Any]:
    """The maximum rate of zero-delay send journeys, publish to delivery: a backlog published
    at once and drained by the router and worker as fast as they go. The latency phase paces
    its sends at half this rate, the load the p99 target is judged at.

    It runs after a warm-up of its own, so the one-time costs of a fresh worker (below) are not
    in the rate either.
    """
    tag = run_tag()
    steps.step("ours, send capacity: warming up", _WARM_UP_SENDS)
    await _send_and_deliver(stack, [f"bench-warm-{tag}-{i}" for i in range(_WARM_UP_SENDS)], steps)
    n = sizes.send_capacity_journeys
    steps.step(f"ours, send capacity: {n:,} zero-delay sends at once", n)
    meter = CpuMeter(stack).__enter__()
    burst = [f"bench-burst-{tag}-{i}" for i in range(n)]
    seconds, delivered = await _send_and_deliver(stack, burst, steps)
    meter.__exit__()
    return {
        "journeys": n,
        "delivered": delivered,
        "all_delivered": delivered >= n,
        "seconds": round(seconds, 2),
        "journeys_per_second": round(delivered / seconds, 1),
        "cpu": meter.result(n),
    }


async def latency(
    stack: BenchStack, sizes: BenchSizes, max_rate: float, steps: Steps
) -> dict[str, Any]:
    rate = max(max_rate / 2, 1.0)
    count = max(1, int(rate * sizes.latency_seconds))
    tag = run_tag()
    ids = [f"bench-send-{tag}-{i}" for i in range(count)]
    steps.step("ours, latency: customer profiles", None)
    async with stack.sessions.begin() as session:
        for customer in ids:
            await customers.merge_traits(session, customer, {CHANNEL: f"{customer}@bench"})
    key = BenchSend.spec.key
    published: dict[str, float] = {}

    async def one(i: int) -> None:
        published[workflow_id(key, ids[i])] = time.time()
        await publish(stack, send_trigger(ids[i]))

    steps.step(f"ours, latency: zero-delay sends at {rate:.0f}/s", count)
    meter = CpuMeter(stack).__enter__()
    await paced(rate, sizes.latency_seconds, one, steps)

    sent = (
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.customer_id.like(f"bench-send-{tag}-%"), Delivery.status == DeliveryStatus.SENT
        )
    )
    steps.step("ours, latency: deliveries", len(published))
    seen = 0

    async def all_sent() -> bool:
        nonlocal seen
        stack.check_children()
        done = await _count(stack, sent)
        steps.advance(done - seen)
        seen = done
        return done >= len(published)

    # A worker that cannot keep up never catches up: stop waiting, and report how many arrived
    # (the runs still undelivered count as missing from the percentiles, and fail the target).
    with contextlib.suppress(TimeoutError):
        await wait_until(all_sent, timeout=max(120.0, sizes.latency_seconds * 4), interval=0.5)
    meter.__exit__()
    sample = dict(even_sample(list(published.items()), sizes.latency_sample))
    steps.step("ours, latency: reading histories", None)
    to_task, to_delivery = await latencies(stack.temporal, sample)
    return {
        "rate_per_second": round(rate, 1),
        "events": len(published),
        "delivered": seen,
        "all_delivered": seen >= len(published),
        "to_first_workflow_task": summary_ms(to_task),
        "to_first_delivery": summary_ms(to_delivery),
        "cpu": meter.result(len(published)),
    }
