"""Conditions and values in journeys: Jinja2 expressions in an immutable sandbox, never ``eval``.

One language for every place a journey decides something: a trigger or exit filter
(``event.properties.total > 50``), a branch (``customer.plan == "gold"``), a wait's match
(``event.properties.cart_id == trigger.properties.cart_id``), a date to wait until, a trait to
set. Marketers already write Jinja2 in templates; the same syntax serves here.

Evaluation is pure and deterministic, so workflow code may call it (the interpreter and exit
filters do). Names an expression sees (:func:`scope`): ``event`` (the event being tested),
``trigger`` (the event that entered the run), ``customer`` (the profile's traits, plus ``id``),
``events`` (the latest event of each name the run received since it entered) and ``now``.
A missing key reads as undefined, which is false in a condition: ``customer.vip`` on a customer
without that trait is false rather than an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.parser import Parser

from journeys.contracts import JourneyEvent
from journeys.definitions.sandbox import BoundedSandbox, budget

# Templates' sandbox and budget (journeys/definitions/sandbox.py): sizes and counts, never the
# clock, so an evaluation replays identically in workflow code. Immutable: an expression changes
# nothing.
_ENV = BoundedSandbox(immutable=True, undefined=jinja2.ChainableUndefined)


class ExpressionError(Exception):
    """An expression that does not parse, or fails when evaluated; the message says why."""


@dataclass(frozen=True)
class Expression:
    """A compiled expression, kept with its source for error messages and the audit trail."""

    source: str

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        """The expression's value; undefined becomes ``None``. Raises :class:`ExpressionError`."""
        try:
            with budget():
                value = _compiled(self.source)(**names)
        except Exception as err:  # the sandbox's SecurityError, a TypeError of ``None > 3``...
            raise ExpressionError(f"{self.source!r} failed: {err}") from err
        return None if isinstance(value, jinja2.Undefined) else value

    def holds(self, names: Mapping[str, Any]) -> bool:
        """The expression as a condition: true, or false (also when it cannot be evaluated,
        as with a comparison against a property the event lacks)."""
        try:
            return bool(self.evaluate(names))
        except ExpressionError:
            return False


def compile_expression(source: str) -> Expression:
    """Parse ``source`` now, so a bad expression is refused where it is written."""
    if not source.strip():
        raise ExpressionError("the expression is empty")
    try:
        _compiled(source)
    except jinja2.TemplateSyntaxError as err:
        raise ExpressionError(f"{source!r} does not parse: {err.message}") from err
    except (RecursionError, SyntaxError):
        raise ExpressionError(f"{source[:80]!r}... is nested too deeply") from None
    return Expression(source)


def check_syntax(source: str) -> None:
    """Parse ``source`` without compiling it (a tenth of the time): what validating a
    definition needs; :func:`compile_expression` where it will be evaluated."""
    if not source.strip():
        raise ExpressionError("the expression is empty")
    try:
        parser = Parser(_ENV, source, state="variable")
        parser.parse_expression()
        if not parser.stream.eos:
            parser.fail("expected the end of the expression", parser.stream.current.lineno)
    except jinja2.TemplateSyntaxError as err:
        raise ExpressionError(f"{source!r} does not parse: {err.message}") from err
    except RecursionError:
        raise ExpressionError(f"{source[:80]!r}... is nested too deeply") from None


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Any:
    return _ENV.compile_expression(source, undefined_to_none=False)


def event_value(event: JourneyEvent) -> dict[str, Any]:
    """An event as expressions see it."""
    return {
        "name": event.name,
        "message_id": event.message_id,
        "customer_id": event.customer_id,
        "timestamp": event.timestamp.isoformat(),
        "properties": dict(event.properties),
        "traits": dict(event.traits),
    }


def scope(
    *,
    now: datetime,
    trigger: JourneyEvent | None = None,
    event: JourneyEvent | None = None,
    customer: Mapping[str, Any] | None = None,
    received: list[JourneyEvent] | None = None,
) -> dict[str, Any]:
    """The names an expression may use; see the module docstring."""
    latest: dict[str, Any] = {}
    for item in received or []:
        latest[item.name] = event_value(item)
    return {
        "now": now.isoformat(),
        "trigger": event_value(trigger) if trigger is not None else {},
        "event": event_value(event) if event is not None else {},
        "customer": dict(customer or {}),
        "events": latest,
    }
