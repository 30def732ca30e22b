"""GET /v1/analytics/journeys/{key}[/timeseries] over journeys that really ran.

Forty customers go through a declarative journey with a 50% holdout, an A/B send and a goal
with revenue, in the test kit (journeys.testing: Temporal's time-skipping server, the worker's
activities, the router's logic) writing into the API's own store, on SQLite and PostgreSQL.
The API's numbers are then checked against what the runs did, as the kit reads them back
(runs, deliveries, audit rows, conversions). Store-level cases with larger samples and chosen
times are in tests/journeys/insight/test_journey_analytics_numbers.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from journeys.delivery.templates_catalog import seed_templates
from journeys.insight.stats import MIN_PER_ARM
from journeys.settings import Settings
from journeys.store.definitions import publish, save_draft
from journeys.store.models import Conversion
from journeys.testing import JourneyResult, JourneyTestKit, at
from tests.conftest import Store
from tests.support.api import bearer, make_key
from tests.support.helpers import ADA_TRAITS

KEY = "ab-lift"
CUSTOMERS = 40
VARIANTS = {"a": "cart_recovery_email", "b": "welcome_email"}
DOCUMENT: dict[str, Any] = {
    "key": KEY,
    "trigger": {"event": "Cart Abandoned"},
    "entry": {"holdout_percent": 50},
    "goal": {"event": "Order Completed", "within": "1d", "revenue": "event.properties.revenue"},
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
    ],
}


def converts(i: int) -> float | None:
    """Every third customer buys, two hours in, for 10 + i."""
    return 10.0 + i if i % 3 == 0 else None


@dataclass
class Ran:
    results: list[JourneyResult]

    @property
    def runs(self) -> list[Any]:
        return [run for result in self.results for run in result.runs]

    def held(self, result: JourneyResult) -> bool:
        (run,) = result.runs
        return bool(run.holdout)

    def variant(self, result: JourneyResult) -> str:
        (draw,) = [a for a in result.audit if a.kind == "variant"]
        return str(draw.data["chosen"])


@pytest.fixture
async def ran(api_settings: Settings) -> AsyncIterator[Ran]:
    """The journey, run by 40 customers in the kit, on the API's store."""
    results = []
    async with JourneyTestKit.start(
        definitions=[DOCUMENT],
        database_url=api_settings.database_url,
        templates_dir=api_settings.templates_dir,
    ) as kit:
        for i in range(CUSTOMERS):
            timeline = [at("0s", "Cart Abandoned", cart_id=f"K{i}")]
            revenue = converts(i)
            if revenue is not None:
                timeline.append(at("2h", "Order Completed", revenue=revenue))
            results.append(await kit.run(KEY, timeline, customer=f"lift-{i}", traits=ADA_TRAITS))
    yield Ran(results)


