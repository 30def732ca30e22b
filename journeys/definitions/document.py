"""Declarative journeys: the document operators and marketers write, and its validation.

A definition is JSON (or YAML) with the same vocabulary as code journeys (docs/journeys.md):

    key: cart-recovery-lite
    trigger: {event: Cart Abandoned, where: "event.properties.total > 20"}
    entry: {reentry: after_exit, cooldown: 1d, key: event.properties.cart_id, holdout_percent: 10}
    exit_on: [{event: Order Completed}]
    goal: {event: Order Completed, within: 3d, revenue: event.properties.revenue}
    steps:
      - {id: pause, type: delay, duration: 15m}
      - {id: nudge, type: send, channel: sms, template: cart_recovery_sms}

Steps run in list order unless a step names where to go (``next``, a branch's ``then`` and
``else``, a wait's per-event ``next`` and ``on_timeout``, a split's paths, a jump's ``to``).
:func:`validate` refuses a document with every problem found, each naming the step and field:
an unknown step type or target, a step no path reaches, a loop that no ``jump`` bounds, a
template that does not exist, an expression that does not parse.

The steps themselves, and the field types they share with the journey, are in ``steps.py``;
this module names them all, so callers import the whole vocabulary from one place. It is
imported by workflow code (the interpreter parses the run's snapshot), so it stays pure: no I/O;
template existence is asked through a callable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from journeys.definitions.durations import to_timedelta
from journeys.definitions.expressions import ExpressionError, compile_expression
from journeys.definitions.sandbox import BudgetExceeded
from journeys.definitions.steps import (
    MAX_ITEMS,
    STEP_TYPES,
    BranchStep,
    DelayStep,
    Duration,
    EmitStep,
    EventRule,
    ExitStep,
    Expr,
    FrozenModel,
    JumpStep,
    SendStep,
    SplitStep,
    Step,
    UpdateTraitsStep,
    Variant,
    WaitStep,
    WebhookStep,
    Window,
)

__all__ = [
    "AFTER_EXIT",
    "ALWAYS",
    "INTERPRETER_WORKFLOW",
    "KEY_PATTERN",
    "MAX_EXPRESSIONS_TOTAL",
    "MAX_STEPS",
    "NEVER",
    "BranchStep",
    "DefinitionError",
    "DelayStep",
    "EmitStep",
    "Entry",
    "EventRule",
    "ExitStep",
    "Goal",
    "JourneyDocument",
    "JumpStep",
    "Problem",
    "ReEntry",
    "SendStep",
    "SplitStep",
    "Step",
    "TemplateExists",
    "UpdateTraitsStep",
    "Variant",
    "WaitStep",
    "WebhookStep",
    "Window",
    "expression_problems",
    "expressions",
    "parse",
    "successors",
    "to_timedelta",
    "validate",
]

# The one workflow type that runs every declarative journey, whatever its steps.
INTERPRETER_WORKFLOW = "DefinitionJourney"

KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"

# Re-entry policies: ``never`` (once per customer, ever), ``after_exit`` (again once the previous
# run ended, and its cooldown passed), ``always`` (every trigger starts a run, even alongside one).
ReEntry = Literal["never", "after_exit", "always"]
NEVER: ReEntry = "never"
AFTER_EXIT: ReEntry = "after_exit"
ALWAYS: ReEntry = "always"

# Far above any real journey, and low enough that validating one stays a matter of milliseconds.
MAX_STEPS = 500
# The whole document's expressions are checked by evaluating them (expression_problems), which
# this total keeps short.
MAX_EXPRESSIONS_TOTAL = 20_000


class Entry(FrozenModel):
    """Who may enter, and how often (docs/journeys.md "Entry rules")."""

    reentry: ReEntry = AFTER_EXIT
    # After a run ended, how long before the customer may enter again.
    cooldown: Duration | None = None
    # One run per value of this expression over the trigger (``event.properties.cart_id``).
    key: Expr | None = None
    # This share of entrants enters, is tracked and converts, but is sent nothing.
    holdout_percent: float = Field(default=0, ge=0, le=100)
    # At most this many entries into the journey, across its versions.
    cap: int | None = Field(default=None, ge=1)


class Goal(FrozenModel):
    """A conversion: ``event`` within ``within`` of entry; revenue read by an expression."""

    event: str = Field(min_length=1, max_length=200)
    where: Expr | None = None
    within: Duration
    revenue: Expr | None = None
    # A converted customer leaves the journey, as in Customer.io and Braze.
    exit: bool = True


class JourneyDocument(FrozenModel):
    """A whole declarative journey, as stored and as snapshotted into each run."""

    key: Annotated[str, Field(pattern=KEY_PATTERN)]
    name: str = ""
    description: str = ""
    trigger: EventRule
    entry: Entry = Field(default_factory=Entry)
    exit_on: list[EventRule] = Field(default_factory=list, max_length=MAX_ITEMS)
    goal: Goal | None = None
    category: Literal["marketing", "transactional"] = "marketing"
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    def step_index(self) -> dict[str, int]:
        return {step.id: i for i, step in enumerate(self.steps)}

    def listens_to(self) -> list[str]:
        """Events a running journey must receive besides its exits: what it waits for, its goal."""
        names = [e.event for s in self.steps if isinstance(s, WaitStep) for e in s.events]
        if self.goal is not None:
            names.append(self.goal.event)
        exits = {e.event for e in self.exit_on}
        return [n for n in dict.fromkeys(names) if n not in exits]

    def as_json(self) -> dict[str, Any]:
        """The document as stored and snapshotted into runs: what was written, normalised."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- validation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition: the step (``None`` for the journey itself), the field,
    and what is wrong in words."""

    step: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"step {self.step!r}" if self.step else "journey"
        return f"{where}, {self.field}: {self.message}"


class DefinitionError(ValueError):
    """A definition refused; ``problems`` names each step and field at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


