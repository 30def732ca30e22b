"""Declarative journey documents without any server: what validation refuses, naming the step and
field, and the diff between two versions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from journeys.definitions.diff import diff
from journeys.definitions.document import (
    DefinitionError,
    JourneyDocument,
    expression_problems,
    validate,
)
from tests.support.journeys.bad_definitions import BAD_DEFINITIONS, NUDGE, PAUSE

TEMPLATES = {("cart_recovery_sms", "sms"), ("cart_recovery_email", "email")}


def journey(steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"key": "cart-lite", "trigger": {"event": "Cart Abandoned"}, "steps": steps, **fields}


def exists(name: str, channel: str) -> bool:
    return (name, channel) in TEMPLATES


def problems(raw: Any) -> list[tuple[str | None, str, str]]:
    with pytest.raises(DefinitionError) as refused:
        validate(raw, exists)
    return [(p.step, p.field, p.message) for p in refused.value.problems]


def test_a_valid_document_is_normalised() -> None:
    document = validate(journey([PAUSE, NUDGE], exit_on=[{"event": "Order Completed"}]), exists)
    assert isinstance(document, JourneyDocument)
    stored = document.as_json()
    assert stored["steps"][0] == PAUSE
    assert stored["entry"]["reentry"] == "after_exit"
    assert [e["event"] for e in stored["exit_on"]] == ["Order Completed"]
    # What is stored survives a JSON round trip unchanged: the diff relies on it.
    assert json.loads(json.dumps(stored)) == stored


@pytest.mark.parametrize(
    ("steps", "fields", "step", "field", "message"),
    BAD_DEFINITIONS,
)
def test_validation_names_the_step_and_field(
    steps: list[dict[str, Any]],
    fields: dict[str, Any],
    step: str | None,
    field: str,
    message: str,
) -> None:
    found = problems(journey(steps, **fields))
    assert (step, field) in [(s, f) for s, f, _ in found], found
    assert any(s == step and f == field and message in m for s, f, m in found), found


@pytest.mark.parametrize(
    ("key", "step_id"), [("a/b", "pause"), ("Not A Key", "pause"), ("ok", "my step!")]
)
def test_keys_and_step_ids_are_matched_whole(key: str, step_id: str) -> None:
    with pytest.raises(DefinitionError):
        validate(
            {"key": key, "trigger": {"event": "E"}, "steps": [{"id": step_id, "type": "exit"}]}
        )


def test_a_loop_bounded_by_a_jump_is_accepted() -> None:
    again = {"id": "again", "type": "jump", "to": "pause", "max": 3}
    validate(journey([PAUSE, NUDGE, again]), exists)


def test_a_loop_at_the_end_of_the_longest_chain_is_found_without_recursion() -> None:
    steps: list[dict[str, Any]] = [
        {"id": f"s{i}", "type": "delay", "duration": "1m"} for i in range(499)
    ]
    steps.append({"id": "back", "type": "delay", "duration": "1m", "next": "s0"})
    [(step, field, message)] = problems(journey(steps))
    assert (step, field) == ("s0", "next")
    assert message.startswith("loop without a bound (s0 -> s1 -> s2")
    assert problems(journey([*steps, PAUSE]))[0][1] == "steps"  # 501: too many


def test_expressions_over_the_budget_are_named_by_step_and_field() -> None:
    webhook = {
        "id": "hook",
        "type": "webhook",
        "url": "https://example.com",
        "body": {"a": "event.properties.a", "b": "('a' * 300000000) == ''"},
    }
    document = validate(journey([webhook], trigger={"event": "E", "where": "9 ** (9 ** 7) > 7"}))
    found = [(p.step, p.field) for p in expression_problems(document)]
    assert found == [(None, "trigger.where"), ("hook", "body.b")]
    costly_with_an_event = journey([PAUSE], trigger={"event": "E", "where": "'a' * event.n"})
    assert expression_problems(validate(costly_with_an_event)) == []


def test_a_variant_template_is_checked_too() -> None:
    send = {
        "id": "mail",
        "type": "send",
        "channel": "email",
        "variants": [
            {"name": "a", "template": "cart_recovery_email", "percent": 50},
            {"name": "b", "template": "cart_recovery_sms", "percent": 50},
        ],
    }
    assert problems(journey([send])) == [
        ("mail", "variants[1].template", "there is no email template named 'cart_recovery_sms'")
    ]


def test_without_a_template_check_templates_are_not_asked() -> None:
    validate(journey([{**NUDGE, "template": "anything"}]))


# -- diff ----------------------------------------------------------------------------------------


def stored(steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return validate(journey(steps, **fields), exists).as_json()


def test_equal_documents_have_no_changes() -> None:
    document = stored([PAUSE, NUDGE])
    assert diff(document, json.loads(json.dumps(document))) == []


def test_steps_are_compared_by_id_field_by_field() -> None:
    old = stored([PAUSE, NUDGE], entry={"cooldown": "1d"})
    extra = {"id": "extra", "type": "send", "channel": "email", "template": "cart_recovery_email"}
    new = stored(
        [{**PAUSE, "duration": "30m"}, {**NUDGE, "data": {"coupon": "SAVE10"}}, extra],
        entry={},
    )

    assert diff(old, new) == [
        {"path": "entry.cooldown", "change": "removed", "from": "1d"},
        {"path": "steps.pause.duration", "change": "changed", "from": "15m", "to": "30m"},
        {"path": "steps.nudge.data.coupon", "change": "added", "to": "SAVE10"},
        {"path": "steps.extra", "change": "added", "to": {**extra, "data": {}}},
    ]


def test_a_removed_step_and_a_changed_template() -> None:
    old = stored([PAUSE, NUDGE])
    new = stored([{**NUDGE, "template": "cart_recovery_email", "channel": "email"}])
    assert diff(old, new) == [
        {"path": "steps.nudge.channel", "change": "changed", "from": "sms", "to": "email"},
        {
            "path": "steps.nudge.template",
            "change": "changed",
            "from": "cart_recovery_sms",
            "to": "cart_recovery_email",
        },
        {"path": "steps.pause", "change": "removed", "from": PAUSE},
    ]


def test_a_step_whose_type_changed_is_one_change() -> None:
    exit_step = {"id": "pause", "type": "exit", "reason": "gone"}
    old, new = stored([PAUSE, NUDGE]), stored([NUDGE, exit_step])
    changes = diff(old, new)
    assert {"path": "steps.pause", "change": "changed", "from": PAUSE, "to": exit_step} in changes
    # The shared steps now run in another order: where the implicit next goes changed.
    assert changes[-1] == {
        "path": "steps",
        "change": "reordered",
        "from": ["pause", "nudge"],
        "to": ["nudge", "pause"],
    }


def test_lists_of_one_length_are_compared_element_by_element() -> None:
    old = stored([NUDGE], exit_on=[{"event": "Order Completed"}])
    same_length = stored([NUDGE], exit_on=[{"event": "Cart Emptied"}])
    longer = stored([NUDGE], exit_on=[{"event": "Order Completed"}, {"event": "Cart Emptied"}])
    assert diff(old, same_length) == [
        {
            "path": "exit_on[0].event",
            "change": "changed",
            "from": "Order Completed",
            "to": "Cart Emptied",
        }
    ]
    assert diff(old, longer) == [
        {
            "path": "exit_on",
            "change": "changed",
            "from": [{"event": "Order Completed"}],
            "to": [{"event": "Order Completed"}, {"event": "Cart Emptied"}],
        }
    ]


def test_the_order_does_not_depend_on_how_keys_were_stored() -> None:
    """PostgreSQL's JSONB hands keys back in its own order; the diff is the same."""
    old = stored([PAUSE, NUDGE])
    new = stored(
        [{**PAUSE, "duration": "1h"}, {**NUDGE, "data": {"n": 1}}],
        trigger={"event": "Cart Abandoned", "where": "event.properties.total > 5"},
        goal={"event": "Order Completed", "within": "3d"},
    )

    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shuffled(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    changes = diff(old, new)
    assert [c["path"] for c in changes] == [
        "trigger.where",
        "goal",
        "steps.pause.duration",
        "steps.nudge.data.n",
    ]
    assert diff(shuffled(old), shuffled(new)) == changes


def test_numbers_compare_as_json_numbers() -> None:
    assert diff({"entry": {"holdout_percent": 10}}, {"entry": {"holdout_percent": 10.0}}) == []
    assert diff({"goal": {"exit": True}}, {"goal": {"exit": 1}}) == [
        {"path": "goal.exit", "change": "changed", "from": True, "to": 1}
    ]
