"""Every step type of a declarative journey, run by the interpreter with simulated time.

Each test publishes a definition into a journeys.testing kit (real time-skipping server, worker,
router logic and store) and plays a timeline of events for one customer.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from journeys.store import customers
from journeys.testing import JourneyTestKit, at
from tests.support.helpers import ADA_TRAITS, ON_TIME, on_time
from tests.support.journeys.tour import TOUR, TOUR_AUDIT, TOUR_TIMELINE
from tests.support.local_servers import hook_receiver, serve_app


async def test_delay_branch_traits_send_wait_emit_and_exit() -> None:
    async with JourneyTestKit.start(definitions=[TOUR]) as kit:
        result = await kit.run(
            "def-tour",
            TOUR_TIMELINE,
            traits=ADA_TRAITS | {"plan": "gold"},
        )
        async with kit.sessions() as session:
            profile = await customers.profile(session, result.runs[0].customer_id)

    assert (result.outcome.status, result.outcome.reason) == ("exited", "tour finished")
    (sms,) = result.deliveries
    assert (sms.step, sms.template, sms.status) == ("sms", "cart_recovery_sms", "sent")
    assert on_time(sms.at, timedelta(minutes=15))
    assert profile is not None and profile.traits["tier"] == "vip"
    kinds = [a.kind for a in result.audit]
    assert kinds == TOUR_AUDIT
    branched = next(a for a in result.audit if a.kind == "branched")
    assert branched.reason == "vip: customer.plan == 'gold' is true"
    assert (branched.data["taken"], branched.data["condition"]) == (True, "customer.plan == 'gold'")
    received = next(a for a in result.audit if a.kind == "received")
    assert on_time(received.at, timedelta(minutes=40))


async def test_a_split_is_recorded_and_a_bounded_jump_ends_the_loop() -> None:
    async with JourneyTestKit.start(definitions=[TOUR]) as kit:
        result = await kit.run(
            "def-tour", [at("0s", "Cart Abandoned", cart_id="K2", total=42)], traits=ADA_TRAITS
        )
    assert (result.outcome.status, result.outcome.reason) == ("exited", "tour finished")
    split = next(a for a in result.audit if a.kind == "split")
    assert split.data["chosen"] in ("a", "b") and split.data["percent"] == 50
    jumps = [a.reason for a in result.audit if a.kind == "jumped"]
    assert jumps == ["again: back to look (1 of 2)", "again: back to look (2 of 2)"]
    jumped = [
        (a.data["to"], a.data["count"], a.data["max"]) for a in result.audit if a.kind == "jumped"
    ]
    assert jumped == [("look", 1, 2), ("look", 2, 2)]
    assert [a.kind for a in result.audit].count("timed_out") == 3
    ended = result.audit[-1]
    assert on_time(ended.at, timedelta(minutes=15) + timedelta(hours=3))


async def test_trigger_and_exit_filters() -> None:
    async with JourneyTestKit.start(definitions=[TOUR]) as kit:
        small = await kit.run(
            "def-tour", [at("0s", "Cart Abandoned", cart_id="K3", total=5)], traits=ADA_TRAITS
        )
        other_cart = await kit.run(
            "def-tour",
            [
                at("0s", "Cart Abandoned", cart_id="K4", total=50),
                at("5m", "Order Completed", cart_id="K9"),
                at("10m", "Order Completed", cart_id="K4"),
            ],
            traits=ADA_TRAITS,
        )
    assert small.runs == [] and small.outcomes == []
    assert (other_cart.outcome.status, other_cart.outcome.reason) == (
        "exited",
        "exited on Order Completed",
    )
    assert other_cart.deliveries == []
    assert on_time(other_cart.audit[-1].at, timedelta(minutes=10))


async def test_wait_since_entry_counts_an_event_that_came_before_the_wait() -> None:
    document = {
        "key": "def-since-entry",
        "trigger": {"event": "Signed Up"},
        "steps": [
            {"id": "settle", "type": "delay", "duration": "1h"},
            {
                "id": "active",
                "type": "wait",
                "since": "entry",
                "events": [{"event": "Activated", "next": "thanks"}],
                "timeout": "1d",
            },
            {"id": "nudge", "type": "send", "channel": "email", "template": "welcome_tips_email"},
            {"id": "stop", "type": "exit", "reason": "nudged"},
            {"id": "thanks", "type": "send", "channel": "email", "template": "welcome_email"},
        ],
    }
    async with JourneyTestKit.start(definitions=[document]) as kit:
        result = await kit.run(
            "def-since-entry", [at("0s", "Signed Up"), at("10m", "Activated")], traits=ADA_TRAITS
        )
    assert result.outcome.status == "completed"
    (thanks,) = result.deliveries
    assert thanks.template == "welcome_email"
    assert on_time(thanks.at, timedelta(hours=1))


async def test_delay_until_a_property_date_and_until_a_local_window() -> None:
    document = {
        "key": "def-until",
        "trigger": {"event": "Appointment Booked"},
        "steps": [
            {
                "id": "eve",
                "type": "delay",
                "until": "trigger.properties.starts_at",
                "offset": "-1d",
            },
            {"id": "remind", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
            {
                "id": "office",
                "type": "delay",
                "window": {
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "09:00",
                    "end": "10:00",
                },
            },
            {"id": "mail", "type": "send", "channel": "email", "template": "welcome_email"},
        ],
    }
    async with JourneyTestKit.start(definitions=[document]) as kit:
        now = await kit.env.get_current_time()
        starts = (now + timedelta(days=3)).replace(microsecond=0)
        result = await kit.run(
            "def-until",
            [at("0s", "Appointment Booked", starts_at=starts.isoformat())],
            traits=ADA_TRAITS | {"timezone": "Europe/Paris"},
        )
    sms, email = result.deliveries
    assert abs(sms.at - timedelta(days=2)) < ON_TIME
    sent_local = email.requested_at.astimezone(ZoneInfo("Europe/Paris"))
    assert sent_local.weekday() < 5 and sent_local.hour == 9, sent_local
    assert email.at >= sms.at


async def test_a_webhook_step_posts_the_evaluated_body() -> None:
    app, received = hook_receiver()

    async with serve_app(app) as base:
        document = {
            "key": "def-webhook",
            "trigger": {"event": "Order Completed"},
            "steps": [
                {
                    "id": "crm",
                    "type": "webhook",
                    "url": f"{base}/hook",
                    "body": {
                        "order": "trigger.properties.order_id",
                        "vip": "customer.plan == 'gold'",
                    },
                }
            ],
        }
        async with JourneyTestKit.start(
            definitions=[document],
            webhook_allow_private_targets=True,
            webhook_secret="webhook-test-signing-key",
        ) as kit:
            result = await kit.run(
                "def-webhook", [at("0s", "Order Completed", order_id="O7")], traits={"plan": "gold"}
            )
    assert result.outcome.status == "completed"
    (body,) = received
    assert body["data"] == {"order": "O7", "vip": True}
    assert body["journey"] == "def-webhook"
    assert [a.kind for a in result.audit] == ["entered", "webhook_called", "completed"]


async def test_ab_variants_pick_one_template_per_run_and_record_it() -> None:
    document = {
        "key": "def-ab",
        "trigger": {"event": "Signed Up"},
        "steps": [
            {
                "id": "hello",
                "type": "send",
                "channel": "email",
                "variants": [
                    {"name": "plain", "template": "welcome_email", "percent": 50},
                    {"name": "tips", "template": "welcome_tips_email", "percent": 50},
                ],
            }
        ],
    }
    chosen: set[str] = set()
    async with JourneyTestKit.start(definitions=[document]) as kit:
        for _ in range(8):
            result = await kit.run("def-ab", [at("0s", "Signed Up")], traits=ADA_TRAITS)
            (delivery,) = result.deliveries
            variant = next(a for a in result.audit if a.kind == "variant")
            expected = {"plain": "welcome_email", "tips": "welcome_tips_email"}
            assert delivery.template == expected[variant.data["chosen"]]
            chosen.add(variant.data["chosen"])
    assert chosen == {"plain", "tips"}  # 8 runs at 50/50: both, but for 1 chance in 128
