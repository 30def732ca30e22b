"""The send activity heartbeats from its first line, not only while the provider has the message.

The heartbeat timeout (10 s) is how a dead worker's attempt is given up. An attempt on a busy
worker that is still reading the profile or waiting for a store connection is alive; when only
the provider call heartbeated, a burst of sends after a mass wake timed out before their claims
and their retries added to the load (docs/scaling.md). Run in Temporal's activity environment,
which records each heartbeat, against the real store on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from journeys.activities.journey import JourneyActivities
from journeys.contracts import JourneyEvent, RunRef, SendRequest
from journeys.delivery.channels.console import ConsoleProvider
from journeys.delivery.templates_catalog import TemplateCatalog
from journeys.store import customers, templates
from journeys.store.templates import Content
from tests.conftest import Store
from tests.support.helpers import customer_id, run_row

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


async def send(store: Store, traits: dict[str, str]) -> tuple[str, int]:
    """One email step of a new run for a customer with ``traits``: its status and how many
    heartbeats the attempt recorded."""
    who = customer_id()
    run = RunRef(f"run-{who}", f"journey/probe/{who}", "probe", 1, who)
    async with store.sessions.begin() as session:
        await customers.merge_traits(session, who, traits)
        if not await templates.exists(session, "hello", "email"):
            content = Content(subject="Hi", text="Hello {{ customer.id }}", html=None)
            await templates.add_version(
                session, "hello", "email", content, previous=None, source="test"
            )
        session.add(run_row(run, T0, "Signed Up"))
    request = SendRequest(
        run=run,
        seq=1,
        step="hello",
        channel="email",
        template="hello",
        trigger=JourneyEvent("Signed Up", f"m-{who}", who, T0),
        requested_at=T0,
    )
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    activities = JourneyActivities(
        store.sessions, TemplateCatalog(store.sessions), {"email": ConsoleProvider()}
    )
    result = await env.run(activities.send_message, request)
    return result.status, len(beats)


async def test_a_send_heartbeats_even_when_it_never_reaches_the_provider(store: Store) -> None:
    # No email address: the step concludes `skipped` after reading the profile and rendering,
    # without a provider call. The attempt heartbeat all the same.
    status, beats = await send(store, {"first_name": "Ada"})

    assert status == "skipped"
    assert beats >= 1


async def test_a_delivered_send_heartbeats(store: Store) -> None:
    status, beats = await send(store, {"email": "ada@example.com"})

    assert status == "sent"
    assert beats >= 1