TemplateExists = Callable[[str, str], bool]
_ADAPTER = TypeAdapter(JourneyDocument)


def parse(raw: Any) -> JourneyDocument:
    """The document, or :class:`DefinitionError` for what pydantic refuses (shape and types)."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as err:
        raise DefinitionError([_problem(raw, e) for e in err.errors()]) from None


def validate(raw: Any, template_exists: TemplateExists | None = None) -> JourneyDocument:
    """Parse ``raw`` and check what a schema cannot: targets, reachability, loops, templates."""
    document = parse(raw)
    problems = list(_graph_problems(document))
    if template_exists is not None:
        problems.extend(_template_problems(document, template_exists))
    if problems:
        raise DefinitionError(problems)
    return document


def expressions(document: JourneyDocument) -> Iterator[tuple[str | None, str, str]]:
    """Every expression of ``document``: (step id or ``None``, field, source)."""
    rules = [
        ("trigger", document.trigger),
        *((f"exit_on[{i}]", r) for i, r in enumerate(document.exit_on)),
    ]
    for name, rule in rules:
        if rule.where is not None:
            yield None, f"{name}.where", rule.where
    if document.entry.key is not None:
        yield None, "entry.key", document.entry.key
    if document.goal is not None:
        for name in ("where", "revenue"):
            if (source := getattr(document.goal, name)) is not None:
                yield None, f"goal.{name}", source
    for step in document.steps:
        if isinstance(step, DelayStep) and step.until is not None:
            yield step.id, "until", step.until
        elif isinstance(step, BranchStep):
            yield step.id, "condition", step.condition
        elif isinstance(step, WaitStep):
            for i, event in enumerate(step.events):
                if event.where is not None:
                    yield step.id, f"events[{i}].where", event.where
        elif isinstance(step, UpdateTraitsStep | EmitStep | WebhookStep):
            name = {"update_traits": "set", "emit": "properties", "webhook": "body"}[step.type]
            values: dict[str, str] = getattr(step, name)
            for key, source in values.items():
                yield step.id, f"{name}.{key}", source


def expression_problems(document: JourneyDocument) -> list[Problem]:
    """Expressions that are too long in all, or that go over the sandbox's budget when
    evaluated with nothing defined (``9 ** (9 ** 7)``, ``'a' * 300000000``): each would fail
    on every event, after costing the router or the worker its work."""
    found = list(expressions(document))
    total = sum(len(source) for _, _, source in found)
    if total > MAX_EXPRESSIONS_TOTAL:
        message = (
            f"the expressions add up to {total:,} characters (at most {MAX_EXPRESSIONS_TOTAL:,})"
        )
        return [Problem(None, "steps", message)]
    problems = []
    for step, field, source in found:
        try:
            compile_expression(source).evaluate({})
        except ExpressionError as err:
            if isinstance(err.__cause__, BudgetExceeded) or "nested too deeply" in str(err):
                problems.append(Problem(step, field, str(err)))
    return problems


def successors(document: JourneyDocument, position: int) -> list[tuple[str, str]]:
    """Where step ``position`` may go: (field, step id) pairs; the implicit next step included."""
    step = document.steps[position]
    following = document.steps[position + 1].id if position + 1 < len(document.steps) else None
    default = step.next or following
    out: list[tuple[str, str | None]] = []
    if isinstance(step, ExitStep):
        return []
    if isinstance(step, BranchStep):
        out = [("then", step.then), ("else", step.else_ or default)]
    elif isinstance(step, SplitStep):
        out = [(f"paths[{i}].next", p.next) for i, p in enumerate(step.paths)]
    elif isinstance(step, WaitStep):
        out = [(f"events[{i}].next", e.next or default) for i, e in enumerate(step.events)]
        out.append(("on_timeout", step.on_timeout or default))
    elif isinstance(step, JumpStep):
        out = [("to", step.to), ("next", default)]
    else:
        out = [("next", default)]
    return [(name, target) for name, target in out if target is not None]


def _graph_problems(document: JourneyDocument) -> Iterator[Problem]:
    index: dict[str, int] = {}
    for step in document.steps:
        if step.id in index:
            yield Problem(step.id, "id", "another step has the same id")
        index.setdefault(step.id, len(index))
    if len(index) != len(document.steps):
        return  # paths between steps are ambiguous until their ids are unique
    positions = {step.id: i for i, step in reversed(list(enumerate(document.steps)))}
    edges: dict[int, list[int]] = {}
    for i, step in enumerate(document.steps):
        edges[i] = []
        for name, target in successors(document, i):
            if target not in positions:
                yield Problem(step.id, name, f"no step has the id {target!r}")
            elif not (isinstance(step, JumpStep) and name == "to"):
                edges[i].append(positions[target])
    reached = _reachable(edges, positions, document)
    for i, step in enumerate(document.steps):
        if i not in reached:
            yield Problem(step.id, "id", "no path from the first step reaches this step")
    cycle = _find_cycle(edges)
    if cycle is not None:
        names = " -> ".join(document.steps[i].id for i in cycle)
        yield Problem(
            document.steps[cycle[0]].id,
            "next",
            f"loop without a bound ({names}): go back with a jump step and its max",
        )


def _reachable(
    edges: dict[int, list[int]], positions: dict[str, int], document: JourneyDocument
) -> set[int]:
    seen: set[int] = set()
    todo = [0]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        todo.extend(edges[i])
        step = document.steps[i]
        if isinstance(step, JumpStep) and step.to in positions:
            todo.append(positions[step.to])
    return seen


def _find_cycle(edges: dict[int, list[int]]) -> list[int] | None:
    """A cycle in ``edges`` (jump ``to`` edges left out: those are bounded), or ``None``.
    Depth-first without recursion, so a long chain of steps cannot exhaust the stack."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    for start in edges:
        if start in state:
            continue
        path = [start]
        pending = [iter(edges[start])]
        state[start] = 1
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(edges[nxt]))
    return None


