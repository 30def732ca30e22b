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
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.exceptions import CancelledError as TemporalCancelled

from journeys.contracts import (
    ACTIVITY_CHECK_SEND,
    ACTIVITY_CUSTOMER_TRAITS,
    ACTIVITY_EMIT,
    ACTIVITY_NEXT_WINDOW,
    ACTIVITY_RECORD_CONVERSION,
    ACTIVITY_RECORD_EXIT,
    ACTIVITY_SEND,
    ACTIVITY_UPDATE_TRAITS,
    ACTIVITY_WEBHOOK,
    CANCEL_SIGNAL,
    CATEGORIES,
    CURRENT_STEP_QUERY,
    DEFER,
    EVENT_SIGNAL,
    MARKETING,
    QUIET_HOURS_PATTERN,
    RECEIVED_EVENTS_QUERY,
    SKIP,
    STEP_ID,
    SUPPRESSED_EVENT,
    WEBHOOK_REFUSED,
    CancelRequest,
    ComplianceCheck,
    ComplianceDecision,
    ConversionRecord,
    EmitRequest,
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
    TraitsUpdate,
    WebhookCall,
    WebhookResult,
    WindowRequest,
)
from journeys.definitions.document import Entry, EventRule, Goal, Variant, Window
from journeys.definitions.durations import parse_duration
from journeys.definitions.expressions import compile_expression, scope
from journeys.workflows.bookkeeping import (
    RETRY,
    Bookkeeping,
    NotEntered,
    local_activity,
)
from journeys.workflows.changes import COMPLIANCE_CHECK, takes
from journeys.workflows.seen_ids import SeenIds

# The status a run an operator stopped ends with (the signal: contracts.CANCEL_SIGNAL).
CANCELLED = "cancelled"
# The status of a run whose workflow failed (a journey error, an activity failed for good).
FAILED = "failed"
# The longest failure reason a run's row and audit keep.
_MAX_FAILURE_REASON = 1000


_SEND_TIMEOUT = timedelta(minutes=2)
_SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
_CALL_TIMEOUT = timedelta(seconds=30)

J = TypeVar("J", bound="Journey")
T = TypeVar("T")


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


class JourneyError(Exception):
    """A journey's own code asked for something its declaration does not allow."""


class _Exited(BaseException):
    """Unwinds a journey's ``run`` when an exit event arrived; never visible to journey code."""


