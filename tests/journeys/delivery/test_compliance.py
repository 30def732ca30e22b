"""Compliance at send time, end to end: consent, suppression, quiet hours and frequency caps, on
Temporal's time-skipping server with a real worker and store.

Most tests apply consent events directly (``apply_consent`` below, which inspects the change):
identify traits through ``consent.apply_traits``, provider events through ``consent.apply_event``,
a change that ends marketing signalling the runs with ``Suppressed``. The router does the same
for routed events (tests/journeys/workflows/test_identity_and_inactivity.py checks that path).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow

from journeys import Journey, JourneyEvent, journey

with workflow.unsafe.imports_passed_through():
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager
    from dataclasses import replace
    from pathlib import Path
    from zoneinfo import ZoneInfo

    import pytest
    from sqlalchemy import delete, select
    from temporalio.testing import WorkflowEnvironment

    from journeys.contracts import SUPPRESSED_EVENT
    from journeys.delivery.compliance import address_hash
    from journeys.ingest.commands import RouteResult, carry_out
    from journeys.ingest.consent import update_consent
    from journeys.ingest.events import Event
    from journeys.ingest.identify import apply_identity
    from journeys.ingest.pipeline import EventPipeline
    from journeys.ingest.webhooks import names
    from journeys.store import consent
    from journeys.store.consent import ConsentChange
    from journeys.store.models import Consent, Customer, Delivery, JourneyRun, Suppression
    from journeys.temporal import workflow_id
    from tests.conftest import Store, new_time_skipping
    from tests.support.fixtures import journeys_running
    from tests.support.helpers import (
        audit_of,
        customer_id,
        deliveries_of,
        eventually,
        journey_outcome,
        runs_of,
        track,
    )


async def _send_script(self: Journey, trigger: JourneyEvent) -> None:
    """Waits ``wait_hours``, then sends each of ``sends``: {channel, category, group} (the
    email ``note``, or the text ``text_note`` on other channels)."""
    hours = trigger.properties.get("wait_hours")
    if hours:
        await self.sleep(timedelta(hours=hours))
    for number, send in enumerate(trigger.properties.get("sends", [])):
        channel = send.get("channel", "email")
        await self.send(
            channel,
            "note" if channel == "email" else "text_note",
            step=f"{channel}:{number}",
            category=send.get("category"),
            group=send.get("group"),
        )


@journey(key="test-compliance", trigger="Compliance Test", exit_on=["Order Completed"])
class Scripted(Journey):
    """A marketing journey sending what its trigger lists."""

    async def run(self, trigger: JourneyEvent) -> None:
        await _send_script(self, trigger)


@journey(key="test-compliance-other", trigger="Compliance Other")
class OtherScripted(Journey):
    """A second marketing journey: frequency caps count across journeys."""

    async def run(self, trigger: JourneyEvent) -> None:
        await _send_script(self, trigger)


@journey(key="test-compliance-receipts", trigger="Receipt Test")
class Receipts(Journey):
    """A transactional journey: a suppression does not end it."""

    category = "transactional"

    async def run(self, trigger: JourneyEvent) -> None:
        await _send_script(self, trigger)


JOURNEYS: list[type[Journey]] = [Scripted, OtherScripted, Receipts]
EMAIL = "ada@example.com"
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A clock of the test's own: quiet-hours deferrals are timers the server must skip over,
    which stalls on the shared server once an earlier test's worker is gone."""
    async with new_time_skipping() as env:
        yield env


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, store: Store, tmp_path: Path, **settings: Any
) -> AsyncIterator[EventPipeline]:
    """A worker and a router with the compliance ``settings`` (SMS opt-in required, cap of 3)."""
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "note.txt.j2").write_text("Note for {{ customer.first_name | default('you') }}")
    (folder / "note.subject.j2").write_text("A note")
    (folder / "text_note.txt.j2").write_text("Note for {{ customer.first_name | default('you') }}")
    store.settings = store.settings.model_copy(
        update={
            "templates_dir": folder,
            "consent_opt_in_channels": ["sms"],
            "frequency_cap": 3,
            **settings,
        }
    )
    async with journeys_running(env.client, store.settings, store.sessions, JOURNEYS) as router:
        yield router


