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

This module is imported by workflow code (the interpreter parses the run's snapshot), so it
stays pure: no I/O; template existence is asked through a callable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from journeys.contracts import QUIET_HOURS_PATTERN
from journeys.definitions.durations import parse_duration
from journeys.definitions.expressions import ExpressionError, check_syntax, compile_expression
from journeys.definitions.sandbox import BudgetExceeded

# The one workflow type that runs every declarative journey, whatever its steps.
INTERPRETER_WORKFLOW = "DefinitionJourney"
KIND_DEFINITION = "definition"
KIND_CODE = "code"

KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
STEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
CLOCK_PATTERN = r"([01]\d|2[0-3]):[0-5]\d"

# Re-entry policies: ``never`` (once per customer, ever), ``after_exit`` (again once the previous
# run ended, and its cooldown passed), ``always`` (every trigger starts a run, even alongside one).
ReEntry = Literal["never", "after_exit", "always"]
NEVER: ReEntry = "never"
AFTER_EXIT: ReEntry = "after_exit"
ALWAYS: ReEntry = "always"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _duration(text: str) -> str:
    parse_duration(text)
    return text


# Far above any real journey, and low enough that validating one stays a matter of milliseconds.
MAX_STEPS = 500
MAX_ITEMS = 100
# A condition or value is a line or two; the whole document's are checked by evaluating them
# (expression_problems), which this total keeps short.
MAX_EXPRESSION = 2_000
MAX_EXPRESSIONS_TOTAL = 20_000


def _expression(text: str) -> str:
    try:
        check_syntax(text)
    except ExpressionError as err:
        raise ValueError(str(err)) from err
    return text


Duration = Annotated[str, AfterValidator(_duration)]
Expr = Annotated[str, Field(max_length=MAX_EXPRESSION), AfterValidator(_expression)]
StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EventRule(_Model):
    """An event by name, optionally only when ``where`` holds for it."""

    event: str = Field(min_length=1, max_length=200)
    where: Expr | None = None


class Entry(_Model):
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


class Goal(_Model):
    """A conversion: ``event`` within ``within`` of entry; revenue read by an expression."""

    event: str = Field(min_length=1, max_length=200)
    where: Expr | None = None
    within: Duration
    revenue: Expr | None = None
    # A converted customer leaves the journey, as in Customer.io and Braze.
    exit: bool = True


class Window(_Model):
    """A local-time window in the customer's timezone: ``days`` from ``start`` to ``end``."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: Annotated[str, Field(pattern=CLOCK_PATTERN)]
    end: Annotated[str, Field(pattern=CLOCK_PATTERN)]

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must come after its start {self.start}")
        return self


class _Step(_Model):
    id: StepId
    next: StepId | None = None


class DelayStep(_Step):
    """Wait a ``duration``; or ``until`` a moment (an expression giving an ISO date or time,
    moved by ``offset`` e.g. ``-1d``); or until the customer's local ``window`` is open."""

    type: Literal["delay"]
    duration: Duration | None = None
    until: Expr | None = None
    offset: str | None = None
    window: Window | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DelayStep:
        kinds = [k for k in ("duration", "until", "window") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a delay needs exactly one of duration, until and window")
        if self.offset is not None:
            if self.until is None:
                raise ValueError("offset applies only to a delay with until")
            parse_duration(self.offset.removeprefix("-"))
        return self


class Variant(_Model):
    """An A/B variant of a send: its template and its share of the run's customers."""

    name: str = Field(min_length=1, max_length=50)
    template: str = Field(min_length=1, max_length=200)
    percent: float = Field(gt=0, le=100)


class SendStep(_Step):
    type: Literal["send"]
    channel: str = Field(min_length=1, max_length=50)
    template: str | None = Field(default=None, min_length=1, max_length=200)
    variants: list[Variant] | None = Field(default=None, min_length=2, max_length=MAX_ITEMS)
    # Extra template variables, and the compliance overrides of docs/delivery.md.
    data: dict[str, Any] = Field(default_factory=dict)
    category: Literal["marketing", "transactional"] | None = None
    group: str | None = None
    quiet_hours: Annotated[str, Field(pattern=f"^({QUIET_HOURS_PATTERN})?$")] | bool | None = None

    @model_validator(mode="after")
    def _template_or_variants(self) -> SendStep:
        if (self.template is None) == (self.variants is None):
            raise ValueError("a send needs a template, or variants, but not both")
        if self.variants is not None:
            _check_percentages("variants", [v.percent for v in self.variants])
            names = [v.name for v in self.variants]
            if len(set(names)) != len(names):
                raise ValueError(f"variant names repeat: {names}")
        return self

    def templates(self) -> list[str]:
        return [self.template] if self.template else [v.template for v in self.variants or []]


class WaitEvent(EventRule):
    """One event a wait accepts; ``next`` is where the run goes when it is the one."""

    next: StepId | None = None


class WaitStep(_Step):
    """Wait for any of ``events`` up to ``timeout``. ``since: entry`` also counts matching
    events received since the run entered, before this step began."""

    type: Literal["wait"]
    events: list[WaitEvent] = Field(min_length=1, max_length=MAX_ITEMS)
    timeout: Duration
    on_timeout: StepId | None = None
    since: Literal["step", "entry"] = "step"


class BranchStep(_Step):
    type: Literal["branch"]
    condition: Expr
    then: StepId
    else_: StepId | None = Field(default=None, alias="else")


class SplitPath(_Model):
    name: str = Field(min_length=1, max_length=50)
    percent: float = Field(gt=0, le=100)
    next: StepId


class SplitStep(_Step):
    """Send each run down one path, at random by ``percent`` (fixed for the run, audited)."""

    type: Literal["split"]
    paths: list[SplitPath] = Field(min_length=2, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _sum(self) -> SplitStep:
        _check_percentages("paths", [p.percent for p in self.paths])
        return self


class UpdateTraitsStep(_Step):
    """Set traits on the customer's profile; each value is an expression (``'"gold"'``)."""

    type: Literal["update_traits"]
    set: dict[str, Expr] = Field(min_length=1, max_length=MAX_ITEMS)


class EmitStep(_Step):
    """Publish an event for this customer back to NATS: journeys chaining journeys."""

    type: Literal["emit"]
    event: str = Field(min_length=1, max_length=200)
    properties: dict[str, Expr] = Field(default_factory=dict, max_length=MAX_ITEMS)


class WebhookStep(_Step):
    """POST a JSON body (each value an expression) to ``url``, signed like the webhook channel."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    body: dict[str, Expr] = Field(default_factory=dict, max_length=MAX_ITEMS)


class JumpStep(_Step):
    """Go back to ``to`` at most ``max`` times per run; after that, go on."""

    type: Literal["jump"]
    to: StepId
    max: int = Field(ge=1, le=100)


class ExitStep(_Step):
    type: Literal["exit"]
    reason: str = Field(default="exit step", max_length=200)


Step = Annotated[
    DelayStep
    | SendStep
    | WaitStep
    | BranchStep
    | SplitStep
    | UpdateTraitsStep
    | EmitStep
    | WebhookStep
    | JumpStep
    | ExitStep,
    Field(discriminator="type"),
]
STEP_TYPES = (
    "delay",
    "send",
    "wait",
    "branch",
    "split",
    "update_traits",
    "emit",
    "webhook",
    "jump",
    "exit",
)


class JourneyDocument(_Model):
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


def _check_percentages(field: str, values: list[float]) -> None:
    if abs(sum(values) - 100) > 1e-6:
        raise ValueError(f"{field} percentages add up to {sum(values):g}, not 100")


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


def to_timedelta(text: str) -> timedelta:
    """A validated duration field as a timedelta; an offset may start with ``-``."""
    if text.startswith("-"):
        return -parse_duration(text[1:])
    return parse_duration(text)
