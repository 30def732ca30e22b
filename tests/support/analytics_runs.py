"""Runs written the way running journeys write them, for the analytics tests
(tests/journeys/insight/test_journey_analytics_*.py): the worker's own activities
(``record_entry``, ``record_audit``, ``send_message`` with the console provider,
``record_conversion``, ``record_exit``) called with the records the DSL would send, in the DSL's
order (entered, waiting, the variant draw, the send or the holdout's skip, the branch, the second
send, the conversion, the exit), for the A/B journey ``document`` describes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from journeys.activities.journey import JourneyActivities
from journeys.activities.steps import StepActivities
from journeys.contracts import (
    STEP_ID,
    AuditRecord,
    ConversionRecord,
    EntryRecord,
    ExitRecord,
    JourneyOutcome,
    RunRef,
    SendRequest,
    in_holdout,
)
from journeys.delivery.channels import build_providers
from journeys.delivery.channels.webhook import WebhookProvider
from journeys.delivery.templates_catalog import TemplateCatalog, seed_templates
from journeys.ingest.events import Event
from journeys.store.definitions import publish, save_draft
from journeys.temporal import workflow_id
from tests.conftest import Store

KEY = "ab-cart"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOLDOUT_PERCENT = 50
VARIANTS = {"a": "cart_recovery_email", "b": "welcome_email"}
GOAL = "Order Completed"


def document(*, nudge_channel: str = "sms") -> dict[str, Any]:
    nudge_template = "cart_recovery_sms" if nudge_channel == "sms" else "cart_recovery_email"
    return {
        "key": KEY,
        "trigger": {"event": "Cart Abandoned"},
        "entry": {"holdout_percent": HOLDOUT_PERCENT},
        "goal": {"event": GOAL, "within": "3d", "revenue": "event.properties.revenue"},
        "steps": [
            {"id": "pause", "type": "delay", "duration": "1h"},
            {
                "id": "offer",
                "type": "send",
                "channel": "email",
                "variants": [
                    {"name": name, "template": template, "percent": 50}
                    for name, template in VARIANTS.items()
                ],
            },
            {
                "id": "check",
                "type": "branch",
                "condition": "trigger.properties.total > 50",
                "then": "nudge",
            },
            {"id": "nudge", "type": "send", "channel": nudge_channel, "template": nudge_template},
        ],
    }


@dataclass(frozen=True)
class Plan:
    """One customer's run: which arm and variant, what happened, and when."""

    holdout: bool
    variant: str
    started: datetime
    revenue: float | None = None  # converted, with this revenue
    email: bool = True
    active: bool = False
    version: int = 1

    @property
    def converted(self) -> bool:
        return self.revenue is not None


class Writer:
    """Writes runs with the worker's activities, as the DSL drives them."""

    def __init__(self, store: Store) -> None:
        self.journey = JourneyActivities(
            store.sessions, TemplateCatalog(store.sessions), build_providers(store.settings)
        )

        async def nowhere(event: Event) -> None:
            raise AssertionError(f"nothing is emitted here: {event}")

        self.steps = StepActivities(
            store.sessions, store.settings, nowhere, WebhookProvider(store.settings)
        )

    async def run(self, plan: Plan) -> RunRef:
        customer = f"c-{uuid.uuid4().hex[:10]}"
        run = run_ref(customer, holdout=plan.holdout, version=plan.version)
        traits = {"first_name": "Ada", "phone": "+15550000001"}
        if plan.email:
            traits["email"] = "ada@example.com"
        trigger = trigger_event(customer, traits, plan.started)
        rules = {"holdout_percent": HOLDOUT_PERCENT}
        entry = await self.journey.record_entry(EntryRecord(run, trigger, plan.started, rules))
        assert entry.entered and entry.holdout == plan.holdout
        at = plan.started
        audit = self.journey.record_audit
        await audit(AuditRecord(run, 1, "entered", "entered on Cart Abandoned", at))
        waiting = {"until": (at + timedelta(hours=1)).isoformat(), STEP_ID: "pause"}
        await audit(AuditRecord(run, 2, "waiting", "waiting 1 h", at, "waiting 1 h", waiting))
        at += timedelta(hours=1)
        draw = {"variant": "offer", "chosen": plan.variant, STEP_ID: "offer"}
        await audit(AuditRecord(run, 3, "variant", f"offer: {plan.variant} (50%)", at, data=draw))
        await self.send(run, 4, "offer", "email", VARIANTS[plan.variant], plan, trigger, at)
        branched = {"branch": "check", "taken": False, STEP_ID: "check"}
        await audit(AuditRecord(run, 5, "branched", "check: false", at, data=branched))
        await self.send(run, 6, "nudge", "sms", "cart_recovery_sms", plan, trigger, at)
        ended = at + timedelta(minutes=30)
        if plan.revenue is not None:
            goal = replace(trigger, name=GOAL, message_id=str(uuid.uuid4()), timestamp=ended)
            await self.steps.record_conversion(
                ConversionRecord(run, 7, goal, plan.revenue, plan.holdout)
            )
        if not plan.active:
            status, reason = (
                ("converted", f"converted on {GOAL}")
                if plan.converted
                else ("completed", "completed all steps")
            )
            outcome = JourneyOutcome(status, reason, ended, messages_sent=0)
            await self.journey.record_exit(ExitRecord(run, 8, outcome))
        return run

    async def send(
        self,
        run: RunRef,
        seq: int,
        step: str,
        channel: str,
        template: str,
        plan: Plan,
        trigger: Any,
        at: datetime,
    ) -> None:
        if plan.holdout:
            reason = f"holdout: {template} by {channel} not sent"
            data = {"step": step, "code": "holdout", STEP_ID: step}
            await self.journey.record_audit(AuditRecord(run, seq, "skipped", reason, at, data=data))
            return
        await self.journey.send_message(SendRequest(run, seq, step, channel, template, trigger, at))

    async def refused(self, started: datetime) -> None:
        """A customer the entry rules refuse (re-entry ``never``, entered before)."""
        customer = f"c-{uuid.uuid4().hex[:10]}"
        rules = {"reentry": "never"}
        for n in range(2):
            run = run_ref(customer, holdout=False)
            trigger = trigger_event(customer, {"first_name": "Bo"}, started)
            at = started + timedelta(hours=n)
            entry = await self.journey.record_entry(EntryRecord(run, trigger, at, rules))
            assert entry.entered is (n == 0)


def run_ref(customer: str, *, holdout: bool, version: int = 1) -> RunRef:
    """A run whose id the holdout draw (a hash of the id) puts in the arm wanted."""
    while True:
        run_id = str(uuid.uuid4())
        if in_holdout(run_id, HOLDOUT_PERCENT) == holdout:
            return RunRef(run_id, workflow_id(KEY, customer), KEY, version, customer)


def trigger_event(customer: str, traits: dict[str, Any], at: datetime) -> Any:
    event = Event.model_validate(
        {
            "type": "track",
            "event": "Cart Abandoned",
            "userId": customer,
            "properties": {"cart_id": "K1", "total": 19.9},
            "context": {"traits": traits},
        }
    ).to_journey_event()
    return replace(event, timestamp=at)


async def published(store: Store, *extra: dict[str, Any]) -> None:
    await seed_templates(store.sessions, store.settings)
    for version in (document(), *extra):
        await save_draft(store.sessions, version)
        await publish(store.sessions, KEY)
