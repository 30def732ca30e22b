"""The step tour: one declarative journey that takes every kind of step, the timeline a test
plays through it and the audit that leaves. The workflow tests run it as a definition and as
its code counterpart; tests/histories/record.py records it for the replay test."""

from __future__ import annotations

from typing import Any

from journeys.testing import at

TOUR: dict[str, Any] = {
    "key": "def-tour",
    "trigger": {"event": "Cart Abandoned", "where": "event.properties.total > 10"},
    "exit_on": [
        {
            "event": "Order Completed",
            "where": "event.properties.cart_id == trigger.properties.cart_id",
        }
    ],
    "steps": [
        {"id": "pause", "type": "delay", "duration": "15m"},
        {
            "id": "vip",
            "type": "branch",
            "condition": "customer.plan == 'gold'",
            "then": "tag",
            "else": "coin",
        },
        {"id": "tag", "type": "update_traits", "set": {"tier": "'vip'"}, "next": "sms"},
        {
            "id": "coin",
            "type": "split",
            "paths": [
                {"name": "a", "percent": 50, "next": "sms"},
                {"name": "b", "percent": 50, "next": "sms"},
            ],
        },
        {"id": "sms", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
        {
            "id": "look",
            "type": "wait",
            "events": [
                {
                    "event": "Cart Viewed",
                    "where": "event.properties.cart_id == trigger.properties.cart_id",
                    "next": "tell",
                }
            ],
            "timeout": "1h",
            "on_timeout": "again",
        },
        {"id": "again", "type": "jump", "to": "look", "max": 2, "next": "done"},
        {
            "id": "tell",
            "type": "emit",
            "event": "Cart Revisited",
            "properties": {"cart_id": "trigger.properties.cart_id"},
        },
        {"id": "done", "type": "exit", "reason": "tour finished"},
    ],
}


# The tour's timeline (a view of another cart, then of this one) and the audit it leaves, for
# the definition and for its code counterpart (``CodeTour`` in tests/support/journeys/steps.py).
TOUR_TIMELINE = [
    at("0s", "Cart Abandoned", cart_id="K1", total=42),
    at("30m", "Cart Viewed", cart_id="OTHER"),
    at("40m", "Cart Viewed", cart_id="K1"),
]
TOUR_AUDIT = [
    "entered",
    "waiting",
    "branched",
    "traits_updated",
    "sent",
    "waiting",
    "received",
    "emitted",
    "exited",
]
