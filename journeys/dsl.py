"""The journey DSL: write a customer journey as a Python class, run it as a Temporal workflow.

    @journey(key="cart-recovery", trigger="Cart Abandoned", exit_on=["Order Completed"])
    class CartRecovery(Journey):
        async def run(self, trigger: JourneyEvent) -> None:
            await self.sleep(timedelta(minutes=15))
            await self.send("sms", "cart_recovery_sms")

Each decorated class is its own workflow type. This module is workflow code: deterministic, free of
I/O, importing only Temporal's workflow API and the contracts. Every side effect (database rows,
rendering, delivery) happens in activities referenced by name.

Exit events are handled by the ``event`` signal: it records the exit, which wakes any wait at once
(its timer is cancelled), and every step checks it before and after running, so no later step runs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from journeys.contracts import (
    CATEGORIES,
    CURRENT_STEP_QUERY,
    DEFER,
    EVENT_SIGNAL,
    MARKETING,
    QUIET_HOURS_PATTERN,
    RECEIVED_EVENTS_QUERY,
    SKIP,
    SUPPRESSED_EVENT,
    AuditRecord,
    ComplianceCheck,
    ComplianceDecision,
    EntryRecord,
    EntryResult,
    ExitRecord,
    JourneyEvent,
    JourneyOutcome,
    JourneyStart,
    RunRef,
    SendRequest,
    SendResult,
    StepState,
)
from journeys.seen_ids import SeenIds

ACTIVITY_RECORD_ENTRY = "journeys.record_entry"
ACTIVITY_RECORD_AUDIT = "journeys.record_audit"
ACTIVITY_RECORD_EXIT = "journeys.record_exit"
ACTIVITY_SEND = "journeys.send_message"
ACTIVITY_CHECK_SEND = "journeys.check_send"
# Runs started before the compliance check replay their sends without it.
_PATCH_COMPLIANCE = "compliance-check"


_BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
_SEND_TIMEOUT = timedelta(minutes=2)
_SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))

J = TypeVar("J", bound="Journey")


@dataclass(frozen=True)
class JourneySpec:
    """What the router and the store need to know about a journey, without running it."""

    key: str
    trigger: str
    exit_on: tuple[str, ...]
    listens_to: tuple[str, ...]
    version: int
    workflow_type: str
    description: str
    # Enter on the absence of ``trigger`` for this long, instead of on ``trigger`` itself.
    inactive_for: timedelta | None = None

    @property
    def signalled_by(self) -> tuple[str, ...]:
        """Events a running journey must receive: exits and everything it may wait for."""
        return tuple(dict.fromkeys(self.exit_on + self.listens_to))


class JourneyError(Exception):
    """A journey's own code asked for something its declaration does not allow."""


class _Exited(BaseException):
    """Unwinds a journey's ``run`` when an exit event arrived; never visible to journey code."""


