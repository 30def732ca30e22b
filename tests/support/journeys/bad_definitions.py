"""Definitions that validation must refuse, each with the step and field it must name: one table
for the pure validation tests and the API's."""

from __future__ import annotations

import pytest

PAUSE = {"id": "pause", "type": "delay", "duration": "15m"}
NUDGE = {"id": "nudge", "type": "send", "channel": "sms", "template": "cart_recovery_sms"}

# (steps, journey fields, step named, field named, words of the message)
BAD_DEFINITIONS = [
    pytest.param(
        [PAUSE, {"id": "nudge", "type": "teleport"}],
        {},
        "nudge",
        "type",
        "unknown step type",
        id="unknown step type",
    ),
    pytest.param(
        [{**PAUSE, "next": "nowhere"}, NUDGE],
        {},
        "pause",
        "next",
        "no step has the id 'nowhere'",
        id="unknown target",
    ),
    pytest.param(
        [{**PAUSE, "next": "done"}, NUDGE, {"id": "done", "type": "exit"}],
        {},
        "nudge",
        "id",
        "no path from the first step reaches this step",
        id="unreachable step",
    ),
    pytest.param(
        [PAUSE, {**NUDGE, "next": "pause"}],
        {},
        "pause",
        "next",
        "loop without a bound (pause -> nudge -> pause)",
        id="loop without a bound",
    ),
    pytest.param(
        [PAUSE, {**NUDGE, "template": "cart_sms"}],
        {},
        "nudge",
        "template",
        "there is no sms template named 'cart_sms'",
        id="unknown template",
    ),
    pytest.param(
        [PAUSE, {**NUDGE, "template": "cart_recovery_sms", "channel": "email"}],
        {},
        "nudge",
        "template",
        "there is no email template named 'cart_recovery_sms'",
        id="template of another channel",
    ),
    pytest.param(
        [
            {"id": "check", "type": "branch", "condition": "customer.plan ==", "then": "nudge"},
            NUDGE,
            pytest.param(
                [{**PAUSE, "duration": "15 parsecs"}, NUDGE],
                {},
                "pause",
                "duration",
                "not a duration",
                id="bad duration",
            ),
        ],
        {},
        "check",
        "condition",
        "does not parse",
        id="expression that does not parse",
    ),
    pytest.param(
        [NUDGE],
        {"trigger": {"event": "Cart Abandoned", "where": "event.properties.total >"}},
        None,
        "trigger.where",
        "does not parse",
        id="trigger expression that does not parse",
    ),
    pytest.param(
        [{**PAUSE, "duration": "15 parsecs"}, NUDGE],
        {},
        "pause",
        "duration",
        "not a duration",
        id="bad duration",
    ),
]
