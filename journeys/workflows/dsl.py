"""The journey DSL: write a customer journey as a Python class, run it as a Temporal workflow.

    @journey(key="cart-recovery", trigger="Cart Abandoned", exit_on=["Order Completed"])
    class CartRecovery(Journey):
        async def run(self, trigger: JourneyEvent) -> None:
            await self.sleep(timedelta(minutes=15))
            await self.send("sms", "cart_recovery_sms")

Each decorated class is its own workflow type. This module is workflow code: deterministic, free of
I/O, importing only Temporal's workflow API and the contracts. Every side effect (database rows,
rendering, delivery) happens in activities referenced by name. This module holds the declaration
and the run's lifecycle; the steps are in ``waits.py``, ``sends.py`` and ``data.py``, and what
they share in ``run.py``.

Exit events are handled by the ``event`` signal: it records the exit, which wakes any wait at once
(its timer is cancelled), and every step checks it before and after running, so no later step runs.

An operator stops a run with the ``cancel`` signal (:class:`CancelRequest`), which ends it the
same way, as ``cancelled`` with "cancelled by <name>: <reason>" (see :meth:`Journey.on_cancel`).

A run whose workflow fails (a :class:`JourneyError`, an activity that failed for good) first
ends its row as ``failed`` with the reason and an audit row, then fails in Temporal, where
operators see it: its row is never left ``active`` behind a failed workflow. An exception that
is a bug fails the workflow task instead, which Temporal retries, so the run is still going on
both sides and a fixed deploy resumes it. Recorded runs replay unchanged: the failed end adds
commands only where the old code had already failed the workflow.

Audit rows that belong to a step carry its id in ``data["step_id"]`` (:data:`STEP_ID`), which
the analytics funnel (journeys/insight/analytics.py) counts runs by. A declarative run tags every
row its interpreter writes with the definition's step id. A code journey has no list of steps,
so only steps with a stable id are tagged: a send (``channel:template``, or its ``step=``, with
``#2`` for a repeat), an A/B draw, a branch and a split (their name), an emit
(``emit:<event>``), a webhook call (``webhook:<url>``) and a wait given ``step=``. Its funnel
therefore shows those steps, in the order runs first reached them; it cannot show a step no run
reached (there is no list to give it a zero), an unnamed wait, a trait update or an exit (they
have no id in code).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError
from temporalio.exceptions import CancelledError as TemporalCancelled

from journeys.audit import Entered
from journeys.contracts import (
    ACTIVITY_RECORD_EXIT,
    CANCEL_SIGNAL,
    CURRENT_STEP_QUERY,
    EVENT_SIGNAL,
    RECEIVED_EVENTS_QUERY,
    STEP_ID,
    CancelRequest,
    EntryRecord,
    EntryResult,
    ExitRecord,
    JourneyEvent,
    JourneyOutcome,
    JourneyStart,
    RunRef,
    SendResult,
    StepState,
)
from journeys.definitions.document import Entry, EventRule, Goal, Variant, Window
from journeys.definitions.expressions import compile_expression
from journeys.vocabulary import AuditKind, RunStatus
from journeys.workflows.bookkeeping import NotEntered, local_activity
from journeys.workflows.data import DataSteps
from journeys.workflows.run import JourneyError, _Exited, _rules
from journeys.workflows.sends import SendSteps
from journeys.workflows.waits import WaitSteps

# The longest failure reason a run's row and audit keep.
_MAX_FAILURE_REASON = 1000

J = TypeVar("J", bound="Journey")


@dataclass(frozen=True)
class JourneySpec:
    """What the router and the store need to know about a journey, without running it."""

    key: str
    trigger: str
    # Exit events, each with its filter if it has one.
    exit_rules: tuple[EventRule, ...]
    listens_to: tuple[str, ...]
    version: int
    workflow_type: str
    description: str
    # Enter on the absence of ``trigger`` for this long, instead of on ``trigger`` itself.
    inactive_for: timedelta | None = None
    # Enter only when this expression holds for the trigger event (checked by the router).
    trigger_where: str | None = None
    entry: Entry = field(default_factory=Entry)
    goal: Goal | None = None

    @property
    def exit_on(self) -> tuple[str, ...]:
        """The exit events' names, as the router routes them."""
        return tuple(dict.fromkeys(rule.event for rule in self.exit_rules))

    @property
    def signalled_by(self) -> tuple[str, ...]:
        """Events a running journey must receive: exits and everything it may wait for."""
        goal = (self.goal.event,) if self.goal else ()
        return tuple(dict.fromkeys(self.exit_on + self.listens_to + goal))

    def document(self) -> dict[str, Any]:
        """The declaration as data, in the shape of a definition minus its steps: what the
        store keeps and the router reads entry rules from."""
        doc: dict[str, Any] = {
            "key": self.key,
            "trigger": EventRule(event=self.trigger, where=self.trigger_where).model_dump(
                exclude_none=True
            ),
            "entry": self.entry.model_dump(mode="json", exclude_defaults=True),
            "exit_on": [r.model_dump(exclude_none=True) for r in self.exit_rules],
        }
        if self.goal is not None:
            doc["goal"] = self.goal.model_dump(mode="json", exclude_none=True)
        return doc