def identify(customer: str, **traits: Any) -> Event:
    return Event.model_validate({"type": "identify", "userId": customer, "traits": traits})


def scripted(
    customer: str, *sends: dict[str, Any], name: str = "Compliance Test", **props: Any
) -> Event:
    return track(name, customer, sends=list(sends), **props)


async def apply_consent(router: EventPipeline, event: Event) -> ConsentChange:
    """Apply an event's consent as the router does before routing it (its Suppressed signals
    sent), and show the change."""
    identity = await apply_identity(router.sessions, router.index, event)
    source = replace(event.to_journey_event(), customer_id=identity.customer_id)
    update = await update_consent(router.sessions, router.settings, event, identity, source)
    await carry_out(router.client, router.settings, [*update.signals], RouteResult())
    return update.change


async def outcome_of(env: WorkflowEnvironment, key: str, customer: str) -> tuple[str, str, int]:
    outcome = await journey_outcome(env, workflow_id(key, customer))
    return outcome.status, outcome.reason, outcome.messages_sent


async def statuses(store: Store, customer: str) -> list[tuple[str, str, str]]:
    """(step, status, reason) of each delivery; the send activity's own reasons are its to
    word, so a sent row shows ``sent`` only."""
    return [
        (d.step, d.status, "" if d.status == "sent" else d.reason)
        for d in await deliveries_of(store.sessions, customer)
    ]


async def skips(store: Store, customer: str) -> list[tuple[str | None, str, str]]:
    return [
        (a.step, a.reason, a.data["compliance"])
        for a in await audit_of(store.sessions, customer)
        if a.kind == "skipped"
    ]


MARKETING_EMAIL = {"channel": "email"}
TRANSACTIONAL_EMAIL = {"channel": "email", "category": "transactional"}


