"""The compliance check activity on the real store (SQLite and PostgreSQL), called directly: the
frequency cap under concurrency (checks for one customer made at the same moment pass a cap of N
exactly N times) and the default quiet hours of SMS."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from journeys.activities.compliance import ComplianceActivities
from journeys.contracts import (
    DEFER,
    MARKETING,
    SEND,
    SKIP,
    TRANSACTIONAL,
    ComplianceCheck,
    JourneyEvent,
    RunRef,
    SendRequest,
)
from journeys.delivery.compliance import Policy
from journeys.store import consent, customers
from tests.conftest import Store, make_settings
from tests.support.helpers import customer_id, deliveries_of, run_row

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
CAP = 3
CHECKS = 12


def policy(tmp_path: Path, cap: int = CAP) -> Policy:
    return Policy.from_settings(make_settings(tmp_path, frequency_cap=cap))


async def new_runs(store: Store, customer: str, count: int) -> list[RunRef]:
    """``count`` runs of the customer, each in a journey of its own."""
    refs = [
        RunRef(
            run_id=uuid.uuid4().hex,
            workflow_id=f"journey-{number}/{customer}",
            journey_key=f"journey-{number}",
            journey_version=1,
            customer_id=customer,
        )
        for number in range(count)
    ]
    async with store.sessions.begin() as session:
        session.add_all(run_row(ref, NOW) for ref in refs)
    return refs


def check(
    run: RunRef, *, category: str = MARKETING, at: datetime = NOW, channel: str = "email"
) -> ComplianceCheck:
    trigger = JourneyEvent(
        name="Test", message_id=run.run_id, customer_id=run.customer_id, timestamp=NOW
    )
    return ComplianceCheck(
        SendRequest(
            run=run,
            seq=1,
            step=f"{channel}:promo",
            channel=channel,
            template="promo",
            trigger=trigger,
            requested_at=at,
            category=category,
        )
    )


async def check_all(activities: ComplianceActivities, checks: list[ComplianceCheck]) -> list[str]:
    decisions = await asyncio.gather(*(activities.check_send(c) for c in checks))
    return [d.action for d in decisions]


async def test_concurrent_checks_for_one_customer_pass_the_cap_exactly_cap_times(
    store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    runs = await new_runs(store, customer, CHECKS)
    activities = ComplianceActivities(store.sessions, policy(tmp_path))

    actions = await check_all(activities, [check(run) for run in runs])

    assert actions.count(SEND) == CAP and actions.count(SKIP) == CHECKS - CAP
    rows = await deliveries_of(store.sessions, customer)
    assert sorted(d.status for d in rows) == ["allowed"] * CAP + ["skipped"] * (CHECKS - CAP)
    assert all(d.reason.startswith("frequency cap: 3 ") for d in rows if d.status == "skipped")


async def test_the_claims_count_for_the_customer_under_any_of_their_ids(
    store: Store, tmp_path: Path
) -> None:
    """Runs started under an alias and under the customer's own id share one cap (and lock)."""
    customer = customer_id()
    alias = f"anon-{customer}"
    async with store.sessions.begin() as session:
        await customers.link(session, alias, customer, source="identify")
    runs = await new_runs(store, customer, CHECKS // 2) + await new_runs(store, alias, CHECKS // 2)
    activities = ComplianceActivities(store.sessions, policy(tmp_path))

    actions = await check_all(activities, [check(run) for run in runs])

    assert actions.count(SEND) == CAP


async def test_a_retried_check_returns_its_claim_and_claims_nothing_more(
    store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    (run,) = await new_runs(store, customer, 1)
    activities = ComplianceActivities(store.sessions, policy(tmp_path))

    assert await check_all(activities, [check(run)]) == [SEND]
    assert await check_all(activities, [check(run)]) == [SEND]
    rows = await deliveries_of(store.sessions, customer)
    assert [(d.step, d.status) for d in rows] == [("email:promo", "allowed")]


async def test_transactional_checks_claim_nothing_and_are_not_capped(
    store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    runs = await new_runs(store, customer, CHECKS)
    activities = ComplianceActivities(store.sessions, policy(tmp_path))

    actions = await check_all(activities, [check(run, category=TRANSACTIONAL) for run in runs])

    assert actions == [SEND] * CHECKS
    assert await deliveries_of(store.sessions, customer) == []


async def test_without_a_cap_nothing_is_claimed(store: Store, tmp_path: Path) -> None:
    customer = customer_id()
    runs = await new_runs(store, customer, 4)
    activities = ComplianceActivities(store.sessions, policy(tmp_path, cap=0))

    assert await check_all(activities, [check(run) for run in runs]) == [SEND] * 4
    assert await deliveries_of(store.sessions, customer) == []


async def test_claims_older_than_the_window_no_longer_count(store: Store, tmp_path: Path) -> None:
    customer = customer_id()
    runs = await new_runs(store, customer, CAP + 2)
    activities = ComplianceActivities(store.sessions, policy(tmp_path))
    assert await check_all(activities, [check(run) for run in runs[:CAP]]) == [SEND] * CAP

    assert await check_all(activities, [check(runs[CAP])]) == [SKIP]
    next_day = check(runs[CAP + 1], at=NOW + timedelta(hours=24, seconds=1))
    assert await check_all(activities, [next_day]) == [SEND]


async def test_outside_dev_sms_marketing_waits_for_the_morning_and_email_does_not(
    store: Store, tmp_path: Path
) -> None:
    customer = customer_id()
    async with store.sessions.begin() as session:
        await customers.merge_traits(
            session, customer, {"timezone": "America/New_York", "email": "a@example.com"}
        )
        await consent.set_consent(
            session, customer, consent.CHANNEL, "sms", "opted_in", at=NOW, source="identify"
        )
    email_run, sms_run = await new_runs(store, customer, 2)
    production = Policy.from_settings(make_settings(tmp_path, env="production"))
    activities = ComplianceActivities(store.sessions, production)
    late_evening = datetime(2026, 6, 11, 2, 30, tzinfo=UTC)  # 22:30 in New York

    email = await activities.check_send(check(email_run, at=late_evening))
    sms = await activities.check_send(check(sms_run, at=late_evening, channel="sms"))

    assert (email.action, sms.action, sms.code) == (SEND, DEFER, "quiet_hours")
    assert sms.until == datetime(2026, 6, 11, 12, 0, tzinfo=UTC)  # 8:00 in New York