async def test_the_numbers_are_what_the_runs_did(client: httpx.AsyncClient, ran: Ran) -> None:
    response = await client.get(f"/v1/analytics/journeys/{KEY}")
    assert response.status_code == 200, response.text
    body = response.json()

    treated = [r for r in ran.results if not ran.held(r)]
    held = [r for r in ran.results if ran.held(r)]
    assert treated and held, "a 50% holdout of 40 customers has both arms"
    assert (body["key"], body["version"], body["versions"]) == (KEY, None, [1])
    assert body["entered"] == CUSTOMERS and body["not_entered"] == 0
    assert body["by_status"] == dict(Counter(run.status for run in ran.runs))
    assert body["active"] == 0 and body["ended"] == CUSTOMERS

    def revenue(results: list[JourneyResult]) -> float:
        return sum(c.revenue or 0 for r in results for c in r.conversions)

    def conversions(results: list[JourneyResult]) -> int:
        return sum(len(r.conversions) for r in results)

    for arm, results in (("treatment", treated), ("holdout", held)):
        assert body[arm]["customers"] == len(results)
        assert body[arm]["conversions"] == conversions(results)
        assert body[arm]["revenue"] == pytest.approx(revenue(results))
        assert body[arm]["rate"]["successes"] == conversions(results)
    buyers = [i for i in range(CUSTOMERS) if converts(i) is not None]
    assert body["conversions"] == len(buyers)
    assert body["revenue"] == pytest.approx(sum(converts(i) or 0 for i in buyers))

    # The holdout got nothing; every treated customer got their variant's email.
    messages = Counter((d.channel, d.status) for r in ran.results for d in r.deliveries)
    assert {(m["channel"], m["status"]): m["count"] for m in body["messages"]} == messages
    assert messages == {("email", "sent"): len(treated)}
    exits = Counter((run.status, run.reason) for run in ran.runs)
    assert {(e["status"], e["reason"]): e["count"] for e in body["exits"]} == exits

    assert body["steps"] == [
        # The holdout's runs reach both steps: they wait, and their send is audited as skipped.
        {"step": "pause", "type": "delay", "reached": CUSTOMERS, "share": 1.0},
        {"step": "offer", "type": "send", "reached": CUSTOMERS, "share": 1.0},
    ]

    variants = {v["variant"]: v for v in body["variants"]}
    for name, variant in variants.items():
        drew = [r for r in treated if ran.variant(r) == name]
        assert (variant["step"], variant["template"]) == ("offer", VARIANTS[name])
        assert variant["customers"] == variant["sent"] == len(drew)
        assert variant["conversions"] == conversions(drew)
        assert variant["revenue"] == pytest.approx(revenue(drew))
    assert sum(v["customers"] for v in variants.values()) == len(treated)
    assert variants[body["variants"][0]["variant"]]["vs_first"] is None

    lift = body["lift"]
    rate_t = conversions(treated) / len(treated)
    rate_h = conversions(held) / len(held)
    assert lift["difference"] == pytest.approx(rate_t - rate_h)
    assert lift["treatment"]["trials"] == len(treated) and lift["control"]["trials"] == len(held)
    # Forty customers split in two cannot give 30 per arm: too small to conclude, and said so.
    assert lift["too_small"] is True and lift["conclusive"] is False
    assert f"at least {MIN_PER_ARM} per arm" in lift["caveat"]
    interval = lift["difference_interval"]
    assert interval["low"] <= lift["difference"] <= interval["high"]


async def test_the_timeseries_adds_up_to_the_runs(
    client: httpx.AsyncClient, ran: Ran, store: Store
) -> None:
    """Each day that saw an entry, a message or a conversion, asked for on its own (the kit's
    skipped clock spreads runs over years: more days than one answer may hold), adds up to
    what the runs did; one of them is also asked for by the hour."""
    async with store.sessions() as session:
        converted_at = list(await session.scalars(select(Conversion.occurred_at)))
    moments = [run.started_at for run in ran.runs] + converted_at
    moments += [d.requested_at for r in ran.results for d in r.deliveries]
    days = sorted({m.replace(hour=0, minute=0, second=0, microsecond=0) for m in moments})
    totals: Counter[str] = Counter()
    for day in days:
        params = {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()}
        response = await client.get(f"/v1/analytics/journeys/{KEY}/timeseries", params=params)
        assert response.status_code == 200, response.text
        (point,) = response.json()["points"]
        assert point["start"] == day.isoformat().replace("+00:00", "Z")
        for field in ("entered", "sent", "conversions", "revenue"):
            totals[field] += point[field]
    converted = [c for r in ran.results for c in r.conversions]
    assert totals["entered"] == CUSTOMERS
    assert totals["sent"] == sum(len(r.sent) for r in ran.results)
    assert totals["conversions"] == len(converted) == len(converted_at)
    assert totals["revenue"] == pytest.approx(sum(c.revenue or 0 for c in converted))

    first = ran.runs[0].started_at.replace(minute=0, second=0, microsecond=0)
    hourly = await client.get(
        f"/v1/analytics/journeys/{KEY}/timeseries",
        params={
            "bucket": "hour",
            "version": 1,
            "since": first.isoformat(),
            "until": (first + timedelta(hours=3)).isoformat(),
        },
    )
    assert hourly.status_code == 200, hourly.text
    body = hourly.json()
    assert (body["bucket"], body["version"]) == ("hour", 1)
    assert [p["start"] for p in body["points"]] == [
        (first + timedelta(hours=n)).isoformat().replace("+00:00", "Z") for n in range(3)
    ]
    assert body["points"][0]["entered"] >= 1


