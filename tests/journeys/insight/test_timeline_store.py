"""The timeline store on SQLite and PostgreSQL: a run's story merged from what the activities
wrote (audit rows, deliveries, the conversion) and what providers reported since (delivery
events), in time order whatever order it was written in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from journeys.activities.compliance import ComplianceActivities
from journeys.activities.journey import JourneyActivities
from journeys.activities.steps import StepActivities
from journeys.contracts import (
    SKIP,
    AuditRecord,
    ComplianceCheck,
    ConversionRecord,
    EntryRecord,
    ExitRecord,
    JourneyOutcome,
    RunRef,
    SendRequest,
)
from journeys.delivery.channels import build_providers
from journeys.delivery.channels.webhook import WebhookProvider
from journeys.delivery.compliance import Policy
from journeys.delivery.templates_catalog import TemplateCatalog, seed_templates
from journeys.ingest.events import Event
from journeys.ingest.webhooks import names
from journeys.ingest.webhooks.mapping import deliveries_by_id, delivery_event
from journeys.ingest.webhooks.recording import record_delivery_events
from journeys.insight.timeline import customer_timeline, run_timeline
from journeys.store import customers
from journeys.store.models import Delivery, DeliveryEvent
from journeys.temporal import workflow_id
from tests.conftest import Store, make_settings
from tests.support.helpers import customer_id, deliveries_of, track

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KEY = "tour"
SHOP = "https://shop.example.com/cart/K1"


def new_run(customer: str, key: str = KEY) -> RunRef:
    return RunRef(
        run_id=str(uuid.uuid4()),
        workflow_id=workflow_id(key, customer),
        journey_key=key,
        journey_version=1,
        customer_id=customer,
    )


async def report(store: Store, delivery: Delivery, name: str, at: datetime, **extra: Any) -> Event:
    """What a provider webhook or our tracking would record about ``delivery``."""
    async with store.sessions() as session:
        ref = (await deliveries_by_id(session, [delivery.id]))[delivery.id]
        event = delivery_event(
            ref,
            name,
            message_id=f"test:{uuid.uuid4().hex}",
            source=extra.pop("source", names.SOURCE_SENDGRID),
            timestamp=at,
            **extra,
        )
        await record_delivery_events(session, [event])
        await session.commit()
    return event


async def play_story(store: Store, tmp_path: Path, customer: str) -> RunRef:
    """Entered; an email sent, delivered, opened twice and clicked twice; a wait; a branch; an
    SMS skipped for want of an opt-in; an email deferred by quiet hours; a conversion; an exit.
    Written by the real activities, some audit rows out of order as retries may write them."""
    await seed_templates(store.sessions, store.settings)
    settings = make_settings(tmp_path, consent_opt_in_channels=["sms"])
    activities = JourneyActivities(
        store.sessions, TemplateCatalog(store.sessions), build_providers(store.settings)
    )
    compliance = ComplianceActivities(store.sessions, Policy.from_settings(settings))
    steps = StepActivities(store.sessions, settings, _no_publish, WebhookProvider(settings))
    trigger = track("Cart Abandoned", customer, cart_id="K1", total=120.5).to_journey_event()
    run = new_run(customer)
    await activities.record_entry(EntryRecord(run, trigger, entered_at=T0))
    await activities.record_audit(
        AuditRecord(
            run,
            3,
            "waiting",
            "waiting 1 h",
            T0,
            step="waiting 1 h",
            data={"until": (T0 + timedelta(hours=1)).isoformat()},
        )
    )
    entered = {"event": trigger.name, "message_id": trigger.message_id}
    await activities.record_audit(
        AuditRecord(run, 1, "entered", "entered on Cart Abandoned", T0, data=entered)
    )
    sent = await activities.send_message(
        SendRequest(run, 2, "email-1", "email", "cart_recovery_email", trigger, T0)
    )
    assert sent.status == "sent"
    (email,) = await deliveries_of(store.sessions, customer)
    delivered = await report(store, email, names.EMAIL_DELIVERED, T0 + timedelta(minutes=1))
    for minutes in (5, 9):
        await report(
            store, email, names.EMAIL_OPENED, T0 + timedelta(minutes=minutes), source="tracking"
        )
    for minutes in (6, 10):
        await report(
            store, email, names.EMAIL_LINK_CLICKED, T0 + timedelta(minutes=minutes), url=SHOP
        )
    async with store.sessions() as session:  # SendGrid retrying the delivered report
        await record_delivery_events(session, [delivered])
        await session.commit()

    later = T0 + timedelta(hours=1)
    await activities.record_audit(
        AuditRecord(
            run,
            4,
            "branched",
            "big_cart: trigger.properties.total > 100 is true",
            later,
            data={"branch": "big_cart", "taken": True},
        )
    )
    sms = SendRequest(run, 5, "sms-1", "sms", "cart_recovery_sms", trigger, later)
    assert (await compliance.check_send(ComplianceCheck(sms))).action == SKIP
    reminder = SendRequest(run, 6, "email-2", "email", "cart_recovery_email", trigger, later)
    await compliance.check_send(ComplianceCheck(reminder, quiet_hours="09:30-12:00"))

    order = Event.model_validate(
        {
            "event": "Order Completed",
            "userId": customer,
            "timestamp": T0 + timedelta(hours=2),
            "properties": {"total": 120.5},
        }
    ).to_journey_event()
    await steps.record_conversion(ConversionRecord(run, 7, order, revenue=120.5, holdout=False))
    outcome = JourneyOutcome("exited", "exited on Cart Emptied", T0 + timedelta(hours=3), 1)
    await activities.record_exit(ExitRecord(run, 8, outcome))
    return run


async def _no_publish(event: Event) -> None:
    raise AssertionError(f"nothing is emitted in this story, yet {event.name} was")


async def test_a_run_tells_its_story_in_time_order(store: Store, tmp_path: Path) -> None:
    customer = customer_id()
    run = await play_story(store, tmp_path, customer)

    async with store.sessions() as session:
        timeline = await run_timeline(session, run.run_id)
    (email, *_) = await deliveries_of(store.sessions, customer)

    assert timeline is not None
    assert (timeline.id, timeline.run_id, timeline.workflow_id) == (
        run.run_id,
        run.run_id,
        run.workflow_id,
    )
    assert (timeline.status, timeline.reason) == ("exited", "exited on Cart Emptied")
    assert [(e.kind, e.at - T0) for e in timeline.entries] == [
        ("entered", timedelta(0)),
        ("sent", timedelta(0)),
        ("waiting", timedelta(0)),
        ("branched", timedelta(hours=1)),
        ("skipped", timedelta(hours=1)),
        ("deferred", timedelta(hours=1)),
        ("converted", timedelta(hours=2)),
        ("ended", timedelta(hours=3)),
    ]
    entered, message, waiting, branched, skipped, deferred, converted, ended = timeline.entries
    assert (
        entered.summary
        == f"Entered {KEY} v1 on Cart Abandoned (message {timeline.trigger_message_id})"
    )
    assert message.step == "email-1"
    assert message.summary == (
        f"Sent email cart_recovery_email v{email.template_version} to ada@example.com "
        f"(provider id {email.provider_message_id}): delivered, opened 2x, clicked 2x"
    )
    assert message.detail["subject"] == email.subject and email.subject
    assert message.detail["body"] == email.body and "Ada" in (email.body or "")
    assert (message.detail["provider_status"], message.detail["opens"]) == ("delivered", 2)
    assert message.detail["clicks"] == 2
    assert [e["kind"] for e in message.detail["events"]] == [
        "delivered",
        "opened",
        "clicked",
        "opened",
        "clicked",
    ], "each report once (the retried delivered too), in the order they happened"
    assert message.detail["events"][2]["url"] == SHOP
    assert waiting.summary == "Waited until 2026-03-01 10:00 UTC (waiting 1 h)"
    assert branched.step == "big_cart"
    assert branched.summary == (
        "Took branch 'big_cart' because trigger.properties.total > 100 was true"
    )
    assert skipped.step == "sms-1"
    assert skipped.summary == (
        "Skipped SMS cart_recovery_sms: no sms marketing opt-in (sms marketing needs one) "
        "(code no_opt_in)"
    )
    assert skipped.detail["code"] == "no_opt_in"
    assert deferred.summary.startswith(
        "Deferred email cart_recovery_email until 2026-03-01 12:00 UTC: quiet hours 09:30-12:00"
    )
    assert deferred.detail["code"] == "quiet_hours"
    assert converted.summary == (
        f"Converted on Order Completed (message {converted.detail['message_id']}), revenue 120.50"
    )
    assert converted.detail["revenue"] == 120.5
    assert ended.summary == "Exited: exited on Cart Emptied (1 message sent)"
    assert ended.detail == {
        "status": "exited",
        "reason": "exited on Cart Emptied",
        "messages_sent": 1,
    }


async def test_a_customer_timeline_has_every_id_s_runs_newest_first(
    store: Store, tmp_path: Path
) -> None:
    customer, anonymous = customer_id(), f"anon-{uuid.uuid4().hex[:8]}"
    await seed_templates(store.sessions, store.settings)
    activities = JourneyActivities(
        store.sessions, TemplateCatalog(store.sessions), build_providers(store.settings)
    )
    browsing = new_run(anonymous, "browse-abandon")
    viewed = track("Product Viewed", anonymous).to_journey_event()
    await activities.record_entry(EntryRecord(browsing, viewed, entered_at=T0))
    async with store.sessions.begin() as session:
        await customers.link(session, anonymous, customer, source="identify")
    first = new_run(customer)
    abandoned = track("Cart Abandoned", customer).to_journey_event()
    await activities.record_entry(EntryRecord(first, abandoned, entered_at=T0 + timedelta(days=1)))
    again = new_run(customer)
    second = track("Cart Abandoned", customer).to_journey_event()
    refused = EntryRecord(
        again, second, entered_at=T0 + timedelta(days=2), rules={"reentry": "never"}
    )
    assert not (await activities.record_entry(refused)).entered
    # A step whose provider is being called right now: a delivery row, no audit row yet.
    async with store.sessions.begin() as session:
        session.add(
            Delivery(
                run_id=first.run_id,
                customer_id=customer,
                step="sms-1",
                channel="sms",
                provider="console",
                template="cart_recovery_sms",
                status="retrying",
                reason="429 from the provider",
                requested_at=T0 + timedelta(days=1, minutes=15),
            )
        )

    async with store.sessions() as session:
        by_alias = await customer_timeline(session, anonymous)
        limited = await customer_timeline(session, customer, limit=1)
        nobody = await customer_timeline(session, customer_id())
        no_run = await run_timeline(session, str(uuid.uuid4()))

    assert by_alias is not None
    assert (by_alias.customer_id, by_alias.aliases) == (customer, (anonymous,))
    assert by_alias.has_profile
    assert by_alias.traits["email"] == "ada@example.com"
    assert [r.id for r in by_alias.runs] == [again.run_id, first.run_id, browsing.run_id]
    not_entered, active, browse = by_alias.runs
    (refusal,) = not_entered.entries
    assert refusal.kind == "not_entered"
    assert refusal.summary.startswith(
        f"Not entered into {KEY} v1 on Cart Abandoned: re-entry is never: entered before on "
        "2026-03-02 09:00"
    )
    (sending,) = active.entries
    assert (sending.kind, sending.step) == ("sending", "sms-1")
    assert sending.summary == (
        "Sending SMS cart_recovery_sms: provider refused, retrying (429 from the provider)"
    )
    assert browse.customer_id == anonymous and browse.entries == []
    assert limited is not None and [r.id for r in limited.runs] == [again.run_id]
    assert nobody is None and no_run is None


async def test_delivery_reports_are_kept_once_with_what_the_provider_said(store: Store) -> None:
    customer = customer_id()
    await seed_templates(store.sessions, store.settings)
    activities = JourneyActivities(
        store.sessions, TemplateCatalog(store.sessions), build_providers(store.settings)
    )
    run = new_run(customer)
    trigger = track("Cart Abandoned", customer).to_journey_event()
    await activities.record_entry(EntryRecord(run, trigger, entered_at=T0))
    await activities.send_message(
        SendRequest(run, 1, "sms-1", "sms", "cart_recovery_sms", trigger, T0)
    )
    (sms,) = await deliveries_of(store.sessions, customer)
    async with store.sessions() as session:
        ref = (await deliveries_by_id(session, [sms.id]))[sms.id]
    undelivered = delivery_event(
        ref,
        names.SMS_UNDELIVERED,
        message_id=f"twilio:SM1:{uuid.uuid4().hex}",
        source=names.SOURCE_TWILIO,
        timestamp=T0 + timedelta(minutes=1),
        provider_message_id="SM1",
        status="undelivered",
        error_code="30003",
    )
    unrelated = Event.model_validate({"event": "Order Completed", "userId": customer})

    for _ in range(2):
        async with store.sessions() as session:
            await record_delivery_events(session, [undelivered, undelivered, unrelated])
            await session.commit()

    async with store.sessions() as session:
        rows = list(await session.scalars(select(DeliveryEvent)))
        count = await session.scalar(select(func.count()).select_from(DeliveryEvent))
        timeline = await run_timeline(session, run.run_id)
    assert count == 1
    (row,) = rows
    assert (row.delivery_id, row.kind, row.source) == (sms.id, "undelivered", "twilio")
    assert (row.provider_message_id, row.message_id) == ("SM1", undelivered.message_id)
    assert row.detail == {"status": "undelivered", "error_code": "30003"}
    assert timeline is not None
    (message,) = timeline.entries
    assert message.summary.endswith(f"(provider id {sms.provider_message_id}): undelivered")
    assert message.detail["provider_status"] == "undelivered"
