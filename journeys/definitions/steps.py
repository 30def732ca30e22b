"""The steps a journey document is made of, and the field types they share with it.

Each step is a frozen pydantic model told apart by its ``type``; together they are the ``Step``
union of :class:`journeys.definitions.document.JourneyDocument`. A field holding a duration or
an expression is checked as it is read (it parses), so a document that loads has no malformed
one. What a single model cannot see (targets, reachability, loops, templates) is checked by
``document.validate``.

Imported by workflow code through the document: pure, no I/O.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from journeys.contracts import QUIET_HOURS_PATTERN
from journeys.definitions.durations import parse_duration
from journeys.definitions.expressions import ExpressionError, check_syntax

STEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
CLOCK_PATTERN = r"([01]\d|2[0-3]):[0-5]\d"

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Far above any real list in a journey, and low enough that validating one stays quick.
MAX_ITEMS = 100
# A condition or value is a line or two (the document bounds their total, MAX_EXPRESSIONS_TOTAL).
MAX_EXPRESSION = 2_000


def _duration(text: str) -> str:
    parse_duration(text)
    return text


def _expression(text: str) -> str:
    try:
        check_syntax(text)
    except ExpressionError as err:
        raise ValueError(str(err)) from err
    return text


Duration = Annotated[str, AfterValidator(_duration)]
Expr = Annotated[str, Field(max_length=MAX_EXPRESSION), AfterValidator(_expression)]
StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN)]


class FrozenModel(BaseModel):
    """A part of a journey document: unknown fields refused, never changed once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EventRule(FrozenModel):
    """An event by name, optionally only when ``where`` holds for it."""

    event: str = Field(min_length=1, max_length=200)
    where: Expr | None = None


class Window(FrozenModel):
    """A local-time window in the customer's timezone: ``days`` from ``start`` to ``end``."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: Annotated[str, Field(pattern=CLOCK_PATTERN)]
    end: Annotated[str, Field(pattern=CLOCK_PATTERN)]

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must come after its start {self.start}")
        return self


class _Step(FrozenModel):
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


class Variant(FrozenModel):
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


class SplitPath(FrozenModel):
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


def _check_percentages(field: str, values: list[float]) -> None:
    if abs(sum(values) - 100) > 1e-6:
        raise ValueError(f"{field} percentages add up to {sum(values):g}, not 100")
