"""Entry rules, goals and versions of declarative journeys, with simulated time: keyed entry,
each re-entry policy, the cap, a holdout that receives nothing but converts, and customers
finishing on the version they entered while a new one is published."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from journeys.store.definitions import set_status
from journeys.testing import JourneyTestKit, at
from tests.support.helpers import ADA_TRAITS, track


def cart_journey(key: str, *, entry: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "trigger": {"event": "Cart Abandoned"},
        "entry": entry or {},
        "exit_on": [
            {
                "event": "Order Completed",
                "where": "event.properties.cart_id == trigger.properties.cart_id",
            }
        ],
        "steps": [
            {"id": "pause", "type": "delay", "duration": "1h"},
            {"id": "sms", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
        ],
        **extra,
    }


async def test_keyed_entry_gives_one_run_per_cart_and_routes_exits_by_key() -> None:
    document = cart_journey("keyed", entry={"key": "event.properties.cart_id"})
    async with JourneyTestKit.start(definitions=[document]) as kit:
        result = await kit.run(
            "keyed",
            [
                at("0s", "Cart Abandoned", cart_id="A"),
                at("1m", "Cart Abandoned", cart_id="B"),
                at("2m", "Cart Abandoned", cart_id="A"),  # the same cart: the same run
                at("10m", "Order Completed", cart_id="A"),
            ],
            traits=ADA_TRAITS,
        )
    runs = {run.entry_key: run for run in result.runs}
    assert set(runs) == {"A", "B"}
    assert runs["A"].workflow_id.endswith("/A") and runs["B"].workflow_id.endswith("/B")
    assert (runs["A"].status, runs["B"].status) == ("exited", "completed")
    (sms,) = result.deliveries
    assert sms.status == "sent"


async def test_reentry_never_refuses_a_second_entry_with_the_reason() -> None:
    document = cart_journey("once", entry={"reentry": "never"})
    async with JourneyTestKit.start(definitions=[document]) as kit:
        result = await kit.run(
            "once",
            [at("0s", "Cart Abandoned", cart_id="A"), at("3h", "Cart Abandoned", cart_id="B")],
            traits=ADA_TRAITS,
        )
    first, second = result.runs
    assert first.status == "completed"
    assert second.status == "not_entered" and second.reason.startswith("re-entry is never")
    assert [o.status for o in result.outcomes] == ["completed", "not_entered"]
    assert len(result.deliveries) == 1


async def test_after_exit_with_a_cooldown() -> None:
    document = cart_journey("cool", entry={"reentry": "after_exit", "cooldown": "1d"})
    async with JourneyTestKit.start(definitions=[document]) as kit:
        result = await kit.run(
            "cool",
            [
                at("0s", "Cart Abandoned", cart_id="A"),
                at("30m", "Cart Abandoned", cart_id="B"),  # still inside: the same run
                at("5h", "Cart Abandoned", cart_id="C"),  # ended, but cooling down
                at("2d", "Cart Abandoned", cart_id="D"),  # cooled down
            ],
            traits=ADA_TRAITS,
        )
    assert [r.status for r in result.runs] == ["completed", "not_entered", "completed"]
    assert result.runs[1].reason.startswith("cooldown 1d")
    assert len(result.sent) == 2


async def test_always_runs_alongside_the_previous_run() -> None:
    document = cart_journey("every", entry={"reentry": "always"})
    async with JourneyTestKit.start(definitions=[document]) as kit:
        result = await kit.run(
            "every",
            [at("0s", "Cart Abandoned", cart_id="A"), at("10m", "Cart Abandoned", cart_id="B")],
            traits=ADA_TRAITS,
        )
        # An exit event without the entry key reaches every running run (found in the store).
        both = await kit.run(
            "every",
            [
                at("0s", "Cart Abandoned", cart_id="C"),
                at("5m", "Cart Abandoned", cart_id="C"),
                at("10m", "Order Completed", cart_id="C"),
            ],
            traits=ADA_TRAITS,
        )
    assert [r.status for r in result.runs] == ["completed", "completed"]
    assert len(result.sent) == 2
    assert [r.status for r in both.runs] == ["exited", "exited"]


async def test_the_cap_counts_entries_across_customers() -> None:
    document = cart_journey("capped", entry={"cap": 1})
    async with JourneyTestKit.start(definitions=[document]) as kit:
        first = await kit.run(
            "capped", [at("0s", "Cart Abandoned", cart_id="A")], traits=ADA_TRAITS
        )
        second = await kit.run(
            "capped", [at("0s", "Cart Abandoned", cart_id="B")], traits=ADA_TRAITS
        )
    assert first.runs[0].status == "completed"
    assert (second.runs[0].status, second.runs[0].reason) == (
        "not_entered",
        "entry cap of 1 reached",
    )


async def test_holdout_receives_nothing_but_converts_with_revenue() -> None:
    goal = {"event": "Order Completed", "within": "3d", "revenue": "event.properties.revenue"}
    holdout = cart_journey("held", entry={"holdout_percent": 100}, exit_on=[], goal=goal)
    treated = cart_journey("treated", exit_on=[], goal=goal)
    timeline = [
        at("0s", "Cart Abandoned", cart_id="A"),
        at("2h", "Order Completed", cart_id="A", revenue=42.5),
    ]
    async with JourneyTestKit.start(definitions=[holdout, treated]) as kit:
        held = await kit.run("held", timeline, traits=ADA_TRAITS)
        sent = await kit.run("treated", timeline, traits=ADA_TRAITS)
    assert held.runs[0].holdout is True and held.deliveries == []
    assert any(a.kind == "skipped" and a.data.get("code") == "holdout" for a in held.audit)
    assert [(c.event, c.revenue, c.holdout) for c in held.conversions] == [
        ("Order Completed", 42.5, True)
    ]
    assert held.outcome.status == "converted"
    assert sent.runs[0].holdout is False and len(sent.sent) == 1
    assert [(c.revenue, c.holdout) for c in sent.conversions] == [(42.5, False)]


async def test_a_goal_after_the_last_step_still_counts_within_its_window() -> None:
    goal = {"event": "Order Completed", "within": "1d", "revenue": "event.properties.revenue"}
    document = cart_journey("late-goal", exit_on=[], goal=goal)
    async with JourneyTestKit.start(definitions=[document]) as kit:
        late = await kit.run(
            "late-goal",
            [at("0s", "Cart Abandoned", cart_id="A"), at("5h", "Order Completed", revenue=9)],
            traits=ADA_TRAITS,
        )
        never = await kit.run(
            "late-goal", [at("0s", "Cart Abandoned", cart_id="B")], traits=ADA_TRAITS
        )
    assert late.outcome.status == "converted" and late.conversions[0].revenue == 9
    assert never.outcome.status == "completed" and never.conversions == []


async def test_customers_finish_on_the_version_they_entered() -> None:
    v1 = cart_journey("versioned")
    v2 = cart_journey("versioned")
    v2["steps"] = [
        {"id": "pause", "type": "delay", "duration": "2h"},
        {"id": "mail", "type": "send", "channel": "email", "template": "cart_recovery_email"},
    ]
    async with JourneyTestKit.start(definitions=[v1]) as kit:
        early = await kit.route(track("Cart Abandoned", "early", cart_id="E"))
        await kit.env.sleep(timedelta(minutes=30))
        assert await kit.publish(v2) == 2
        late = await kit.route(track("Cart Abandoned", "late", cart_id="L"))
        outcomes = await kit.finish(*early.started, *late.started)
        first = await kit.run("versioned", [], customer="early")
        second = await kit.run("versioned", [], customer="late")
    assert [o.status for o in outcomes] == ["completed", "completed"]
    assert [r.journey_version for r in first.runs] == [1]
    assert [d.channel for d in first.sent] == ["sms"]
    assert [r.journey_version for r in second.runs] == [2]
    assert [d.channel for d in second.sent] == ["email"]


async def test_a_paused_journey_takes_no_one_in_but_its_runs_go_on() -> None:
    document = cart_journey("pausable")
    async with JourneyTestKit.start(definitions=[document]) as kit:
        inside = await kit.route(track("Cart Abandoned", "inside", cart_id="I"))
        await set_status(kit.sessions, "pausable", "pause")
        await kit.refresh()
        refused = await kit.route(track("Cart Abandoned", "outside", cart_id="O"))
        exited = await kit.route(track("Order Completed", "inside", cart_id="I"))
        await kit.finish(*inside.started)
        result = await kit.run("pausable", [], customer="inside")
        await set_status(kit.sessions, "pausable", "resume")
        await kit.refresh()
        resumed = await kit.run(
            "pausable", [at("0s", "Cart Abandoned", cart_id="R")], traits=ADA_TRAITS
        )
    assert inside.started and refused.started == []
    assert exited.signalled == inside.started  # the run inside still hears its exit
    assert result.outcome.status == "exited"
    assert resumed.outcome.status == "completed"