class Journey(WaitSteps, SendSteps, DataSteps):
    """Base class of code journeys. Subclasses implement :meth:`run` and use the step methods
    (waits.py, sends.py, data.py) on the run's state (run.py)."""

    async def run(self, trigger: JourneyEvent) -> None:
        """The journey itself: override in each journey."""
        raise NotImplementedError

    # --- Temporal handlers -------------------------------------------------------------------

    @workflow.signal(name=EVENT_SIGNAL)
    def on_event(self, event: JourneyEvent) -> None:
        """Receive an event; duplicates (same messageId) are dropped here (invariant 2)."""
        if not self._seen.first_time(event.message_id):
            return
        if self.trigger is not None:
            self._take_goal(event)
            if self._exit_event is None and self._is_exit(event):
                self._exit_event = event
        self._inbox.append(event)

    @workflow.signal(name=CANCEL_SIGNAL)
    def on_cancel(self, request: CancelRequest) -> None:
        """An operator stops the run: it ends at once, from any step, as ``cancelled``.

        A signal rather than Temporal's own cancellation, because it reuses the exit machinery
        whole: the reason wakes any wait (its timer is cancelled), every step's checkpoint
        raises, and the run ends through the one path that writes its final status and audit
        row ("cancelled by <name>: <reason>"), with the actor and reason in the history. A
        Temporal cancel carries neither, and lands as ``CancelledError`` in whatever the run is
        awaiting, the final bookkeeping included, which would need shielding on every path. Runs
        recorded before this signal existed never receive it, so their replay is unchanged.

        A run already ending (an exit event, a goal, an exit step) ends that way instead. A send,
        emit or webhook call in flight is abandoned (its activity cancelled), so a provider that
        keeps failing cannot hold the run, and nothing is sent once the cancel has arrived.
        """
        if self._ending is None and self._exit_event is None:
            self._ending = (RunStatus.CANCELLED, f"cancelled by {request.actor}: {request.reason}")

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
        self._entered_at = workflow.now()
        # An exit that arrived after the trigger, in the same task, counts; one before it does not.
        after_trigger = self._inbox[self._inbox.index(trigger) + 1 :]
        self._exit_event = next((e for e in after_trigger if self._is_exit(e)), None)
        entry = await self._enter(
            EntryRecord(
                run=self._run,
                trigger=trigger,
                entered_at=self._entered_at,
                rules=self.spec.entry.model_dump(mode="json", exclude_defaults=True),
                entry_key=start.entry_key,
            ),
            self.spec.entry.holdout_percent,
        )
        if not entry.entered:
            return self._not_entered(entry)
        self._holdout = entry.holdout
        entered = f"entered on {trigger.name}" + (" (holdout)" if self._holdout else "")
        self._set_step("entered", entered)
        await self._audit(
            AuditKind.ENTERED,
            entered,
            data=Entered(
                trigger.name, trigger.message_id, start.journey_version, self._holdout
            ).data(),
        )
        for event in after_trigger:
            self._take_goal(event)
        goal_watch = asyncio.create_task(self._watch_goal()) if self.spec.goal else None
        try:
            try:
                self._checkpoint()
                await self.run(trigger)
                await self._await_goal()
                outcome = self._outcome(RunStatus.COMPLETED, "completed all steps")
            except (_Exited, NotEntered):
                if self._ending is not None:
                    outcome = self._outcome(*self._ending)
                elif self._exit_event is not None:
                    outcome = self._outcome(RunStatus.EXITED, f"exited on {self._exit_event.name}")
                else:  # the store refused the entry (journeys/workflows/bookkeeping.py)
                    assert self._refusal is not None
                    outcome = self._not_entered(self._refusal)
            if goal_watch is not None:
                await self._settle_goal(goal_watch)
        except Exception as err:
            if not _fails_workflow(err):
                raise  # a bug: Temporal retries the workflow task, so a fix resumes the run
            if goal_watch is not None and not goal_watch.done():
                with contextlib.suppress(Exception):
                    await self._settle_goal(goal_watch)
            outcome = self._outcome(RunStatus.FAILED, _failure_reason(err))
            await self._record_end(outcome)
            raise
        return await self._record_end(outcome)

    async def _settle_goal(self, goal_watch: asyncio.Task[None]) -> None:
        """At the run's end: let a conversion under way be recorded, else stop watching."""
        if self._goal_event is not None:
            await goal_watch
        else:
            goal_watch.cancel()

    async def _record_end(self, outcome: JourneyOutcome) -> JourneyOutcome:
        """End the run's row and audit trail with ``outcome`` (or, for an entry the store
        refused, with that refusal): the entry, when no step has written it yet, and the rows
        queued since the last step go first."""
        assert self._run is not None
        with contextlib.suppress(NotEntered):
            await self._write_pending()
        if self._refusal is not None:
            return self._not_entered(self._refusal)
        self._set_step(outcome.status, outcome.reason)
        self._seq += 1
        await local_activity(
            ACTIVITY_RECORD_EXIT,
            ExitRecord(run=self._run, seq=self._seq, outcome=outcome, step=self._exit_step),
        )
        return outcome

    def _not_entered(self, entry: EntryResult) -> JourneyOutcome:
        """The end of a run the store did not enter: the entry row says why."""
        if entry.duplicate_of is not None:
            # A redelivered trigger after its run ended: that run was the customer's entry.
            outcome = self._outcome(
                RunStatus.DUPLICATE, f"trigger already entered {entry.duplicate_of}"
            )
        else:
            # The entry rules said no (re-entry, cooldown, cap); the store keeps the reason.
            outcome = self._outcome(RunStatus.NOT_ENTERED, entry.reason or "entry refused")
        self._set_step(outcome.status, outcome.reason)
        return outcome