async def test_a_hard_bounced_address_gets_nothing_and_the_reason_is_audited(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    async with running(time_skipping, store, tmp_path) as router:
        await router.route(identify(customer, email=EMAIL))
        bounce = track(names.EMAIL_BOUNCED, customer, bounce_type="hard", reason="550 no such user")
        change = await apply_consent(router, bounce)
        assert change.suppressions == [("email", "hard_bounce")]

        await router.route(scripted(customer, MARKETING_EMAIL, TRANSACTIONAL_EMAIL))
        assert await outcome_of(time_skipping, "test-compliance", customer) == (
            "completed",
            "completed all steps",
            0,
        )
    reason = "email address suppressed (hard bounce)"
    assert await statuses(store, customer) == [
        ("email:0", "skipped", reason),
        ("email:1", "skipped", reason),
    ]
    assert await skips(store, customer) == [
        ("email:0", reason, "suppressed"),
        ("email:1", reason, "suppressed"),
    ]
    # The suppression holds the address's hash only.
    async with store.sessions() as session:
        (row,) = (await session.scalars(select(Suppression))).all()
    assert (row.channel, row.reason, row.scope) == ("email", "hard_bounce", "all")
    assert row.address_hash == address_hash("email", EMAIL)


async def test_sms_marketing_needs_an_opt_in_and_the_skip_is_audited(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    sms = {"channel": "sms"}
    async with running(time_skipping, store, tmp_path) as router:
        await router.route(scripted(customer, sms, {"channel": "sms", "category": "transactional"}))
        assert await outcome_of(time_skipping, "test-compliance", customer) == (
            "completed",
            "completed all steps",
            1,
        )
        reason = "no sms marketing opt-in (sms marketing needs one)"
        assert await statuses(store, customer) == [
            ("sms:0", "skipped", reason),
            ("sms:1", "sent", ""),
        ]
        assert await skips(store, customer) == [("sms:0", reason, "no_opt_in")]

        # Once the customer opts in (identify traits, applied by the router), the next run's
        # SMS goes out.
        await router.route(identify(customer, consent={"sms": True}))
        await router.route(scripted(customer, sms))
        assert (await outcome_of(time_skipping, "test-compliance", customer))[2] == 1
    assert (await statuses(store, customer))[-1][:2] == ("sms:0", "sent")


async def test_transactional_goes_out_despite_a_marketing_opt_out(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    async with running(time_skipping, store, tmp_path) as router:
        await router.route(identify(customer, email=EMAIL))
        unsubscribe = track(names.UNSUBSCRIBED, customer)
        change = await apply_consent(router, unsubscribe)
        assert change.consents == [("channel", "email", "opted_out")]
        assert change.suppressions == [("email", "unsubscribe")]
        await router.route(scripted(customer, MARKETING_EMAIL, TRANSACTIONAL_EMAIL))
        assert (await outcome_of(time_skipping, "test-compliance", customer))[2] == 1
    reason = "email address suppressed (unsubscribe)"
    assert await statuses(store, customer) == [
        ("email:0", "skipped", reason),
        ("email:1", "sent", ""),
    ]
    assert await skips(store, customer) == [("email:0", reason, "suppressed")]


async def test_a_group_unsubscribe_skips_that_groups_messages_only(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    async with running(
        time_skipping, store, tmp_path, subscription_groups_by_asm_id={"42": "newsletter"}
    ) as router:
        await apply_consent(router, track(names.GROUP_UNSUBSCRIBED, customer, asm_group_id=42))
        await router.route(
            scripted(customer, {"channel": "email", "group": "newsletter"}, MARKETING_EMAIL)
        )
        assert (await outcome_of(time_skipping, "test-compliance", customer))[2] == 1
    reason = "customer left the subscription group 'newsletter'"
    assert [s[:2] for s in await statuses(store, customer)] == [
        ("email:0", "skipped"),
        ("email:1", "sent"),
    ]
    assert await skips(store, customer) == [("email:0", reason, "group_opted_out")]


def quiet_window(now: datetime, zone: ZoneInfo) -> tuple[str, datetime]:
    """A window around ``now`` in ``zone`` and the instant it ends (Tokyo has no DST)."""
    local = now.astimezone(zone).replace(second=0, microsecond=0)
    start, end = local - timedelta(hours=1), local + timedelta(hours=3)
    return f"{start:%H:%M}-{end:%H:%M}", end.astimezone(UTC)


async def test_quiet_hours_defer_a_marketing_send_to_the_windows_end_in_the_customers_zone(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    window, opening = quiet_window(await time_skipping.get_current_time(), TOKYO)
    async with running(time_skipping, store, tmp_path, quiet_hours=window) as router:
        await router.route(identify(customer, email=EMAIL, timezone="Asia/Tokyo"))
        await router.route(scripted(customer, TRANSACTIONAL_EMAIL, MARKETING_EMAIL))
        assert (await outcome_of(time_skipping, "test-compliance", customer))[2] == 2

    receipt, note = await deliveries_of(store.sessions, customer)
    assert (receipt.status, note.status) == ("sent", "sent")
    # The receipt went at once; the marketing note at the window's end, Tokyo time.
    assert receipt.requested_at < opening - timedelta(hours=2)
    assert note.requested_at == opening
    assert note.requested_at.astimezone(TOKYO).strftime("%H:%M") == window[-5:]
    audit = await audit_of(store.sessions, customer)
    (deferred,) = [a for a in audit if a.kind == "deferred"]
    assert deferred.step == "email:1"
    local = opening.astimezone(TOKYO).isoformat()
    assert deferred.reason == f"quiet hours {window} in Asia/Tokyo: deferred until {local}"
    assert deferred.data["until"] == opening.isoformat()
    assert deferred.data["compliance"] == "quiet_hours"
    assert [a.kind for a in audit] == ["entered", "sent", "deferred", "sent", "completed"]


async def test_an_exit_during_a_quiet_hours_deferral_ends_the_run_with_nothing_sent(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    window, _ = quiet_window(await time_skipping.get_current_time(), TOKYO)
    async with running(time_skipping, store, tmp_path, quiet_hours=window) as router:
        await router.route(identify(customer, timezone="Asia/Tokyo"))
        await router.route(scripted(customer, MARKETING_EMAIL))

        async def deferred() -> None:
            assert "deferred" in [a.kind for a in await audit_of(store.sessions, customer)]

        await eventually(deferred)
        await router.route(track("Order Completed", customer))
        assert await outcome_of(time_skipping, "test-compliance", customer) == (
            "exited",
            "exited on Order Completed",
            0,
        )
    assert await deliveries_of(store.sessions, customer) == []
    kinds = [a.kind for a in await audit_of(store.sessions, customer)]
    assert kinds == ["entered", "deferred", "exited"]


async def test_the_fourth_marketing_message_of_the_day_is_skipped_across_journeys(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    customer = customer_id()

    async def completed(key: str) -> None:
        runs = await runs_of(store.sessions, customer)
        assert [r.status for r in runs if r.journey_key == key] == ["completed"]

    # Waiting on the store, not on the run's result, keeps the clock still: unlocked, the
    # time-skipping server may leap years ahead between the two journeys.
    async with running(time_skipping, store, tmp_path) as router:
        await router.route(scripted(customer, MARKETING_EMAIL, MARKETING_EMAIL))
        await eventually(lambda: completed("test-compliance"))
        await router.route(
            scripted(
                customer,
                MARKETING_EMAIL,
                MARKETING_EMAIL,
                TRANSACTIONAL_EMAIL,
                name="Compliance Other",
            )
        )
        await eventually(lambda: completed("test-compliance-other"))
    reason = "frequency cap: 3 marketing messages in the last 24 h (at most 3)"
    assert [(d.step, d.status) for d in await deliveries_of(store.sessions, customer)] == [
        ("email:0", "sent"),
        ("email:1", "sent"),
        ("email:0", "sent"),
        ("email:1", "skipped"),
        ("email:2", "sent"),
    ]
    assert await skips(store, customer) == [("email:1", reason, "frequency_cap")]


async def test_a_suppression_ends_running_marketing_journeys_but_not_transactional_ones(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    async with running(time_skipping, store, tmp_path) as router:
        await router.route(identify(customer, email=EMAIL))
        await router.route(scripted(customer, MARKETING_EMAIL, wait_hours=2))
        await router.route(
            scripted(customer, TRANSACTIONAL_EMAIL, wait_hours=2, name="Receipt Test")
        )

        async def both_waiting() -> None:
            kinds = [a.kind for a in await audit_of(store.sessions, customer)]
            assert kinds.count("waiting") == 2

        await eventually(both_waiting)
        spam = track(names.EMAIL_MARKED_AS_SPAM, customer)
        change = await apply_consent(router, spam)
        assert change.ends_marketing and change.reasons == ["spam_complaint", "email opt-out"]
        assert await outcome_of(time_skipping, "test-compliance", customer) == (
            "exited",
            f"exited on {SUPPRESSED_EVENT}",
            0,
        )
        assert await outcome_of(time_skipping, "test-compliance-receipts", customer) == (
            "completed",
            "completed all steps",
            1,
        )
        # A redelivered complaint changes nothing and signals no one.
        assert not (await apply_consent(router, spam)).ends_marketing
    (receipt,) = await deliveries_of(store.sessions, customer)
    assert (receipt.step, receipt.status) == ("email:0", "sent")


# --- the store alone -------------------------------------------------------------------------


async def add_delivery(store: Store, customer: str, channel: str, recipient: str) -> int:
    async with store.sessions.begin() as session:
        run = JourneyRun(
            id=f"run-{customer}",
            workflow_id=f"journey/x/{customer}",
            journey_key="x",
            journey_version=1,
            customer_id=customer,
            trigger_event="X",
            trigger_message_id=f"m-{customer}",
            started_at=datetime.now(UTC),
        )
        delivery = Delivery(
            run_id=run.id,
            customer_id=customer,
            step="s",
            channel=channel,
            provider="console",
            template="t",
            recipient=recipient,
            status="sent",
            requested_at=datetime.now(UTC),
        )
        session.add_all([run, delivery])
        await session.flush()
        return delivery.id


async def suppressed(store: Store, channel: str, address: str) -> list[tuple[str, str]]:
    async with store.sessions() as session:
        hits = await consent.suppressions_of(session, channel, address)
    return sorted((h.reason, h.scope) for h in hits)


async def apply(store: Store, customer: str, name: str, **properties: Any) -> ConsentChange:
    async with store.sessions.begin() as session:
        return await consent.apply_event(
            session, customer, name, properties, at=datetime.now(UTC), source_id=name
        )


async def test_webhook_events_feed_the_suppression_list(store: Store) -> None:
    customer = customer_id()
    async with store.sessions.begin() as session:
        session.add(Customer(id=customer, traits={"email": "now@example.com", "phone": "+1555"}))
    # The bounce is about the address the message went to, not the profile's current one.
    old = await add_delivery(store, customer, "email", "Old@Example.com")
    await apply(store, customer, names.EMAIL_BOUNCED, bounce_type="soft", delivery_id=old)
    assert await suppressed(store, "email", "old@example.com") == []
    await apply(store, customer, names.EMAIL_BOUNCED, bounce_type="hard", delivery_id=str(old))
    assert await suppressed(store, "email", "old@example.com") == [("hard_bounce", "all")]
    assert await suppressed(store, "email", "now@example.com") == []

    await apply(store, customer, names.EMAIL_DROPPED, reason="Spam Reporting Address")
    assert await suppressed(store, "email", "NOW@example.com") == [("spam_complaint", "marketing")]

    change = await apply(store, customer, names.SMS_FAILED, error_code="30003")  # unreachable
    assert not change.ends_marketing
    await apply(store, customer, names.SMS_UNDELIVERED, error_code="21211")
    assert await suppressed(store, "sms", "+1 555") == [("invalid_address", "all")]
    change = await apply(store, customer, names.SMS_FAILED, error_code="21610")
    assert change.consents == [("channel", "sms", "opted_out")]
    assert await suppressed(store, "sms", "+1555") == [
        ("invalid_address", "all"),
        ("unsubscribe", "all"),
    ]

    nothing = await apply(store, customer, names.EMAIL_OPENED)
    assert nothing == ConsentChange() and not nothing.ends_marketing


async def test_a_suppression_outlives_the_erased_profile(store: Store) -> None:
    first, second = customer_id(), customer_id()
    async with store.sessions.begin() as session:
        session.add(Customer(id=first, traits={"email": " Ada@Example.com"}))
    await apply(store, first, names.UNSUBSCRIBED)
    async with store.sessions.begin() as session:
        await session.execute(delete(Customer).where(Customer.id == first))
        await session.execute(delete(Consent).where(Consent.customer_id == first))
        rows = (await session.scalars(select(Suppression))).all()
    # Nothing left says whose address it was, or what it was...
    assert all("ada" not in str(vars(r)).lower() for r in rows)
    # ...yet a new profile with the same address, written differently, is still suppressed.
    async with store.sessions.begin() as session:
        session.add(Customer(id=second, traits={"email": "ADA@example.com"}))
    assert await suppressed(store, "email", "ada@example.com") == [("unsubscribe", "marketing")]


async def test_consent_from_traits_keeps_the_latest_word_and_an_opt_in_lifts_an_unsubscribe(
    store: Store,
) -> None:
    customer = customer_id()
    now = datetime.now(UTC)
    async with store.sessions.begin() as session:
        session.add(Customer(id=customer, traits={"email": EMAIL}))
    await apply(store, customer, names.UNSUBSCRIBED)
    await apply(store, customer, names.EMAIL_MARKED_AS_SPAM)

    async def traits(at: datetime, **given: Any) -> ConsentChange:
        async with store.sessions.begin() as session:
            return await consent.apply_traits(session, customer, {"consent": given}, at=at)

    # An identify older than the unsubscribe does not undo it.
    stale = await traits(now - timedelta(days=1), email=True)
    assert stale.consents == []
    change = await traits(
        now + timedelta(seconds=1), email=True, sms="yes", groups={"newsletter": False}
    )
    assert change.consents == [
        ("channel", "email", "opted_in"),
        ("group", "newsletter", "opted_out"),
    ]
    assert not change.ends_marketing
    # The unsubscribe is lifted by the opt-in; the spam complaint stays.
    assert await suppressed(store, "email", EMAIL) == [("spam_complaint", "marketing")]
    async with store.sessions() as session:
        status = await consent.consent_status(session, [customer], "email", "newsletter")
    assert status == ("opted_in", "opted_out")
    assert (await traits(now + timedelta(seconds=2), email=True)).consents == []
    async with store.sessions.begin() as session:
        assert (
            await consent.apply_traits(session, customer, {"consent": "yes"}, at=now)
        ).consents == []
