"""A journey run's state and the machinery every step shares: the exit and cancel checkpoints,
goals, the run's clock, step ids, activities a cancel abandons, random picks.

:class:`RunState` is the base of :class:`journeys.workflows.dsl.Journey` below its steps (the
families in ``waits.py``, ``sends.py`` and ``data.py``); the journey's declaration, its Temporal
handlers and its lifecycle are in ``dsl.py``. Workflow code: deterministic, free of I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

from journeys.audit import Picked
from journeys.contracts import (
    ACTIVITY_RECORD_CONVERSION,
    MARKETING,
    SUPPRESSED_EVENT,
    ConversionRecord,
    JourneyEvent,
    JourneyOutcome,
    JourneyStart,
    RunRef,
    StepState,
)
from journeys.definitions.document import EventRule
from journeys.definitions.durations import parse_duration
from journeys.definitions.expressions import compile_expression, scope
from journeys.vocabulary import AuditKind, RunStatus
from journeys.workflows.bookkeeping import Bookkeeping, NotEntered, local_activity
from journeys.workflows.seen_ids import SeenIds

if TYPE_CHECKING:
    from journeys.workflows.dsl import JourneySpec

T = TypeVar("T")


class JourneyError(Exception):
    """A journey's own code asked for something its declaration does not allow."""


class _Exited(BaseException):
    """Unwinds a journey's ``run`` when an exit event arrived; never visible to journey code."""