class Journey:
    """Base class of code journeys. Subclasses implement :meth:`run` and use the step methods."""

    spec: ClassVar[JourneySpec]
    # The default category of the journey's sends. A marketing journey exits when the customer
    # is suppressed (the ``Suppressed`` event); a transactional one goes on.
    category: ClassVar[str] = MARKETING

    def __init__(self) -> None:
        self._inbox: list[JourneyEvent] = []
        self._seen = SeenIds()
        self._exit_event: JourneyEvent | None = None
        self._step = StepState(kind="starting", description="waiting for trigger", since=_epoch())
        self._seq = 0
        self._sent = 0
        self._steps_used: dict[str, int] = {}
        self._run: RunRef | None = None
        self._start: JourneyStart | None = None
        self.trigger: JourneyEvent | None = None

    async def run(self, trigger: JourneyEvent) -> None:
        """The journey itself: override in each journey."""
        raise NotImplementedError

    # --- Temporal handlers -------------------------------------------------------------------

    @workflow.signal(name=EVENT_SIGNAL)
    def on_event(self, event: JourneyEvent) -> None:
        """Receive an event; duplicates (same messageId) are dropped here (invariant 2)."""
        if not self._seen.first_time(event.message_id):
            return
        exits = event.name in self.spec.exit_on or (
            event.name == SUPPRESSED_EVENT and self.category == MARKETING
        )
        if exits and self._exit_event is None and self.trigger:
            self._exit_event = event
        self._inbox.append(event)

    @workflow.query(name=CURRENT_STEP_QUERY)
    def current_step(self) -> StepState:
        return self._step

    @workflow.query(name=RECEIVED_EVENTS_QUERY)
    def received_events(self) -> list[str]:
        """The messageIds this run has taken in, in arrival order, duplicates dropped."""
        return [event.message_id for event in self._inbox]

    async def _execute(self, start: JourneyStart) -> JourneyOutcome:
        self._start = start
        info = workflow.info()
        self._run = RunRef(
            run_id=info.first_execution_run_id or info.run_id,
            workflow_id=info.workflow_id,
            journey_key=start.journey_key,
            journey_version=start.journey_version,
            customer_id=start.customer_id,
        )
        if start.trigger is not None:
            # Entered by the inactivity watcher: no event signal starts this run.
            self._inbox.insert(0, start.trigger)
            trigger: JourneyEvent | None = start.trigger
        else:
            await workflow.wait_condition(lambda: self._find(self.spec.trigger, 0) is not None)
            trigger = self._find(self.spec.trigger, 0)
        assert trigger is not None
        self.trigger = trigger
        # An exit that arrived after the trigger, in the same task, counts; one before it does not.
        after_trigger = self._inbox[self._inbox.index(trigger) + 1 :]
        self._exit_event = next((e for e in after_trigger if e.name in self.spec.exit_on), None)
        entry: EntryResult = await workflow.execute_local_activity(
            ACTIVITY_RECORD_ENTRY,
            EntryRecord(run=self._run, trigger=trigger, entered_at=workflow.now()),
            result_type=EntryResult,
            start_to_close_timeout=_BOOKKEEPING_TIMEOUT,
            retry_policy=_RETRY,
        )
        if not entry.entered:
            # A redelivered trigger after its run ended: that run was the customer's entry.
            outcome = self._outcome("duplicate", f"trigger already entered {entry.duplicate_of}")
            self._set_step(outcome.status, outcome.reason)
            return outcome
        self._set_step("entered", f"entered on {trigger.name}")
        await self._audit("entered", f"entered on {trigger.name}", data=_event_ref(trigger))
        try:
            self._checkpoint()
            await self.run(trigger)
            outcome = self._outcome("completed", "completed all steps")
        except _Exited:
            assert self._exit_event is not None
            outcome = self._outcome("exited", f"exited on {self._exit_event.name}")
        self._set_step(outcome.status, outcome.reason)
        self._seq += 1
        await workflow.execute_local_activity(
            ACTIVITY_RECORD_EXIT,
            ExitRecord(run=self._run, seq=self._seq, outcome=outcome),
            start_to_close_timeout=_BOOKKEEPING_TIMEOUT,
            retry_policy=_RETRY,
        )
        return outcome

    # --- steps available to journey code -----------------------------------------------------

    async def sleep(self, duration: timedelta) -> None:
        """Wait for ``duration``; an exit event ends the journey at once, mid-wait."""
        self._checkpoint()
        real = self._scaled(duration)
        until = workflow.now() + real
        description = f"waiting {human_duration(duration)}"
        self._set_step("wait", description, until)
        await self._audit("waiting", description, data={"until": until.isoformat()})
        await self._wait_unless_exited(real, description)

    wait = sleep

    async def wait_for(
        self,
        events: str | Iterable[str],
        timeout: timedelta,
        *,
        where: Callable[[JourneyEvent], bool] | None = None,
    ) -> JourneyEvent | None:
        """Wait until one of ``events`` arrives (returned) or ``timeout`` passes (``None``).

        Only events declared in ``listens_to`` (or ``exit_on``) reach a running journey, so
        waiting for any other name is refused rather than silently never matching.
        """
        self._checkpoint()
        names = (events,) if isinstance(events, str) else tuple(events)
        undeclared = [n for n in names if n not in self.spec.signalled_by]
        if undeclared:
            raise JourneyError(
                f"journey {self.spec.key!r} waits for {undeclared} but does not list them in "
                "listens_to; the router would never deliver them"
            )
        real = self._scaled(timeout)
        until = workflow.now() + real
        description = f"waiting for {' or '.join(names)} up to {human_duration(timeout)}"
        self._set_step("wait_for", description, until)
        await self._audit("waiting", description, data={"until": until.isoformat()})
        first = len(self._inbox)

        def match() -> JourneyEvent | None:
            for event in self._inbox[first:]:
                if event.name in names and (where is None or where(event)):
                    return event
            return None

        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._exit_event is not None or match() is not None,
                timeout=real,
                timeout_summary=description,
            )
        self._checkpoint()
        found = match()
        if found is None:
            await self._audit(
                "timed_out", f"no {' or '.join(names)} within {human_duration(timeout)}"
            )
        else:
            await self._audit("received", f"received {found.name}", data=_event_ref(found))
        return found

    async def send(
        self,
        channel: str,
        template: str,
        *,
        step: str | None = None,
        data: dict[str, Any] | None = None,
        category: str | None = None,
        group: str | None = None,
        quiet_hours: str | bool | None = None,
    ) -> SendResult:
        """Render ``template`` and deliver it on ``channel``, at most once per run and step.

        The compliance check comes first (docs/delivery.md "Compliance"): ``category``
        (``marketing``, the journey's default, or ``transactional``) and ``group`` (a
        subscription group the customer may have left) say which rules apply. A message the
        rules refuse is ``skipped`` with the reason; one inside quiet hours waits for their end
        (an exit event ends the run meanwhile) and is checked again. ``quiet_hours`` overrides
        the configured window for this step: ``"22:00-07:00"``, or ``False`` for none.
        """
        self._checkpoint()
        assert self._run is not None and self.trigger is not None
        step_id = self._step_id(step or f"{channel}:{template}")
        kind = category or self.category
        if kind not in CATEGORIES:
            raise JourneyError(f"step {step_id!r}: category {kind!r} is not one of {CATEGORIES}")
        window = _quiet_hours_arg(step_id, quiet_hours)
        checked = workflow.patched(_PATCH_COMPLIANCE)
        deferred_until: datetime | None = None
        while True:
            self._set_step("send", f"sending {template} by {channel}")
            self._seq += 1
            request = SendRequest(
                run=self._run,
                seq=self._seq,
                step=step_id,
                channel=channel,
                template=template,
                trigger=self.trigger,
                requested_at=_requested_at(deferred_until),
                data=data or {},
                category=kind,
                group=group,
            )
            if not checked:
                break
            # Local, like the other bookkeeping: it only reads and writes the store.
            decision: ComplianceDecision = await workflow.execute_local_activity(
                ACTIVITY_CHECK_SEND,
                ComplianceCheck(request=request, quiet_hours=window, deferred_until=deferred_until),
                result_type=ComplianceDecision,
                start_to_close_timeout=_BOOKKEEPING_TIMEOUT,
                retry_policy=_RETRY,
            )
            if decision.action == SKIP:
                self._checkpoint()
                return SendResult("skipped", decision.reason, delivery_id=decision.delivery_id)
            if decision.action != DEFER:
                break
            assert decision.until is not None
            deferred_until = decision.until
            await self._wait_until(deferred_until, f"deferring {template} by {channel}")
        result: SendResult = await workflow.execute_activity(
            ACTIVITY_SEND,
            request,
            result_type=SendResult,
            start_to_close_timeout=_SEND_TIMEOUT,
            # The activity heartbeats while the provider has the message: a dead worker's attempt
            # is given up in seconds, and the retry finds the delivery row `sending`.
            heartbeat_timeout=_SEND_HEARTBEAT_TIMEOUT,
            retry_policy=_RETRY,
        )
        if result.status == "sent":
            self._sent += 1
        # A message already handed to the provider stands; an exit that came meanwhile still
        # stops every later step.
        self._checkpoint()
        return result

    async def _wait_until(self, until: datetime, description: str) -> None:
        """Wait until ``until`` (scaled by the demo clock); an exit event ends the run mid-wait."""
        self._set_step("deferred", description, until)
        remaining = self._scaled(until - workflow.now())
        if remaining > timedelta(0):
            await self._wait_unless_exited(remaining, description)
        self._checkpoint()

    async def _wait_unless_exited(self, timeout: timedelta, description: str) -> None:
        """Wait ``timeout`` (already on the run's clock); an exit event ends the run mid-wait
        and cancels the timer."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._exit_event is not None, timeout=timeout, timeout_summary=description
            )
        self._checkpoint()

    # --- internals ---------------------------------------------------------------------------

    def _checkpoint(self) -> None:
        if self._exit_event is not None:
            raise _Exited()

    def _find(self, name: str, start: int) -> JourneyEvent | None:
        return next((e for e in self._inbox[start:] if e.name == name), None)

    def _scaled(self, duration: timedelta) -> timedelta:
        assert self._start is not None
        return duration / self._start.time_scale

    def _step_id(self, base: str) -> str:
        """Stable per-run step names; a repeated send gets ``#2``, ``#3``... deterministically."""
        count = self._steps_used.get(base, 0) + 1
        self._steps_used[base] = count
        return base if count == 1 else f"{base}#{count}"

    def _set_step(self, kind: str, description: str, until: datetime | None = None) -> None:
        self._step = StepState(
            kind=kind, description=description, since=workflow.now(), until=until
        )

    def _outcome(self, status: str, reason: str) -> JourneyOutcome:
        return JourneyOutcome(
            status=status, reason=reason, ended_at=workflow.now(), messages_sent=self._sent
        )

    async def _audit(self, kind: str, reason: str, *, data: dict[str, Any] | None = None) -> None:
        assert self._run is not None
        self._seq += 1
        await workflow.execute_local_activity(
            ACTIVITY_RECORD_AUDIT,
            AuditRecord(
                run=self._run,
                seq=self._seq,
                kind=kind,
                reason=reason,
                occurred_at=workflow.now(),
                step=self._step.description,
                data=data or {},
            ),
            start_to_close_timeout=_BOOKKEEPING_TIMEOUT,
            retry_policy=_RETRY,
        )


