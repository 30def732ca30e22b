"""The steps that decide and act on data: branches, splits, trait updates, emitted events,
webhook calls, and the exit step.

Workflow code: deterministic, free of I/O (journeys/workflows/run.py holds what steps share).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from journeys.audit import Branched, Emitted, Skipped, Webhook
from journeys.contracts import (
    ACTIVITY_CUSTOMER_TRAITS,
    ACTIVITY_EMIT,
    ACTIVITY_UPDATE_TRAITS,
    ACTIVITY_WEBHOOK,
    WEBHOOK_REFUSED,
    EmitRequest,
    TraitsUpdate,
    WebhookCall,
    WebhookResult,
)
from journeys.definitions.expressions import compile_expression, scope
from journeys.vocabulary import AuditKind, RunStatus
from journeys.workflows.bookkeeping import RETRY, local_activity
from journeys.workflows.run import RunState, _Exited

_CALL_TIMEOUT = timedelta(seconds=30)


class DataSteps(RunState):
    """``branch``, ``split``, ``update_traits``, ``emit``, ``call_webhook``, ``exit``."""

    async def branch(self, name: str, condition: str | bool) -> bool:
        """Decide, and audit the decision: ``condition`` is a bool computed by the journey, or an
        expression (journeys/definitions/expressions.py) over the customer's current traits, the
        trigger and the events received since entry."""
        self._checkpoint()
        if isinstance(condition, bool):
            taken, why = condition, f"{name}: {'yes' if condition else 'no'}"
            decided = Branched(name, taken, condition=None)
        else:
            names = await self._expression_scope()
            taken = compile_expression(condition).holds(names)
            why = f"{name}: {condition} is {'true' if taken else 'false'}"
            decided = Branched(name, taken, condition=condition)
        await self._audit(AuditKind.BRANCHED, why, data=decided.data(), step_id=name)
        return taken

    async def split(self, name: str, paths: Mapping[str, float]) -> str:
        """One of ``paths`` at random by percentage (they add up to 100), fixed for the run
        (Temporal's seeded workflow random) and audited."""
        self._checkpoint()
        return await self._pick(name, paths, AuditKind.SPLIT)

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
            AuditKind.EMITTED,
            f"emitted {event}",
            data=Emitted(event, message_id).data(),
            step_id=step_id,
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
            await self._audit(
                AuditKind.SKIPPED,
                f"holdout: webhook {url} not called",
                data=Skipped().data(),
                step_id=step_id,
            )
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
            await self._audit(
                AuditKind.WEBHOOK_FAILED, refusal, data=Webhook(step_id).data(), step_id=step_id
            )
            self._checkpoint()
            return None
        await self._audit(
            AuditKind.WEBHOOK_CALLED,
            f"POST {url}: {result.status_code}",
            data=Webhook(step_id).data(),
            step_id=step_id,
        )
        self._checkpoint()
        return result

    def exit(self, reason: str = "exit step") -> None:
        """Leave the journey now: the run ends as ``exited`` with ``reason``."""
        self._checkpoint()
        self._ending = (RunStatus.EXITED, reason)
        self._exit_step = self._current_step_id
        raise _Exited()

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


def _webhook_refusal(err: ActivityError) -> str | None:
    """Why the webhook activity refused its target, when that is what ``err`` says."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == WEBHOOK_REFUSED:
        return cause.message
    return None