def journey(
    *,
    key: str,
    trigger: str,
    exit_on: Iterable[str | EventRule] = (),
    listens_to: Iterable[str] = (),
    version: int = 1,
    inactive_for: timedelta | None = None,
    trigger_where: str | None = None,
    entry: Entry | None = None,
    goal: Goal | None = None,
) -> Callable[[type[J]], type[J]]:
    """Declare a journey class: its key, trigger event, exit events and other awaited events.

    ``trigger_where`` filters the trigger (an expression over ``event``); ``exit_on`` entries
    may be ``EventRule``s with a filter; ``entry`` sets re-entry, cooldown, entry key, holdout
    and cap; ``goal`` a conversion event with its window and revenue (docs/journeys.md).

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
        if trigger_where is not None:
            compile_expression(trigger_where)
        cls.spec = JourneySpec(
            key=key,
            trigger=trigger,
            exit_rules=_rules(exit_on),
            listens_to=tuple(listens_to),
            version=version,
            workflow_type=cls.__name__,
            description=(cls.__doc__ or "").strip().split("\n")[0],
            inactive_for=inactive_for,
            trigger_where=trigger_where,
            entry=entry or Entry(),
            goal=goal,
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


def _fails_workflow(err: Exception) -> bool:
    """Does ``err`` fail the run's workflow (as opposed to failing one workflow task, which
    Temporal retries)? A journey error and Temporal's failures do, but for a cancellation."""
    if isinstance(err, JourneyError):
        return True
    if not isinstance(err, FailureError):
        return False
    return not isinstance(err, TemporalCancelled) and not isinstance(err.cause, TemporalCancelled)


def _failure_reason(err: BaseException) -> str:
    """A failed run's reason, for its row and audit: the journey error's message, or which
    activity failed and why."""
    if isinstance(err, ActivityError) and isinstance(err.cause, FailureError):
        said = f"{err.activity_type} failed: {err.cause.message}"
    elif isinstance(err, FailureError):
        said = err.message
    else:
        said = str(err) or type(err).__name__
    return said[:_MAX_FAILURE_REASON]


__all__ = [
    "CANCEL_SIGNAL",
    "STEP_ID",
    "CancelRequest",
    "Entry",
    "EventRule",
    "Goal",
    "Journey",
    "JourneyError",
    "JourneyEvent",
    "JourneySpec",
    "SendResult",
    "Variant",
    "Window",
    "journey",
    "registered_journeys",
]
