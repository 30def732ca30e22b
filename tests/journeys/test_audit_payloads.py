"""Audit rows carry one typed payload per kind, and the timeline renders from it.

The reason stays the sentence the workflow wrote, but nothing reads facts back out of it: a
branch row reworded, or a reason erased, still tells which condition decided it. Rows written
before the payloads had those fields still render as they did (journeys/audit.py ``_legacy``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from journeys.audit import (
    Branched,
    Compliance,
    Converted,
    Emitted,
    Ended,
    Entered,
    Jumped,
    Message,
    Payload,
    Picked,
    Received,
    Skipped,
    TimedOut,
    TraitsUpdated,
    Waiting,
    Webhook,
    payload,
)
from journeys.insight.timeline_entries import audit_entry
from journeys.store.models import AuditEvent, JourneyRun
from journeys.vocabulary import AuditKind, DeliveryStatus, JourneyStatus, RunStatus

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

SAMPLES: list[tuple[AuditKind, Payload]] = [
    (AuditKind.ENTERED, Entered("Cart Abandoned", "m-1")),
    (AuditKind.ENTERED, Entered("Cart Abandoned", "m-1", version=3, holdout=True)),
    (AuditKind.WAITING, Waiting("2026-03-02T10:00:00+00:00")),
    (AuditKind.RECEIVED, Received("Order Completed", "m-2")),
    (AuditKind.TIMED_OUT, TimedOut()),
    (AuditKind.BRANCHED, Branched("vip", True, "customer.plan == 'gold'")),
    (AuditKind.BRANCHED, Branched("vip", False, None)),
    (AuditKind.SPLIT, Picked(AuditKind.SPLIT, "paths", "a", 50.0)),
    (AuditKind.VARIANT, Picked(AuditKind.VARIANT, "offer", "tips", 25.0)),
    (AuditKind.JUMPED, Jumped("look", 1, 2)),
    (AuditKind.SKIPPED, Skipped("email-1", "holdout")),
    (AuditKind.SKIPPED, Skipped()),
    (AuditKind.SENT, Message(7, "email", "welcome", "sg-1", template_version=2)),
    (AuditKind.FAILED, Message(7, "sms", "welcome", None, error_kind="invalid_number")),
    (AuditKind.SKIPPED, Compliance("sms", "welcome", "marketing", None, "no_opt_in", 8)),
    (
        AuditKind.DEFERRED,
        Compliance(
            "email", "welcome", "marketing", "news", "quiet_hours", None, "2026-03-02T08:00"
        ),
    ),
    (AuditKind.EMITTED, Emitted("Reminder Due", "run:emit:Reminder Due")),
    (AuditKind.WEBHOOK_CALLED, Webhook("webhook:https://example.com/hook")),
    (AuditKind.TRAITS_UPDATED, TraitsUpdated({"tier": "vip"})),
    (AuditKind.CONVERTED, Converted("m-3", 120.5)),
    (AuditKind.CONVERTED, Ended(1)),
    (AuditKind.FAILED, Ended(0)),
    (AuditKind.COMPLETED, Ended(2)),
]


@pytest.mark.parametrize(
    ("kind", "written"), SAMPLES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(SAMPLES)]
)
def test_each_payload_reads_back_from_the_data_it_writes(kind: AuditKind, written: Payload) -> None:
    assert payload(kind, written.data(), reason="reworded, or erased") == written


def test_vocabulary_values_are_the_strings_rows_and_payloads_hold() -> None:
    assert RunStatus.NOT_ENTERED == "not_entered" and f"{RunStatus.ACTIVE}" == "active"
    assert DeliveryStatus.SENT == "sent" and JourneyStatus.PAUSED == "paused"
    assert AuditKind("webhook_called") is AuditKind.WEBHOOK_CALLED


def _run() -> JourneyRun:
    return JourneyRun(
        id="run-1",
        workflow_id="wf-1",
        journey_key="cart",
        journey_version=1,
        customer_id="ada",
        status=RunStatus.ACTIVE,
        reason="",
        trigger_event="Cart Abandoned",
        trigger_message_id="m-1",
        started_at=T0,
        ended_at=None,
        holdout=False,
    )


def _summary(kind: AuditKind, reason: str, data: dict[str, Any]) -> str:
    row = AuditEvent(seq=1, kind=kind, reason=reason, data=data, occurred_at=T0, step=None)
    return audit_entry(_run(), row, None, []).summary


def test_a_branch_renders_from_its_payload_not_its_reason() -> None:
    expression = Branched("big_cart", True, "trigger.properties.total > 100").data()
    assert _summary(AuditKind.BRANCHED, "[erased]", expression) == (
        "Took branch 'big_cart' because trigger.properties.total > 100 was true"
    )
    # A condition that reads like code's answer is still the condition.
    tricky = Branched("vip", False, "yes").data()
    assert _summary(AuditKind.BRANCHED, "vip: no", tricky) == (
        "Did not take branch 'vip' because yes was false"
    )
    code = Branched("vip", False, None).data()
    assert _summary(AuditKind.BRANCHED, "vip: customer.plan is false", code) == (
        "Did not take branch 'vip' as the journey's code decided"
    )


def test_splits_and_variants_render_their_share_from_the_payload() -> None:
    split = Picked(AuditKind.SPLIT, "paths", "a", 33.5).data()
    assert _summary(AuditKind.SPLIT, "reworded", split) == "Split 'paths': path a (33.5%)"
    variant = Picked(AuditKind.VARIANT, "offer", "tips", 50).data()
    assert _summary(AuditKind.VARIANT, "", variant) == "A/B test 'offer': variant tips (50%)"


def test_rows_written_before_the_payloads_render_as_they_did() -> None:
    """Rows without ``condition`` or ``percent``: the one documented legacy read."""
    expression = {"branch": "big_cart", "taken": True}
    reason = "big_cart: trigger.properties.total > 100 is true"
    assert _summary(AuditKind.BRANCHED, reason, expression) == (
        "Took branch 'big_cart' because trigger.properties.total > 100 was true"
    )
    code = {"branch": "vip", "taken": False}
    assert _summary(AuditKind.BRANCHED, "vip: no", code) == (
        "Did not take branch 'vip' as the journey's code decided"
    )
    split = {"split": "paths", "chosen": "b"}
    assert _summary(AuditKind.SPLIT, "paths: b (50%)", split) == "Split 'paths': path b (50%)"
    received = {"message_id": "m-2"}
    assert _summary(AuditKind.RECEIVED, "received Order Completed", received) == (
        "Received Order Completed (message m-2)"
    )