async def test_unknown_journeys_and_versions_are_404(client: httpx.AsyncClient, ran: Ran) -> None:
    missing = await client.get("/v1/analytics/journeys/no-such-journey")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "journey 'no-such-journey' not found"
    version = await client.get(f"/v1/analytics/journeys/{KEY}", params={"version": 7})
    assert version.status_code == 404
    assert version.json()["detail"] == f"journey '{KEY}' has no version 7"
    series = await client.get("/v1/analytics/journeys/no-such-journey/timeseries")
    assert series.status_code == 404


async def test_bad_ranges_are_422_naming_the_field(client: httpx.AsyncClient, store: Store) -> None:
    await _publish(store)
    backwards = await client.get(
        f"/v1/analytics/journeys/{KEY}",
        params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
    )
    assert backwards.status_code == 422
    (error,) = backwards.json()["detail"]
    assert error["loc"] == ["query", "since"] and "is after until" in error["msg"]

    too_many = await client.get(
        f"/v1/analytics/journeys/{KEY}/timeseries",
        params={"bucket": "hour", "since": "2026-01-01T00:00:00", "until": "2026-06-01T00:00:00"},
    )
    assert too_many.status_code == 422
    (error,) = too_many.json()["detail"]
    assert error["loc"] == ["query", "bucket"] and "use day buckets" in error["msg"]

    bucket = await client.get(f"/v1/analytics/journeys/{KEY}/timeseries", params={"bucket": "week"})
    assert bucket.status_code == 422 and bucket.json()["detail"][0]["loc"] == ["query", "bucket"]
    version = await client.get(f"/v1/analytics/journeys/{KEY}", params={"version": 0})
    assert version.status_code == 422 and version.json()["detail"][0]["loc"] == [
        "query",
        "version",
    ]


async def test_staff_read_analytics_and_ingest_keys_do_not(
    client: httpx.AsyncClient, store: Store
) -> None:
    await _publish(store)
    app = client._transport.app  # type: ignore[attr-defined]
    for role, expected in (("support", 200), ("editor", 200), ("ingest", 403)):
        key = await make_key(app, role)
        response = await client.get(f"/v1/analytics/journeys/{KEY}", headers=bearer(key))
        assert response.status_code == expected, (role, response.text)
    anonymous = await client.get(f"/v1/analytics/journeys/{KEY}", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def _publish(store: Store) -> None:
    """The journey, published in the API's store, without runs."""
    await seed_templates(store.sessions, store.settings)
    await save_draft(store.sessions, DOCUMENT)
    await publish(store.sessions, KEY)


async def test_instants_at_the_ends_of_the_calendar_are_answered_not_500(
    client: httpx.AsyncClient, store: Store
) -> None:
    await _publish(store)
    base = f"/v1/analytics/journeys/{KEY}"
    west_of_year_one = await client.get(base, params={"since": "0001-01-01T00:00:00+01:00"})
    assert west_of_year_one.status_code == 422
    assert west_of_year_one.json()["detail"][0]["loc"] == ["query", "since"]
    before_time = await client.get(f"{base}/timeseries", params={"until": "0001-01-01T00:00:00"})
    assert before_time.status_code == 200 and before_time.json()["points"] == []
    last_days = await client.get(
        f"{base}/timeseries",
        params={"since": "9999-12-30T00:00:00", "until": "9999-12-31T23:59:59.999999"},
    )
    assert last_days.status_code == 200
    assert [p["entered"] for p in last_days.json()["points"]] == [0, 0]
    # No offset means UTC.
    naive = await client.get(base, params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 200 and naive.json()["since"] == "2026-01-01T00:00:00Z"
    control = await client.get("/v1/analytics/journeys/a%00b")
    assert control.status_code == 422 and control.json()["detail"][0]["loc"] == ["path", "key"]