def journey(
    *,
    key: str,
    trigger: str,
    exit_on: Iterable[str] = (),
    listens_to: Iterable[str] = (),
    version: int = 1,
    inactive_for: timedelta | None = None,
) -> Callable[[type[J]], type[J]]:
    """Declare a journey class: its key, trigger event, exit events and other awaited events.

    With ``inactive_for``, the customer enters when ``trigger`` has *not* happened for that long
    ("no Login for 7 days"): each ``trigger`` event restarts the countdown. The run's trigger is
    then a synthetic event named ``No <trigger> for <period>``.

    The class becomes a Temporal workflow type named after it, with ``_execute`` as its run method.
    """

    def decorate(cls: type[J]) -> type[J]:
        if not issubclass(cls, Journey):
            raise TypeError(f"{cls.__qualname__} must subclass journeys.Journey")
        if not key or "/" in key:
            raise ValueError(f"journey key {key!r} must be non-empty and contain no '/'")
        if inactive_for is not None and inactive_for < timedelta(seconds=1):
            raise ValueError(f"journey {key!r}: inactive_for must be at least one second")
        cls.spec = JourneySpec(
            key=key,
            trigger=trigger,
            exit_on=tuple(exit_on),
            listens_to=tuple(listens_to),
            version=version,
            workflow_type=cls.__name__,
            description=(cls.__doc__ or "").strip().split("\n")[0],
            inactive_for=inactive_for,
        )

        async def execute(self: Journey, start: JourneyStart) -> JourneyOutcome:
            return await self._execute(start)

        # Temporal requires the run method to be defined on the workflow class itself.
        execute.__module__ = cls.__module__
        execute.__qualname__ = f"{cls.__name__}.execute"
        execute.__name__ = "execute"
        execute.__annotations__ = {"start": JourneyStart, "return": JourneyOutcome}
        cls.execute = workflow.run(execute)  # type: ignore[attr-defined]
        # A JourneyError is the journey author's mistake: fail the run with it, do not retry.
        registered = workflow.defn(name=cls.__name__, failure_exception_types=[JourneyError])(cls)
        known = _REGISTRY.get(key)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"journey key {key!r} is declared twice: {known} and {cls}")
        _REGISTRY[key] = registered
        return registered

    return decorate


