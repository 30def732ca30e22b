"""The send step: the compliance check, quiet-hours deferrals, A/B variants, holdouts, delivery.

Workflow code: deterministic, free of I/O (journeys/workflows/run.py holds what steps share).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from journeys.audit import HOLDOUT, Skipped
from journeys.contracts import (
    ACTIVITY_CHECK_SEND,
    ACTIVITY_SEND,
    CATEGORIES,
    DEFER,
    QUIET_HOURS_PATTERN,
    SKIP,
    ComplianceCheck,
    ComplianceDecision,
    SendRequest,
    SendResult,
)
from journeys.definitions.document import Variant
from journeys.vocabulary import AuditKind, DeliveryStatus
from journeys.workflows.bookkeeping import RETRY, local_activity
from journeys.workflows.changes import COMPLIANCE_CHECK, takes
from journeys.workflows.run import JourneyError, RunState

_SEND_TIMEOUT = timedelta(minutes=2)
_SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=10)


class SendSteps(RunState):
    """``send``."""

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
            chosen = await self._pick(
                step_id, {v.name: v.percent for v in options}, AuditKind.VARIANT
            )
            template = next(v.template for v in options if v.name == chosen)
        if self._holdout:
            reason = f"holdout: {template} by {channel} not sent"
            await self._audit(
                AuditKind.SKIPPED, reason, data=Skipped(step_id, HOLDOUT).data(), step_id=step_id
            )
            self._checkpoint()
            return SendResult(DeliveryStatus.SKIPPED, reason)
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
                return SendResult(
                    DeliveryStatus.SKIPPED, decision.reason, delivery_id=decision.delivery_id
                )
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
        if result.status == DeliveryStatus.SENT:
            self._sent += 1
        # A message already handed to the provider stands; an exit that came meanwhile still
        # stops every later step.
        self._checkpoint()
        return result


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
