"""journeys.insight.analytics on SQLite and PostgreSQL, over rows written the way running
journeys write them: the worker's own activities (``record_entry``, ``record_audit``,
``send_message`` with the console provider, ``record_conversion``, ``record_exit``) called with
the records the DSL would send, in the DSL's order (entered, waiting, the variant draw, the
send or the holdout's skip, the branch, the second send, the conversion, the exit).

Running a few hundred journeys through Temporal would be too slow for the sample sizes a
conclusive lift needs, and would not let the test place runs at chosen times; the API test
(tests/api/analytics/test_analytics.py) runs real journeys. So do the funnel tests at the end: a
definition and a code journey run in journeys.testing's kit (time-skipping Temporal, the
worker, the router's logic) on the test's store, to show which steps the funnel counts from
the rows the DSL and the interpreter really write. Expected numbers are derived from each
test's plan of customers, never written out.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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
    TraitsUpdate,
    in_holdout,
)
from journeys.delivery.channels import build_providers
from journeys.delivery.channels.webhook import WebhookProvider
from journeys.delivery.templates_catalog import TemplateCatalog, seed_templates
from journeys.examples import CartRecovery
from journeys.ingest.events import Event
from journeys.insight import analytics
from journeys.insight.stats import compare, proportion
from journeys.registry import register_code_journeys
from journeys.store.definitions import publish, save_draft
from journeys.temporal import workflow_id
from journeys.testing import JourneyTestKit, TimelineEvent, at
from tests.conftest import Store
from tests.support.helpers import ADA_TRAITS
from tests.support.journeys.funnel import CodeFunnel

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


def scenario() -> list[Plan]:
    """80 treated customers (40 per variant) and 60 in the holdout; variant a converts one in
    two, b three in ten, the holdout one in ten: a lift large enough to be conclusive."""
    plans = []
    minute = 0
    for variant, converters, revenue in (("a", 20, 30.0), ("b", 12, 45.5)):
        for i in range(40):
            minute += 1
            plans.append(
                Plan(
                    holdout=False,
                    variant=variant,
                    started=T0 + timedelta(minutes=minute),
                    revenue=revenue if i < converters else None,
                    email=not (variant == "a" and i >= 35),  # five without an address
                    active=variant == "b" and i >= 37,  # three still inside
                )
            )
    for i in range(60):
        minute += 1
        variant = "a" if i % 2 else "b"
        plans.append(
            Plan(True, variant, T0 + timedelta(minutes=minute), revenue=12.0 if i < 6 else None)
        )
    return plans


async def test_a_journeys_numbers_follow_what_its_runs_did(store: Store) -> None:
    await published(store)
    writer = Writer(store)
    plans = scenario()
    for plan in plans:
        await writer.run(plan)
    await writer.refused(T0)

    async with store.sessions() as session:
        result = await analytics.journey_analytics(session, KEY)
    assert result is not None

    treated = [p for p in plans if not p.holdout]
    held = [p for p in plans if p.holdout]
    assert result.versions == [1]
    # The refused customer's first entry counts; the second is `not_entered`.
    assert result.entered == len(plans) + 1
    assert result.not_entered == 1
    assert result.active == sum(p.active for p in plans) + 1
    assert result.completed == sum(not p.active and not p.converted for p in plans)
    assert result.by_status == {
        "active": result.active,
        "completed": result.completed,
        "converted": sum(p.converted for p in plans),
        "not_entered": 1,
    }
    assert result.ended == result.entered - result.active

    # The arms and the lift.
    assert result.treatment.customers == len(treated) + 1  # the refused customer's first run
    assert result.holdout.customers == len(held)
    assert result.treatment.conversions == sum(p.converted for p in treated)
    assert result.holdout.conversions == sum(p.converted for p in held)
    assert result.treatment.revenue == pytest.approx(sum(p.revenue or 0 for p in treated))
    assert result.holdout.revenue == pytest.approx(sum(p.revenue or 0 for p in held))
    expected = compare(
        result.treatment.conversions,
        result.treatment.customers,
        result.holdout.conversions,
        result.holdout.customers,
    )
    assert result.lift.comparison == expected
    assert result.lift.comparison.conclusive and result.lift.comparison.difference > 0
    per_treated = result.treatment.revenue / result.treatment.customers
    per_held = result.holdout.revenue / result.holdout.customers
    assert result.lift.incremental_revenue == pytest.approx(
        (per_treated - per_held) * result.treatment.customers
    )

    # Messages by channel and status: the holdout was sent nothing; five had no email address.
    no_email = sum(not p.email for p in treated)
    assert {(m.channel, m.status): m.count for m in result.messages} == {
        ("email", "sent"): len(treated) - no_email,
        ("email", "skipped"): no_email,
        ("sms", "sent"): len(treated),
    }
    # Exits by reason, most frequent first.
    ends = Counter(
        ("converted", f"converted on {GOAL}")
        if p.converted
        else ("completed", "completed all steps")
        for p in plans
        if not p.active
    )
    assert [(e.status, e.reason, e.count) for e in result.exits] == [
        (status, reason, n) for (status, reason), n in ends.most_common()
    ]

    # Reached per step, in the document's order (the refused customer's run did no step).
    reached = {s.step: (s.type, s.reached) for s in result.steps}
    assert list(reached) == ["pause", "offer", "check", "nudge"]
    assert reached == {
        "pause": ("delay", len(plans)),
        "offer": ("send", len(plans)),  # the holdout reaches it too (audited as skipped)
        "check": ("branch", len(plans)),
        "nudge": ("send", len(plans)),
    }
    assert result.steps[1].share == pytest.approx(len(plans) / result.entered)

    # Variants: the treated customers only, each with its rate and the comparison with `a`.
    by_variant = {v.variant: v for v in result.variants}
    assert list(by_variant) == ["a", "b"]
    for name, variant in by_variant.items():
        arm = [p for p in treated if p.variant == name]
        assert (variant.step, variant.template) == ("offer", VARIANTS[name])
        assert variant.customers == len(arm)
        assert variant.sent == sum(p.email for p in arm)
        assert variant.conversions == sum(p.converted for p in arm)
        assert variant.revenue == pytest.approx(sum(p.revenue or 0 for p in arm))
        assert variant.rate == proportion(variant.conversions, variant.customers)
    a, b = by_variant["a"], by_variant["b"]
    assert a.vs_first is None
    assert b.vs_first == compare(b.conversions, b.customers, a.conversions, a.customers)


async def test_cohorts_by_entry_time_and_version(store: Store) -> None:
    v2 = document(nudge_channel="email")
    await published(store, v2)
    writer = Writer(store)
    plans = [
        Plan(False, "a", T0, revenue=10.0),
        Plan(True, "b", T0 + timedelta(hours=2), revenue=20.0),
        Plan(False, "b", T0 + timedelta(hours=4)),
        Plan(False, "a", T0 + timedelta(hours=4), revenue=5.0, version=2),
        Plan(True, "a", T0 + timedelta(days=1), version=2),
    ]
    for plan in plans:
        await writer.run(plan)
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=5)

    async with store.sessions() as session:
        window = await analytics.journey_analytics(session, KEY, since=since, until=until)
        first = await analytics.journey_analytics(session, KEY, version=1)
        second = await analytics.journey_analytics(session, KEY, version=2, until=until)
        missing_version = await analytics.journey_analytics(session, KEY, version=3)
        missing = await analytics.journey_analytics(session, "no-such-journey")

    assert missing is None and missing_version is None
    assert window is not None and first is not None and second is not None
    inside = [p for p in plans if since <= p.started < until]
    assert (window.since, window.until) == (since, until)
    assert window.entered == len(inside)
    assert window.conversions == sum(p.converted for p in inside)
    assert window.revenue == pytest.approx(sum(p.revenue or 0 for p in inside))
    assert window.versions == [1, 2]

    v1_plans = [p for p in plans if p.version == 1]
    assert first.entered == len(v1_plans)
    assert first.holdout.customers == sum(p.holdout for p in v1_plans)
    assert first.revenue == pytest.approx(sum(p.revenue or 0 for p in v1_plans))
    v2_plans = [p for p in plans if p.version == 2 and p.started < until]
    assert second.entered == len(v2_plans)
    assert [(s.step, s.type) for s in second.steps][-1] == ("nudge", "send")
    # Too few customers for a lift: flagged, with the reason.
    assert first.lift.comparison.too_small and not first.lift.comparison.conclusive
    assert "at least 30 per arm" in (first.lift.comparison.caveat or "")


async def test_a_journey_without_a_holdout_says_so(store: Store) -> None:
    await published(store)
    writer = Writer(store)
    await writer.run(Plan(False, "a", T0, revenue=3.0))
    async with store.sessions() as session:
        result = await analytics.journey_analytics(session, KEY)
    assert result is not None and result.holdout.customers == 0
    assert result.lift.comparison.caveat == (
        "no run was in the holdout: set entry.holdout_percent to measure lift"
    )
    assert result.lift.incremental_revenue is None
    assert result.holdout.rate.rate is None and result.treatment.rate.rate == 1.0


async def test_timeseries_buckets_each_count_by_its_own_time(store: Store) -> None:
    await published(store)
    writer = Writer(store)
    plans = [
        Plan(False, "a", T0 + timedelta(minutes=5), revenue=10.0),
        Plan(False, "b", T0 + timedelta(minutes=50)),
        Plan(True, "a", T0 + timedelta(hours=2, minutes=10), revenue=4.5),
        Plan(False, "a", T0 + timedelta(days=2, hours=3), revenue=1.0),
    ]
    for plan in plans:
        await writer.run(plan)
    # Messages go out an hour after entry, conversions 90 minutes after (Writer.run).
    sends = [p.started + timedelta(hours=1) for p in plans if not p.holdout for _ in range(2)]
    conversions = [(p.started + timedelta(minutes=90), p.revenue) for p in plans if p.converted]

    def hour(moment: datetime) -> datetime:
        return moment.replace(minute=0, second=0, microsecond=0)

    def day(moment: datetime) -> datetime:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    until = day(T0) + timedelta(days=3)
    async with store.sessions() as session:
        daily = await analytics.journey_timeseries(session, KEY, since=day(T0), until=until)
        hourly = await analytics.journey_timeseries(
            session, KEY, bucket="hour", since=T0, until=T0 + timedelta(hours=5)
        )
        everything = await analytics.journey_timeseries(session, KEY, bucket="day")
        other_version = await analytics.journey_timeseries(
            session, KEY, version=2, since=T0, until=until
        )
        with pytest.raises(analytics.TooManyBuckets, match="at most 2000"):
            await analytics.journey_timeseries(
                session, KEY, bucket="hour", since=T0, until=T0 + timedelta(days=100)
            )

    def expected(points: list[analytics.TimeseriesPoint], floor: Any) -> None:
        for point in points:
            assert point.entered == sum(floor(p.started) == point.start for p in plans)
            assert point.sent == sum(floor(s) == point.start for s in sends)
            converted = [r for at, r in conversions if floor(at) == point.start]
            assert point.conversions == len(converted)
            assert point.revenue == pytest.approx(sum(r or 0 for r in converted))

    assert [p.start for p in daily] == [day(T0) + timedelta(days=n) for n in range(3)]
    expected(daily, day)
    assert daily[1].entered == daily[1].sent == daily[1].conversions == 0  # an empty day
    assert [p.start for p in hourly] == [T0 + timedelta(hours=n) for n in range(5)]
    expected(hourly, hour)
    # Without a range: from the first bucket with data to today (at least).
    assert everything[0].start == day(T0)
    assert sum(p.entered for p in everything) == len(plans)
    assert sum(p.conversions for p in everything) == len(conversions)
    assert all(p.entered == p.sent == p.conversions == 0 for p in other_version)


async def test_a_code_journeys_steps_are_the_ones_its_runs_named_in_their_order(
    store: Store,
) -> None:
    """A code journey's declaration has no steps: the funnel lists the step names its audit
    rows carry (``sms:cart_recovery_sms`` is how ``send("sms", ...)`` names its step), in the
    order runs first came to them."""
    await seed_templates(store.sessions, store.settings)
    await register_code_journeys(store.sessions, [CartRecovery])
    key = CartRecovery.spec.key
    writer = Writer(store)
    reached = Counter[str]()
    for n, (branched, emailed) in enumerate([(True, True), (True, False), (False, False)]):
        customer = f"code-{n}"
        run = RunRef(str(uuid.uuid4()), workflow_id(key, customer), key, 1, customer)
        trigger = trigger_event(customer, {"phone": "+15550000001", "email": "a@example.com"}, T0)
        await writer.journey.record_entry(EntryRecord(run, trigger, T0))
        await writer.journey.record_audit(AuditRecord(run, 1, "entered", "entered", T0))
        await writer.journey.send_message(
            SendRequest(run, 2, "sms:cart_recovery_sms", "sms", "cart_recovery_sms", trigger, T0)
        )
        reached["sms:cart_recovery_sms"] += 1
        if branched:
            data = {"branch": "big cart", "taken": True}
            await writer.journey.record_audit(AuditRecord(run, 3, "branched", "yes", T0, data=data))
            reached["big cart"] += 1
        if emailed:
            email = SendRequest(
                run, 4, "email:cart_recovery_email", "email", "cart_recovery_email", trigger, T0
            )
            await writer.journey.send_message(email)
            reached["email:cart_recovery_email"] += 1

    async with store.sessions() as session:
        result = await analytics.journey_analytics(session, key)
    assert result is not None and result.entered == 3
    assert [(s.step, s.type, s.reached) for s in result.steps] == [
        ("sms:cart_recovery_sms", "send", reached["sms:cart_recovery_sms"]),
        ("big cart", "branch", reached["big cart"]),
        ("email:cart_recovery_email", "send", reached["email:cart_recovery_email"]),
    ]
    assert result.variants == []


# --- the funnel over journeys that really ran ------------------------------------------------

FUNNEL: dict[str, Any] = {
    "key": "funnel-tour",
    "trigger": {"event": "Cart Abandoned"},
    "exit_on": [{"event": "Order Completed"}],
    "steps": [
        {"id": "pause", "type": "delay", "duration": "1h"},
        {
            "id": "look",
            "type": "wait",
            "events": [{"event": "Cart Viewed", "next": "tag"}],
            "timeout": "2h",
            "on_timeout": "nudge",
        },
        {"id": "tag", "type": "update_traits", "set": {"engaged": "true"}, "next": "done"},
        {"id": "nudge", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
        {"id": "done", "type": "exit", "reason": "funnel finished"},
    ],
}


@dataclass(frozen=True)
class Route:
    """One customer's timeline through FUNNEL (or CodeFunnel), the steps it takes them to, and
    how their run ends (the reason's beginning)."""

    timeline: list[TimelineEvent]
    steps: tuple[str, ...]
    ends: str


# Views the cart during the wait: the event's branch, the trait update, the exit step.
VIEWS = Route(
    [at("0s", "Cart Abandoned"), at("90m", "Cart Viewed")],
    ("pause", "look", "tag", "done"),
    "funnel finished",
)
# Never comes back: the wait's timeout branch, the send, the exit step.
IDLE = Route([at("0s", "Cart Abandoned")], ("pause", "look", "nudge", "done"), "funnel finished")
# Buys during the delay, or during the wait: the exit event ends the run there.
BUYS_EARLY = Route([at("0s", "Cart Abandoned"), at("30m", "Order Completed")], ("pause",), "exited")
BUYS_LATER = Route(
    [at("0s", "Cart Abandoned"), at("90m", "Order Completed")], ("pause", "look"), "exited"
)


async def test_every_step_of_a_definition_counts_the_runs_that_reached_it(store: Store) -> None:
    """A delay, a wait with a timeout branch, a trait update, a send and an exit step, each
    counted from what the runs wrote; an exit event's end is not the exit step's."""
    routes = [VIEWS, VIEWS, IDLE, IDLE, IDLE, BUYS_EARLY, BUYS_LATER]
    async with JourneyTestKit.start(
        definitions=[FUNNEL],
        database_url=store.settings.database_url,
        templates_dir=store.settings.templates_dir,
    ) as kit:
        results = [
            await kit.run(FUNNEL["key"], route.timeline, customer=f"f-{n}", traits=ADA_TRAITS)
            for n, route in enumerate(routes)
        ]
    for route, result in zip(routes, results, strict=True):
        assert result.outcome.reason.startswith(route.ends), result.outcome
        # Between entered and the end, every row the interpreter writes names its step; a
        # send's outcome (in its `step` column) and a trait update are written by activities.
        for row in result.audit[1:-1]:
            if row.kind != "traits_updated" and "channel" not in row.data:
                assert row.data[STEP_ID] in route.steps, row

    async with store.sessions() as session:
        funnel = await analytics.journey_analytics(session, FUNNEL["key"])
    assert funnel is not None and funnel.entered == len(routes)
    reached = Counter(step for route in routes for step in route.steps)
    assert [(s.step, s.type, s.reached) for s in funnel.steps] == [
        (step["id"], step["type"], reached[step["id"]]) for step in FUNNEL["steps"]
    ]
    assert funnel.steps[0].share == 1.0
    sent = sum("nudge" in route.steps for route in routes)
    assert {(m.channel, m.status): m.count for m in funnel.messages} == {("sms", "sent"): sent}


async def test_a_code_journeys_funnel_shows_its_named_steps(store: Store) -> None:
    """Named waits and the send, in the order runs reached them; the unnamed wait and the trait
    update are not in it (journeys/workflows/dsl.py says why)."""
    routes = [VIEWS, IDLE, IDLE, IDLE, BUYS_EARLY]
    async with JourneyTestKit.start(
        journeys=[CodeFunnel],
        database_url=store.settings.database_url,
        templates_dir=store.settings.templates_dir,
    ) as kit:
        for n, route in enumerate(routes):
            await kit.run(CodeFunnel.spec.key, route.timeline, customer=f"c-{n}", traits=ADA_TRAITS)

    async with store.sessions() as session:
        funnel = await analytics.journey_analytics(session, CodeFunnel.spec.key)
    assert funnel is not None and funnel.entered == len(routes)
    reached = Counter(step for route in routes for step in route.steps)
    assert [(s.step, s.type, s.reached) for s in funnel.steps] == [
        ("pause", "wait", reached["pause"]),
        ("look", "wait", reached["look"]),
        ("nudge", "send", reached["nudge"]),
    ]


async def test_trait_updates_and_exit_steps_are_counted_by_the_step_their_activity_names(
    store: Store,
) -> None:
    """Their rows are written by activities, which name the step from their input: two trait
    updates setting the same traits are still two steps, and a run that leaves on an exit
    event is not counted at the exit step it never reached."""
    document = {
        "key": "sorted",
        "trigger": {"event": "Cart Abandoned"},
        "exit_on": [{"event": "Order Completed"}],
        "steps": [
            {
                "id": "check",
                "type": "branch",
                "condition": "trigger.properties.total > 50",
                "then": "big",
                "else": "small",
            },
            {"id": "big", "type": "update_traits", "set": {"tier": "'x'"}, "next": "mark"},
            {"id": "small", "type": "update_traits", "set": {"tier": "'x'"}, "next": "mark"},
            {"id": "mark", "type": "update_traits", "set": {"seen": "true", "tier": "'x'"}},
            {"id": "bye", "type": "exit", "reason": "sorted"},
        ],
    }
    await seed_templates(store.sessions, store.settings)
    await save_draft(store.sessions, document)
    await publish(store.sessions, "sorted")
    writer = Writer(store)
    # Each run as the interpreter writes it: the branch (tagged), the trait updates and the
    # end (by their activities); the last run leaves on an exit event before the exit step.
    runs = [(True, True), (False, True), (False, False)]
    for n, (big, to_the_end) in enumerate(runs):
        customer = f"s-{n}"
        run = RunRef(str(uuid.uuid4()), workflow_id("sorted", customer), "sorted", 1, customer)
        trigger = trigger_event(customer, {"first_name": "Bo"}, T0)
        await writer.journey.record_entry(EntryRecord(run, trigger, T0))
        await writer.journey.record_audit(AuditRecord(run, 1, "entered", "entered", T0))
        branched = {"branch": "check", "taken": big, STEP_ID: "check"}
        await writer.journey.record_audit(AuditRecord(run, 2, "branched", "", T0, data=branched))
        tier = "big" if big else "small"
        await writer.steps.update_traits(TraitsUpdate(run, 3, {"tier": tier}, T0, step=tier))
        if to_the_end:
            marked = TraitsUpdate(run, 4, {"tier": "x", "seen": True}, T0, step="mark")
            await writer.steps.update_traits(marked)
            outcome = JourneyOutcome("exited", "sorted", T0, messages_sent=0)
            await writer.journey.record_exit(ExitRecord(run, 5, outcome, step="bye"))
        else:
            outcome = JourneyOutcome("exited", f"exited on {GOAL}", T0, messages_sent=0)
            await writer.journey.record_exit(ExitRecord(run, 5, outcome))

    async with store.sessions() as session:
        funnel = await analytics.journey_analytics(session, "sorted")
    assert funnel is not None
    finished = sum(to_the_end for _, to_the_end in runs)
    assert [(s.step, s.reached) for s in funnel.steps] == [
        ("check", len(runs)),
        ("big", 1),
        ("small", 2),
        ("mark", finished),
        ("bye", finished),
    ]
