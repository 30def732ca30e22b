"""journeys.insight.analytics on SQLite and PostgreSQL: the funnel, which steps a journey's runs
reached and how many. A definition and a code journey run in journeys.testing's kit
(time-skipping Temporal, the worker, the router's logic) on the test's store, to show which
steps the funnel counts from the rows the DSL and the interpreter really write; a code journey's
named steps and the steps trait updates and exit steps name are checked on rows written by the
worker's own activities (tests/support/analytics_runs.py). Expected numbers are derived from
each test's plan of customers, never written out.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from journeys.contracts import (
    STEP_ID,
    AuditRecord,
    EntryRecord,
    ExitRecord,
    JourneyOutcome,
    RunRef,
    SendRequest,
    TraitsUpdate,
)
from journeys.delivery.templates_catalog import seed_templates
from journeys.examples import CartRecovery
from journeys.insight import analytics
from journeys.registry import register_code_journeys
from journeys.store.definitions import publish, save_draft
from journeys.temporal import workflow_id
from journeys.testing import JourneyTestKit, TimelineEvent, at
from tests.conftest import Store
from tests.support.analytics_runs import GOAL, T0, Writer, trigger_event
from tests.support.helpers import ADA_TRAITS
from tests.support.journeys.funnel import CodeFunnel


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
