"""The one workflow that runs every declarative journey: it walks the run's snapshot of its
definition with the same step methods code journeys call.

The definition arrives in the run's input (``JourneyStart.definition``, put there by the router
from the published version), so a run finishes on the version it started with whatever is
published meanwhile (invariant 5), and its replay never depends on the store.

Every audit row a step writes through the DSL names the step's id (``data["step_id"]``), so the
analytics funnel counts each step's runs. Two kinds of row are written by activities whose
input has no room for it: a trait update's (``traits_updated``) and the run's end after an exit
step; journeys/insight/analytics.py recognises those by their reason instead. Tagging changes only
activity inputs, never which commands a step issues, so recorded runs replay unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from temporalio import workflow

from journeys.audit import Jumped, Skipped
from journeys.contracts import JourneyEvent, JourneyOutcome, JourneyStart
from journeys.definitions.document import (
    INTERPRETER_WORKFLOW,
    BranchStep,
    DefinitionError,
    DelayStep,
    EmitStep,
    EventRule,
    ExitStep,
    JourneyDocument,
    JumpStep,
    SendStep,
    SplitStep,
    UpdateTraitsStep,
    WaitStep,
    WebhookStep,
    parse,
    successors,
    to_timedelta,
)
from journeys.definitions.expressions import ExpressionError, compile_expression
from journeys.vocabulary import AuditKind
from journeys.workflows.dsl import Journey, JourneyError, JourneySpec


def spec_of(document: JourneyDocument, version: int) -> JourneySpec:
    """A definition's declaration, as the DSL's machinery (exits, goal, routing) reads it."""
    return JourneySpec(
        key=document.key,
        trigger=document.trigger.event,
        exit_rules=tuple(document.exit_on),
        listens_to=tuple(document.listens_to()),
        version=version,
        workflow_type=INTERPRETER_WORKFLOW,
        description=document.description or document.name,
        trigger_where=document.trigger.where,
        entry=document.entry,
        goal=document.goal,
    )


@workflow.defn(name=INTERPRETER_WORKFLOW, failure_exception_types=[JourneyError])
class DefinitionJourney(Journey):
    """Runs the steps of ``JourneyStart.definition`` in order, following their branches."""

    document: JourneyDocument

    @workflow.run
    async def execute(self, start: JourneyStart) -> JourneyOutcome:
        if start.definition is None:
            raise JourneyError(f"{start.journey_key} v{start.journey_version}: no definition")
        try:
            self.document = parse(start.definition)
        except DefinitionError as err:  # published versions were validated; say so if not
            raise JourneyError(f"{start.journey_key} v{start.journey_version}: {err}") from None
        self.spec = spec_of(self.document, start.journey_version)
        self.category = self.document.category
        return await self._execute(start)

    async def run(self, trigger: JourneyEvent) -> None:
        positions = {step.id: i for i, step in reversed(list(enumerate(self.document.steps)))}
        jumps: dict[str, int] = {}
        position: int | None = 0
        try:
            while position is not None:
                self._current_step_id = self.document.steps[position].id
                chosen = await self._perform(position, jumps)
                position = None if chosen is None else positions[chosen]
        except Exception:
            # A step that fails the run names the run's end, as an exit step does.
            self._exit_step = self._current_step_id
            raise
        finally:
            self._current_step_id = None

    async def _perform(self, position: int, jumps: dict[str, int]) -> str | None:
        """Run the step at ``position``; the id of the step to run next, or ``None`` at the end."""
        step = self.document.steps[position]
        routes = dict(successors(self.document, position))
        if isinstance(step, DelayStep):
            await self._delay(step)
        elif isinstance(step, SendStep):
            await self.send(
                step.channel,
                step.template or step.id,
                step=step.id,
                data=step.data,
                category=step.category,
                group=step.group,
                quiet_hours=step.quiet_hours,
                variants=step.variants,
            )
        elif isinstance(step, WaitStep):
            return await self._wait(step, routes)
        elif isinstance(step, BranchStep):
            return (
                routes["then"] if await self.branch(step.id, step.condition) else routes.get("else")
            )
        elif isinstance(step, SplitStep):
            chosen = await self.split(step.id, {path.name: path.percent for path in step.paths})
            return next(path.next for path in step.paths if path.name == chosen)
        elif isinstance(step, UpdateTraitsStep):
            await self.update_traits(await self._values(step.id, step.set))
        elif isinstance(step, EmitStep):
            await self.emit(step.event, await self._values(step.id, step.properties))
        elif isinstance(step, WebhookStep):
            await self.call_webhook(step.url, await self._values(step.id, step.body))
        elif isinstance(step, JumpStep):
            done = jumps.get(step.id, 0)
            if done < step.max:
                jumps[step.id] = done + 1
                await self._audit(
                    AuditKind.JUMPED,
                    f"{step.id}: back to {step.to} ({done + 1} of {step.max})",
                    data=Jumped(step.to, done + 1, step.max).data(),
                )
                return step.to
        elif isinstance(step, ExitStep):
            self.exit(step.reason)
        return routes.get("next")

    async def _delay(self, step: DelayStep) -> None:
        if step.duration is not None:
            await self.sleep(to_timedelta(step.duration))
        elif step.window is not None:
            await self.sleep_until_window(step.window)
        else:
            assert step.until is not None
            names = await self._expression_scope()
            try:
                moment = _moment(compile_expression(step.until).evaluate(names))
            except (ExpressionError, ValueError) as err:
                await self._audit(
                    AuditKind.SKIPPED,
                    f"{step.id}: no time to wait until ({err})",
                    data=Skipped().data(),
                )
                return
            if step.offset is not None:
                moment += to_timedelta(step.offset)
            await self.sleep_until(moment)

    async def _wait(self, step: WaitStep, routes: dict[str, str]) -> str | None:
        rules = [EventRule(event=e.event, where=e.where) for e in step.events]
        found = await self.wait_for(
            rules, to_timedelta(step.timeout), since_entry=step.since == "entry"
        )
        if found is None:
            return routes.get("on_timeout")
        for i, rule in enumerate(rules):
            if rule.event == found.name and self._matches(rule, found):
                return routes.get(f"events[{i}].next")
        return routes.get("on_timeout")  # unreachable: the wait returned a match

    async def _values(self, step_id: str, expressions: dict[str, str]) -> dict[str, Any]:
        """Evaluate a step's expressions; one that fails is a journey error naming the step."""
        if not expressions:
            return {}
        names = await self._expression_scope()
        values: dict[str, Any] = {}
        for name, source in expressions.items():
            try:
                values[name] = compile_expression(source).evaluate(names)
            except ExpressionError as err:
                raise JourneyError(f"step {step_id!r}, {name}: {err}") from None
        return values


def _moment(value: Any) -> datetime:
    """A wait-until value as an aware instant: ISO date-time (UTC if naive) or date (midnight)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(value) == 10:
        moment = datetime.combine(datetime.fromisoformat(value).date(), time())
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        raise ValueError(f"{value!r} is not a date or time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
