"""The steps that wait: a duration, events (with a timeout), a moment, the customer's local window.

Workflow code: deterministic, free of I/O (journeys/workflows/run.py holds what steps share).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from temporalio import workflow

from journeys.audit import Received, Waiting
from journeys.contracts import ACTIVITY_NEXT_WINDOW, JourneyEvent, WindowRequest
from journeys.definitions.document import EventRule, Window
from journeys.vocabulary import AuditKind
from journeys.workflows.bookkeeping import local_activity
from journeys.workflows.run import JourneyError, RunState, _rules, human_duration


class WaitSteps(RunState):
    """``sleep``/``wait``, ``wait_for``, ``sleep_until``, ``sleep_until_window``."""

    async def sleep(self, duration: timedelta, *, step: str | None = None) -> None:
        """Wait for ``duration``; an exit event ends the journey at once, mid-wait. ``step``
        names the wait, so the analytics funnel counts the runs that reached it."""
        self._checkpoint()
        real = self._scaled(duration)
        until = workflow.now() + real
        description = f"waiting {human_duration(duration)}"
        self._set_step("wait", description, until)
        await self._audit(
            AuditKind.WAITING, description, data=Waiting(until.isoformat()).data(), step_id=step
        )
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
        await self._audit(
            AuditKind.WAITING, description, data=Waiting(until.isoformat()).data(), step_id=step
        )
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
                AuditKind.TIMED_OUT,
                f"no {' or '.join(names)} within {human_duration(timeout)}",
                step_id=step,
            )
        else:
            await self._audit(
                AuditKind.RECEIVED,
                f"received {found.name}",
                data=Received(found.name, found.message_id).data(),
                step_id=step,
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
        await self._audit(
            AuditKind.WAITING, description, data=Waiting(moment.isoformat()).data(), step_id=step
        )
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