_REGISTRY: dict[str, type[Journey]] = {}


def registered_journeys() -> list[type[Journey]]:
    """Journey classes declared so far in this process, in declaration order."""
    return list(_REGISTRY.values())


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)


def human_duration(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{duration.total_seconds():g} s"


def _requested_at(deferred_until: datetime | None) -> datetime:
    """When a send step asks for its message: now, or after a quiet-hours deferral the end of
    the window, which the workflow wakes a moment after (under the demo clock, a shortened wait
    ends before it: then now)."""
    now = workflow.now()
    return deferred_until if deferred_until is not None and now >= deferred_until else now


def _quiet_hours_arg(step_id: str, value: str | bool | None) -> str | None:
    """``send(quiet_hours=...)`` as the check takes it: None (settings), "" (none), a window."""
    if value is None or value is True:
        return None
    if value is False:
        return ""
    if not re.fullmatch(QUIET_HOURS_PATTERN, value):
        raise JourneyError(
            f"step {step_id!r}: quiet_hours {value!r} is not HH:MM-HH:MM (e.g. 21:00-08:00)"
        )
    return value


def _event_ref(event: JourneyEvent) -> dict[str, Any]:
    return {"event": event.name, "message_id": event.message_id}


__all__ = [
    "Journey",
    "JourneyError",
    "JourneyEvent",
    "JourneySpec",
    "SendResult",
    "journey",
    "registered_journeys",
]