class RunState(Bookkeeping):
    """What a run knows and the checks every step makes (a base of ``Journey``)."""

    spec: JourneySpec
    # The default category of the journey's sends. A marketing journey exits when the customer
    # is suppressed (the ``Suppressed`` event); a transactional one goes on.
    category: str = MARKETING

    def __init__(self) -> None:
        super().__init__()
        self._inbox: list[JourneyEvent] = []
        self._seen = SeenIds()
        self._exit_event: JourneyEvent | None = None
        self._step = StepState(kind="starting", description="waiting for trigger", since=_epoch())
        self._seq = 0
        self._sent = 0
        self._steps_used: dict[str, int] = {}
        # The declarative step being run (set by the interpreter): it tags every audit row.
        self._current_step_id: str | None = None
        # The exit step that ended the run (declarative journeys), for its audit row.
        self._exit_step: str | None = None
        self._run: RunRef | None = None
        self._start: JourneyStart | None = None
        self.trigger: JourneyEvent | None = None
        # How the run ends when not by an exit event: an exit step, or a goal that exits.
        self._ending: tuple[RunStatus, str] | None = None
        self._entered_at: datetime | None = None
        self._holdout = False
        self._goal_event: JourneyEvent | None = None
        self._converted = False

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
        await self._write_pending()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                self._stopping, timeout=timeout, timeout_summary=description
            )
        self._checkpoint()

    # --- goals and expressions ------------------------------------------------------------

    def _is_exit(self, event: JourneyEvent) -> bool:
        if event.name == SUPPRESSED_EVENT and self.category == MARKETING:
            return True
        return any(
            rule.event == event.name and self._matches(rule, event) for rule in self.spec.exit_rules
        )

    def _matches(self, rule: EventRule, event: JourneyEvent) -> bool:
        """Does ``event`` pass ``rule``'s filter? Filters see the event and the trigger."""
        if rule.where is None:
            return True
        names = scope(now=workflow.now(), trigger=self.trigger, event=event)
        return compile_expression(rule.where).holds(names)

    def _take_goal(self, event: JourneyEvent) -> None:
        """Note the first goal event within the goal's window; a goal that exits ends the run."""
        goal = self.spec.goal
        if goal is None or self._goal_event is not None or self._entered_at is None:
            return
        if event.name != goal.event or not self._matches(
            EventRule(event=goal.event, where=goal.where), event
        ):
            return
        if workflow.now() - self._entered_at > self._scaled(parse_duration(goal.within)):
            return
        self._goal_event = event
        if goal.exit and self._exit_event is None and self._ending is None:
            self._exit_event = event
            self._ending = (RunStatus.CONVERTED, f"converted on {event.name}")

    async def _watch_goal(self) -> None:
        """Record the conversion as soon as the goal event arrives, holdout or not."""
        await workflow.wait_condition(lambda: self._goal_event is not None)
        event = self._goal_event
        goal = self.spec.goal
        assert event is not None and goal is not None and self._run is not None
        revenue: float | None = None
        if goal.revenue is not None:
            names = scope(now=workflow.now(), trigger=self.trigger, event=event)
            with contextlib.suppress(Exception):
                value = compile_expression(goal.revenue).evaluate(names)
                revenue = float(value) if value is not None else None
        try:
            # The entry first: a conversion belongs to a run the store has entered.
            await self._write_pending()
        except NotEntered:
            return
        self._seq += 1
        await local_activity(
            ACTIVITY_RECORD_CONVERSION,
            ConversionRecord(
                run=self._run, seq=self._seq, event=event, revenue=revenue, holdout=self._holdout
            ),
        )
        self._converted = True

    async def _await_goal(self) -> None:
        """After the last step, stay until the goal's window closes, so a conversion after the
        last message still counts (an exit event or the goal itself ends the wait)."""
        goal = self.spec.goal
        if goal is None or self._goal_event is not None or self._entered_at is None:
            return
        closes = self._entered_at + self._scaled(parse_duration(goal.within))
        remaining = closes - workflow.now()
        if remaining <= timedelta(0):
            return
        description = (
            f"waiting for goal {goal.event} up to {human_duration(parse_duration(goal.within))}"
        )
        self._set_step("goal", description, closes)
        await self._write_pending()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._stopping() or self._goal_event is not None,
                timeout=remaining,
                timeout_summary=description,
            )
        self._checkpoint()

    async def _pick(self, name: str, weights: Mapping[str, float], kind: AuditKind) -> str:
        total = sum(weights.values())
        if abs(total - 100) > 1e-6 or any(w <= 0 for w in weights.values()):
            raise JourneyError(f"{kind} {name!r}: percentages {dict(weights)} must add up to 100")
        roll = workflow.random().random() * 100
        chosen = list(weights)[-1]
        for option, weight in weights.items():
            if roll < weight:
                chosen = option
                break
            roll -= weight
        await self._audit(
            kind,
            f"{name}: {chosen} ({weights[chosen]:g}%)",
            data=Picked(kind, name, chosen, weights[chosen]).data(),
            step_id=name,
        )
        return chosen

    # --- internals ---------------------------------------------------------------------------

    def _checkpoint(self) -> None:
        if self._stopping():
            raise _Exited()

    def _stopping(self) -> bool:
        """An exit event arrived, or the run is otherwise ending (exit step, goal, cancel)."""
        return self._exit_event is not None or self._ending is not None or self._refusal is not None

    @property
    def _cancelled(self) -> bool:
        return self._ending is not None and self._ending[0] == RunStatus.CANCELLED

    async def _unless_cancelled(self, start: Callable[[], workflow.ActivityHandle[T]]) -> T:
        """Run an activity with effects outside (a send, an emitted event, a webhook call), but
        stop waiting for it, cancelling it, as soon as the run is cancelled: one retrying
        against a failing provider would otherwise hold the run and might still deliver.

        Until a cancel, this issues the same commands as awaiting the activity, so recorded
        runs replay unchanged. An exit event does not abandon the activity (a message already
        on its way stands); the checkpoint after it stops the steps that follow.
        """
        if self._cancelled:
            raise _Exited()
        await self._write_pending()
        handle = start()
        await workflow.wait_condition(lambda: handle.done() or self._cancelled)
        if not handle.done():
            handle.cancel()
            with contextlib.suppress(ActivityError, asyncio.CancelledError):
                await handle
            raise _Exited()
        return await handle

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

    def _outcome(self, status: RunStatus, reason: str) -> JourneyOutcome:
        return JourneyOutcome(
            status=status, reason=reason, ended_at=workflow.now(), messages_sent=self._sent
        )


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


def _rules(events: str | EventRule | Iterable[str | EventRule]) -> tuple[EventRule, ...]:
    if isinstance(events, str | EventRule):
        events = [events]
    return tuple(e if isinstance(e, EventRule) else EventRule(event=e) for e in events)