def _template_problems(document: JourneyDocument, exists: TemplateExists) -> Iterable[Problem]:
    for step in document.steps:
        if not isinstance(step, SendStep):
            continue
        for i, template in enumerate(step.templates()):
            field = "template" if step.template else f"variants[{i}].template"
            if not exists(template, step.channel):
                yield Problem(
                    step.id, field, f"there is no {step.channel} template named {template!r}"
                )


def _problem(raw: Any, error: Any) -> Problem:
    """A pydantic error as a Problem: ``('steps', 2, 'send', 'template')`` becomes the step's
    id (or ``steps[2]``) and ``template``."""
    loc = list(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        position = loc[1]
        step = f"steps[{position}]"
        try:
            candidate = raw["steps"][position]["id"]
            if isinstance(candidate, str) and candidate:
                step = candidate
        except (KeyError, IndexError, TypeError):
            pass
        rest = [str(p) for p in loc[2:]]
        if rest and rest[0] in STEP_TYPES:
            rest = rest[1:]
        if error["type"] == "union_tag_invalid":
            return Problem(step, "type", f"unknown step type; use one of {', '.join(STEP_TYPES)}")
        if error["type"] == "union_tag_not_found":
            return Problem(step, "type", "missing; use one of " + ", ".join(STEP_TYPES))
        return Problem(step, _field_path(rest) or "step", message)
    return Problem(None, _field_path([str(p) for p in loc]) or "journey", message)


def _field_path(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out
