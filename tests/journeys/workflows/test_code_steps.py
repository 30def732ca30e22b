"""Every step type in a code journey, with simulated time: the same vocabulary as definitions
(test_definition_steps.py), through the DSL's methods."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from journeys.store import customers
from journeys.testing import JourneyTestKit, at
from tests.support.helpers import ADA_TRAITS, ON_TIME, on_time
from tests.support.journeys.steps import CodeAB, CodeSinceEntry, CodeTour, CodeUntil, CodeWebhook
from tests.support.journeys.tour import TOUR_AUDIT, TOUR_TIMELINE
from tests.support.local_servers import hook_receiver, serve_app


async def test_delay_branch_traits_send_wait_emit_and_exit() -> None:
    async with JourneyTestKit.start(journeys=[CodeTour]) as kit:
        result = await kit.run(
            "test-code-tour",
            TOUR_TIMELINE,
            traits=ADA_TRAITS | {"plan": "gold"},
        )
        async with kit.sessions() as session:
            profile = await customers.profile(session, result.runs[0].customer_id)
    assert (result.outcome.status, result.outcome.reason) == ("exited", "tour finished")
    (sms,) = result.deliveries
    assert on_time(sms.at, timedelta(minutes=15))
    assert profile is not None and profile.traits["tier"] == "vip"
    assert [a.kind for a in result.audit] == TOUR_AUDIT


async def test_split_loop_and_filters() -> None:
    async with JourneyTestKit.start(journeys=[CodeTour]) as kit:
        looped = await kit.run(
            "test-code-tour",
            [at("0s", "Cart Abandoned", cart_id="K2", total=42)],
            traits=ADA_TRAITS,
        )
        small = await kit.run(
            "test-code-tour", [at("0s", "Cart Abandoned", cart_id="K3", total=5)], traits=ADA_TRAITS
        )
        bought = await kit.run(
            "test-code-tour",
            [
                at("0s", "Cart Abandoned", cart_id="K4", total=50),
                at("5m", "Order Completed", cart_id="K9"),
                at("10m", "Order Completed", cart_id="K4"),
            ],
            traits=ADA_TRAITS,
        )
    assert next(a for a in looped.audit if a.kind == "split").data["chosen"] in ("a", "b")
    assert [a.kind for a in looped.audit].count("timed_out") == 3
    assert small.runs == []
    assert bought.outcome.reason == "exited on Order Completed" and bought.deliveries == []


async def test_sleep_until_a_date_and_a_local_window() -> None:
    async with JourneyTestKit.start(journeys=[CodeUntil]) as kit:
        now = await kit.env.get_current_time()
        starts = now + timedelta(days=3)
        result = await kit.run(
            "test-code-until",
            [at("0s", "Appointment Booked", starts_at=starts.isoformat())],
            traits=ADA_TRAITS | {"timezone": "Europe/Paris"},
        )
    sms, email = result.deliveries
    assert abs(sms.at - timedelta(days=2)) < ON_TIME
    local = email.requested_at.astimezone(ZoneInfo("Europe/Paris"))
    assert local.weekday() < 5 and local.hour == 9, local


async def test_wait_since_entry() -> None:
    async with JourneyTestKit.start(journeys=[CodeSinceEntry]) as kit:
        early = await kit.run(
            "test-code-since", [at("0s", "Signed Up"), at("10m", "Activated")], traits=ADA_TRAITS
        )
    (thanks,) = early.deliveries
    assert thanks.step == "thanks" and on_time(thanks.at, timedelta(hours=1))


async def test_call_webhook() -> None:
    app, received = hook_receiver()

    async with (
        serve_app(app) as base,
        JourneyTestKit.start(
            journeys=[CodeWebhook],
            webhook_allow_private_targets=True,
            webhook_secret="webhook-test-signing-key",
        ) as kit,
    ):
        result = await kit.run(
            "test-code-webhook", [at("0s", "Order Completed", order_id="O7", hook=f"{base}/hook")]
        )
    assert result.outcome.status == "completed"
    assert [body["data"] for body in received] == [{"order": "O7"}]


async def test_ab_variants() -> None:
    seen: set[str] = set()
    async with JourneyTestKit.start(journeys=[CodeAB]) as kit:
        for _ in range(8):
            result = await kit.run("test-code-ab", [at("0s", "Signed Up")], traits=ADA_TRAITS)
            (delivery,) = result.deliveries
            chosen = next(a for a in result.audit if a.kind == "variant").data["chosen"]
            assert (
                delivery.template
                == {"plain": "welcome_email", "tips": "welcome_tips_email"}[chosen]
            )
            seen.add(chosen)
    assert seen == {"plain", "tips"}
