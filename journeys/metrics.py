"""Every Prometheus metric the Journeys processes export, named in one place.

The API, the router and the worker each serve ``/metrics`` from the process's default registry
(``docs/operations.md``, "Metrics and health"); the library code that does the work (the ingest
routes, the router's loop, the activities) counts through the helpers below, so a metric's name,
type and labels are decided here and nowhere else. Labels are bounded sets: a route, an outcome,
a decision, a reason class, a partition number, a journey key, a channel and provider name, a
status of the vocabulary. Never a customer id, a message id or free text.

Workflow code never imports this module: it must stay deterministic, and a replay would count
twice. Journeys started, exited and completed are counted by the activities that write the run
rows, once per row written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

from journeys.vocabulary import DeliveryStatus, RunStatus

__all__ = [
    "CONTENT_TYPE",
    "DeadLetterReason",
    "IngestEventOutcome",
    "IngestRoute",
    "RequestOutcome",
    "RouterDecision",
    "exposition",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST


class IngestRoute(StrEnum):
    """The ingestion routes, as labelled: the Segment call types and the batch."""

    TRACK = "track"
    IDENTIFY = "identify"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"
    BATCH = "batch"


class RequestOutcome(StrEnum):
    """An ingest request's outcome by its status: stored, refused for its input or key, or not
    stored because JetStream did not acknowledge (503) or the API failed (other 5xx)."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    ERROR = "error"

    @classmethod
    def of(cls, status_code: int) -> RequestOutcome:
        if status_code < 400:
            return cls.ACCEPTED
        if status_code < 500:
            return cls.REFUSED
        if status_code == 503:
            return cls.UNAVAILABLE
        return cls.ERROR


class IngestEventOutcome(StrEnum):
    """One event of an ingest request: stored, a duplicate JetStream dropped (same messageId
    inside the dedup window), or not acknowledged by JetStream."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    NOT_STORED = "not_stored"


class RouterDecision(StrEnum):
    """What the router did with one event. ``started`` and ``signalled`` count events that started
    or signalled at least one run (an event doing both counts once, as ``started``); ``filtered``
    events matched a trigger whose entry rules did not hold; ``no_match`` events changed the
    customer (identity, consent) and nothing else; ``not_wanted`` events no journey wants were
    acknowledged without routing; ``dead_lettered`` went to the DLQ."""

    STARTED = "started"
    SIGNALLED = "signalled"
    FILTERED = "filtered"
    NO_MATCH = "no_match"
    NOT_WANTED = "not_wanted"
    DEAD_LETTERED = "dead_lettered"


class DeadLetterReason(StrEnum):
    """Why an event went to the DLQ, as a class (the header ``Journeys-Dlq-Reason`` keeps the
    full text): over the size or depth limit, an invalid event, bytes that are no event at all,
    delivered too often without being settled, or routing failed past the retries."""

    TOO_LARGE = "too_large"
    INVALID = "invalid"
    UNDECODABLE = "undecodable"
    REDELIVERED = "redelivered"
    FAILED = "failed"


INGEST_REQUESTS = Counter(
    "journeys_ingest_requests",
    "Ingest HTTP requests by route and outcome.",
    ["route", "outcome"],
)
INGEST_EVENTS = Counter(
    "journeys_ingest_events",
    "Events in ingest requests that reached JetStream, by outcome.",
    ["outcome"],
)
ROUTER_EVENTS = Counter(
    "journeys_router_events",
    "Events the router settled, by decision.",
    ["decision"],
)
ROUTER_DEAD_LETTERS = Counter(
    "journeys_router_dead_letters",
    "Events moved to the dead-letter stream, by reason class.",
    ["reason"],
)
ROUTER_REDELIVERIES = Counter(
    "journeys_router_redeliveries",
    "Events the router received again after an earlier delivery, by partition.",
    ["partition"],
)
ROUTER_PENDING = Gauge(
    "journeys_router_pending_events",
    "Events of a partition not yet delivered to the router (consumer lag), as of its last pull.",
    ["partition"],
)
RUNS = Counter(
    "journeys_runs",
    "Journey runs by journey and status: active when a run enters, not_entered when its entry "
    "rules refuse it, and its end status (completed, exited, cancelled, failed) when it ends.",
    ["journey", "status"],
)
SENDS = Counter(
    "journeys_sends",
    "Concluded sends by channel, provider and delivery status.",
    ["channel", "provider", "status"],
)
SEND_RETRIES = Counter(
    "journeys_send_retries",
    "Send attempts a provider refused with a retryable error, by channel and provider.",
    ["channel", "provider"],
)
SEND_DURATION = Histogram(
    "journeys_send_duration_seconds",
    "Time a provider took to accept or refuse a message, by channel and provider.",
    ["channel", "provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
COMPLIANCE_SKIPS = Counter(
    "journeys_compliance_skips",
    "Sends the compliance check skipped, by the rule's code.",
    ["reason"],
)


def ingest_request(route: IngestRoute, status_code: int) -> None:
    INGEST_REQUESTS.labels(route=route, outcome=RequestOutcome.of(status_code)).inc()


def ingest_events(outcome: IngestEventOutcome, count: int = 1) -> None:
    if count:
        INGEST_EVENTS.labels(outcome=outcome).inc(count)


def routed(decision: RouterDecision) -> None:
    ROUTER_EVENTS.labels(decision=decision).inc()


def dead_lettered(reason: DeadLetterReason) -> None:
    ROUTER_DEAD_LETTERS.labels(reason=reason).inc()
    ROUTER_EVENTS.labels(decision=RouterDecision.DEAD_LETTERED).inc()


def redelivered(partition: int, count: int = 1) -> None:
    if count:
        ROUTER_REDELIVERIES.labels(partition=str(partition)).inc(count)


def pending(partition: int, events: int) -> None:
    ROUTER_PENDING.labels(partition=str(partition)).set(events)


def run_status(journey: str, status: RunStatus) -> None:
    RUNS.labels(journey=journey, status=status).inc()


def sent(channel: str, provider: str, status: DeliveryStatus) -> None:
    SENDS.labels(channel=channel, provider=provider, status=status).inc()


def send_retried(channel: str, provider: str) -> None:
    SEND_RETRIES.labels(channel=channel, provider=provider).inc()


def send_duration(channel: str, provider: str, seconds: float) -> None:
    SEND_DURATION.labels(channel=channel, provider=provider).observe(seconds)


@contextmanager
def send_timer(channel: str, provider: str) -> Iterator[None]:
    """Observe the time the block takes (a provider's call), whether it returns or raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        send_duration(channel, provider, time.perf_counter() - started)


def compliance_skipped(code: str) -> None:
    COMPLIANCE_SKIPS.labels(reason=code).inc()


def exposition() -> bytes:
    """The process's metrics in Prometheus' text format."""
    return _generate_latest(REGISTRY)