class Journey(Bookkeeping):
    """Base class of code journeys. Subclasses implement :meth:`run` and use the step methods."""

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
        self._ending: tuple[str, str] | None = None
        self._entered_at: datetime | None = None
        self._holdout = False
        self._goal_event: JourneyEvent | None = None
        self._converted = False

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
            self._ending = (CANCELLED, f"cancelled by {request.actor}: {request.reason}")

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
            "entered",
            entered,
            data=_event_ref(trigger)
            | ({"version": start.journey_version, "holdout": True} if self._holdout else {}),
        )
        for event in after_trigger:
            self._take_goal(event)
        goal_watch = asyncio.create_task(self._watch_goal()) if self.spec.goal else None
        try:
            try:
                self._checkpoint()
                await self.run(trigger)
                await self._await_goal()
                outcome = self._outcome("completed", "completed all steps")
            except (_Exited, NotEntered):
                if self._ending is not None:
                    outcome = self._outcome(*self._ending)
                elif self._exit_event is not None:
                    outcome = self._outcome("exited", f"exited on {self._exit_event.name}")
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
            outcome = self._outcome(FAILED, _failure_reason(err))
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
            outcome = self._outcome("duplicate", f"trigger already entered {entry.duplicate_of}")
        else:
            # The entry rules said no (re-entry, cooldown, cap); the store keeps the reason.
            outcome = self._outcome("not_entered", entry.reason or "entry refused")
        self._set_step(outcome.status, outcome.reason)
        return outcome

    # --- steps available to journey code -----------------------------------------------------

    async def sleep(self, duration: timedelta, *, step: str | None = None) -> None:
        """Wait for ``duration``; an exit event ends the journey at once, mid-wait. ``step``
        names the wait, so the analytics funnel counts the runs that reached it."""
        self._checkpoint()
        real = self._scaled(duration)
        until = workflow.now() + real
        description = f"waiting {human_duration(duration)}"
        self._set_step("wait", description, until)
        await self._audit("waiting", description, data={"until": until.isoformat()}, step_id=step)
        await self._wait_unless_exited(real, description)

    wait = sleep

    async def wait_for(
        self,
        events: str | EventRule | Iterable[str | EventRule],
        timeout: timedelta,
        *,
        where: Callable[[JourneyEvent], bool] | None = None,
        since_entry: bool = False,
        step: str | None = None,
    ) -> JourneyEvent | None:
        """Wait until one of ``events`` arrives (returned) or ``timeout`` passes (``None``).

        Each event may carry a filter: ``EventRule(event="Order Completed", where=
        "event.properties.cart_id == trigger.properties.cart_id")``; ``where`` (a Python
        predicate) applies to all. With ``since_entry``, a matching event that arrived after the
        run entered but before this wait began counts at once. ``step`` names the wait for the
        analytics funnel.

        Only events declared in ``listens_to`` (or ``exit_on``) reach a running journey, so
        waiting for any other name is refused rather than silently never matching.
        """
        self._checkpoint()
        rules = _rules(events)
        names = tuple(dict.fromkeys(rule.event for rule in rules))
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
        await self._audit("waiting", description, data={"until": until.isoformat()}, step_id=step)
        assert self.trigger is not None
        first = self._inbox.index(self.trigger) + 1 if since_entry else len(self._inbox)

        await self._write_pending()

        def match() -> JourneyEvent | None:
            for event in self._inbox[first:]:
                for rule in rules:
                    if (
                        rule.event == event.name
                        and self._matches(rule, event)
                        and (where is None or where(event))
                    ):
                        return event
            return None

        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._stopping() or match() is not None,
                timeout=real,
                timeout_summary=description,
            )
        self._checkpoint()
        found = match()
        if found is None:
            await self._audit(
                "timed_out",
                f"no {' or '.join(names)} within {human_duration(timeout)}",
                step_id=step,
            )
        else:
            await self._audit(
                "received", f"received {found.name}", data=_event_ref(found), step_id=step
            )
        return found

    async def sleep_until(
        self, moment: datetime, *, label: str | None = None, step: str | None = None
    ) -> None:
        """Wait until ``moment`` (at once if it has passed); an exit event ends the run mid-wait.

        For a date taken from a property: ``sleep_until(datetime.fromisoformat(
        trigger.properties["appointment_at"]) - timedelta(days=1))``. ``step`` names the wait
        for the analytics funnel.
        """
        self._checkpoint()
        description = label or f"waiting until {moment.isoformat()}"
        self._set_step("wait", description, moment)
        await self._audit("waiting", description, data={"until": moment.isoformat()}, step_id=step)
        remaining = self._scaled(moment - workflow.now())
        if remaining > timedelta(0):
            await self._wait_unless_exited(remaining, description)
        self._checkpoint()

    async def sleep_until_window(self, window: Window, *, step: str | None = None) -> None:
        """Wait until the customer's local window is open (e.g. weekdays 09:00-18:00, in their
        ``timezone`` trait); at once if it is open now. ``step`` names the wait."""
        self._checkpoint()
        assert self._run is not None
        await self._write_pending()
        opens: datetime = await local_activity(
            ACTIVITY_NEXT_WINDOW,
            WindowRequest(
                customer_id=self._run.customer_id,
                days=list(window.days),
                start=window.start,
                end=window.end,
                after=workflow.now(),
            ),
            result_type=datetime,
        )
        days = ",".join(window.days)
        await self.sleep_until(
            opens, label=f"waiting for {days} {window.start}-{window.end}", step=step
        )

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
        variants: Iterable[Variant] | None = None,
    ) -> SendResult:
        """Render ``template`` and deliver it on ``channel``, at most once per run and step.

        The compliance check comes first (docs/delivery.md "Compliance"): ``category``
        (``marketing``, the journey's default, or ``transactional``) and ``group`` (a
        subscription group the customer may have left) say which rules apply. A message the
        rules refuse is ``skipped`` with the reason; one inside quiet hours waits for their end
        (an exit event ends the run meanwhile) and is checked again. ``quiet_hours`` overrides
        the configured window for this step: ``"22:00-07:00"``, or ``False`` for none.

        ``variants`` makes it an A/B test: each run gets one variant's template, at random by
        the variants' percentages (fixed for the run, audited); ``template`` then names the step.
        A holdout run sends nothing: the step is audited as skipped.
        """
        self._checkpoint()
        assert self._run is not None and self.trigger is not None
        step_id = self._step_id(step or f"{channel}:{template}")
        if variants is not None:
            options = list(variants)
            chosen = await self._pick(step_id, {v.name: v.percent for v in options}, "variant")
            template = next(v.template for v in options if v.name == chosen)
        if self._holdout:
            reason = f"holdout: {template} by {channel} not sent"
            await self._audit(
                "skipped", reason, data={"step": step_id, "code": "holdout"}, step_id=step_id
            )
            self._checkpoint()
            return SendResult("skipped", reason)
        kind = category or self.category
        if kind not in CATEGORIES:
            raise JourneyError(f"step {step_id!r}: category {kind!r} is not one of {CATEGORIES}")
        window = _quiet_hours_arg(step_id, quiet_hours)
        # Runs started before the compliance check replay their sends without it.
        assert self._start is not None
        checked = takes(self._start.version, COMPLIANCE_CHECK)
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
            await self._write_pending()
            # Local, like the other bookkeeping: it only reads and writes the store.
            decision: ComplianceDecision = await local_activity(
                ACTIVITY_CHECK_SEND,
                ComplianceCheck(request=request, quiet_hours=window, deferred_until=deferred_until),
                result_type=ComplianceDecision,
            )
            if decision.action == SKIP:
                self._checkpoint()
                return SendResult("skipped", decision.reason, delivery_id=decision.delivery_id)
            if decision.action != DEFER:
                break
            assert decision.until is not None
            deferred_until = decision.until
            await self._wait_until(deferred_until, f"deferring {template} by {channel}")
        result: SendResult = await self._unless_cancelled(
            lambda: workflow.start_activity(
                ACTIVITY_SEND,
                request,
                result_type=SendResult,
                start_to_close_timeout=_SEND_TIMEOUT,
                # The activity heartbeats from its first line to its last: a dead worker's
                # attempt is given up in seconds, and the retry finds the delivery row `sending`.
                heartbeat_timeout=_SEND_HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
            )
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
        await self._write_pending()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                self._stopping, timeout=timeout, timeout_summary=description
            )
        self._checkpoint()

    async def branch(self, name: str, condition: str | bool) -> bool:
        """Decide, and audit the decision: ``condition`` is a bool computed by the journey, or an
        expression (journeys/definitions/expressions.py) over the customer's current traits, the
        trigger and the events received since entry."""
        self._checkpoint()
        if isinstance(condition, bool):
            taken, why = condition, f"{name}: {'yes' if condition else 'no'}"
        else:
            names = await self._expression_scope()
            taken = compile_expression(condition).holds(names)
            why = f"{name}: {condition} is {'true' if taken else 'false'}"
        await self._audit("branched", why, data={"branch": name, "taken": taken}, step_id=name)
        return taken

    async def split(self, name: str, paths: Mapping[str, float]) -> str:
        """One of ``paths`` at random by percentage (they add up to 100), fixed for the run
        (Temporal's seeded workflow random) and audited."""
        self._checkpoint()
        return await self._pick(name, paths, "split")

    async def update_traits(self, traits: Mapping[str, Any]) -> None:
        """Merge ``traits`` into the customer's profile (audited); later sends render them."""
        self._checkpoint()
        assert self._run is not None
        await self._write_pending()
        self._seq += 1
        await local_activity(
            ACTIVITY_UPDATE_TRAITS,
            TraitsUpdate(
                run=self._run,
                seq=self._seq,
                traits=dict(traits),
                occurred_at=workflow.now(),
                step=self._current_step_id,
            ),
        )
        self._checkpoint()

    async def emit(self, event: str, properties: Mapping[str, Any] | None = None) -> None:
        """Publish ``event`` for this customer to NATS, where it may enter or signal other
        journeys. Its messageId is fixed by run and step, so a retry publishes it once."""
        self._checkpoint()
        assert self._run is not None
        step_id = self._step_id(f"emit:{event}")
        message_id = f"{self._run.run_id}:{step_id}"
        request = EmitRequest(
            run=self._run, message_id=message_id, event=event, properties=dict(properties or {})
        )
        await self._unless_cancelled(
            lambda: workflow.start_activity(
                ACTIVITY_EMIT, request, start_to_close_timeout=_CALL_TIMEOUT, retry_policy=RETRY
            )
        )
        await self._audit(
            "emitted", f"emitted {event}", data={"message_id": message_id}, step_id=step_id
        )

    async def call_webhook(self, url: str, body: Mapping[str, Any]) -> WebhookResult | None:
        """POST ``body`` as JSON to ``url``, signed like the webhook channel; the receiver's
        answer, whatever its status (5xx and 429 are retried first).

        ``None`` when nothing was called: a holdout run (audited as ``skipped``), or a target
        the channel refuses, an invalid URL or a private address (audited as ``webhook_failed``
        with the reason). Either way the journey goes on to its next step.
        """
        self._checkpoint()
        assert self._run is not None
        step_id = self._step_id(f"webhook:{url}")
        if self._holdout:
            await self._audit("skipped", f"holdout: webhook {url} not called", step_id=step_id)
            return None
        call = WebhookCall(run=self._run, step=step_id, url=url, body=dict(body))
        try:
            result: WebhookResult = await self._unless_cancelled(
                lambda: workflow.start_activity(
                    ACTIVITY_WEBHOOK,
                    call,
                    result_type=WebhookResult,
                    start_to_close_timeout=_CALL_TIMEOUT,
                    retry_policy=RETRY,
                )
            )
        except ActivityError as err:
            refusal = _webhook_refusal(err)
            if refusal is None:
                raise
            # Like a message a provider refuses for good: recorded, and the journey goes on.
            await self._audit("webhook_failed", refusal, data={"step": step_id}, step_id=step_id)
            self._checkpoint()
            return None
        await self._audit(
            "webhook_called",
            f"POST {url}: {result.status_code}",
            data={"step": step_id},
            step_id=step_id,
        )
        self._checkpoint()
        return result

    def exit(self, reason: str = "exit step") -> None:
        """Leave the journey now: the run ends as ``exited`` with ``reason``."""
        self._checkpoint()
        self._ending = ("exited", reason)
        self._exit_step = self._current_step_id
        raise _Exited()

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
            self._ending = ("converted", f"converted on {event.name}")

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

    async def _expression_scope(self) -> dict[str, Any]:
        """Names for a branch: the customer's traits as they are now (read by a local activity,
        so the value is recorded and replays the same), the trigger, events since entry."""
        assert self._run is not None and self.trigger is not None
        # The entry merges the trigger's traits: write it before reading them.
        await self._write_pending()
        traits: dict[str, Any] = await local_activity(
            ACTIVITY_CUSTOMER_TRAITS,
            self._run.customer_id,
            result_type=dict,
        )
        received = self._inbox[self._inbox.index(self.trigger) + 1 :]
        return scope(
            now=workflow.now(),
            trigger=self.trigger,
            customer=traits | {"id": self._run.customer_id},
            received=received,
        )

    async def _pick(self, name: str, weights: Mapping[str, float], kind: str) -> str:
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
            data={kind: name, "chosen": chosen},
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
        return self._ending is not None and self._ending[0] == CANCELLED

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

    def _outcome(self, status: str, reason: str) -> JourneyOutcome:
        return JourneyOutcome(
            status=status, reason=reason, ended_at=workflow.now(), messages_sent=self._sent
        )


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


def _webhook_refusal(err: ActivityError) -> str | None:
    """Why the webhook activity refused its target, when that is what ``err`` says."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == WEBHOOK_REFUSED:
        return cause.message
    return None


def _rules(events: str | EventRule | Iterable[str | EventRule]) -> tuple[EventRule, ...]:
    if isinstance(events, str | EventRule):
        events = [events]
    return tuple(e if isinstance(e, EventRule) else EventRule(event=e) for e in events)


def _event_ref(event: JourneyEvent) -> dict[str, Any]:
    return {"event": event.name, "message_id": event.message_id}


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
