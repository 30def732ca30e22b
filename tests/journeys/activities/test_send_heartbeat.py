"""The send activity heartbeats from its first line, and every 2 s for as long as it runs.

The heartbeat timeout (10 s) is how a dead worker's attempt is given up. An attempt on a busy
worker that is still reading the profile or waiting for a store connection is alive; when only
the provider call heartbeated, a burst of sends after a mass wake timed out before their claims
and their retries added to the load (docs/scaling.md). Run in Temporal's activity environment,
which records each heartbeat, against the real store on SQLite and PostgreSQL; the long attempt
sends to a local Twilio server that holds the message until the test has seen the beats.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from journeys.activities.journey import JourneyActivities
from journeys.contracts import JourneyEvent, RunRef, SendRequest
from journeys.delivery.channels import Provider
from journeys.delivery.channels.console import ConsoleProvider
from journeys.delivery.templates_catalog import TemplateCatalog
from journeys.store import customers, templates
from journeys.store.templates import Content
from tests.conftest import Store
from tests.support.held_sms import held_twilio
from tests.support.helpers import customer_id, run_row

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
BEAT_EVERY = 2.0  # journeys/activities/send.py's _heartbeating
# How late a beat may come on a busy machine: an event loop's sleep is late by milliseconds,
# and this is far inside the 10 s heartbeat timeout the beats are there for.
LATE = 1.0


async def send(store: Store, traits: dict[str, str]) -> tuple[str, int]:
    """One email step of a new run for a customer with ``traits``: its status and how many
    heartbeats the attempt recorded."""
    beats: list[float] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *_: beats.append(time.monotonic())
    status = await attempt(store, env, "email", traits, ConsoleProvider())
    return status, len(beats)


async def attempt(
    store: Store, env: ActivityEnvironment, channel: str, traits: dict[str, str], provider: Provider
) -> str:
    """One ``channel`` step of a new run for a customer with ``traits``, sent through
    ``provider`` in ``env``; its status."""
    who = customer_id()
    run = RunRef(f"run-{who}", f"journey/probe/{who}", "probe", 1, who)
    async with store.sessions.begin() as session:
        await customers.merge_traits(session, who, traits)
        if not await templates.exists(session, "hello", channel):
            content = Content(subject="Hi", text="Hello {{ customer.id }}", html=None)
            await templates.add_version(
                session, "hello", channel, content, previous=None, source="test"
            )
        session.add(run_row(run, T0, "Signed Up"))
    request = SendRequest(
        run=run,
        seq=1,
        step="hello",
        channel=channel,
        template="hello",
        trigger=JourneyEvent("Signed Up", f"m-{who}", who, T0),
        requested_at=T0,
    )
    activities = JourneyActivities(
        store.sessions, TemplateCatalog(store.sessions), {channel: provider}
    )
    result = await env.run(activities.send_message, request)
    return result.status


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


async def test_a_send_heartbeats_every_two_seconds_while_the_provider_holds_it(
    store: Store,
) -> None:
    # The provider answers only once the attempt has beaten twice after its first beat:
    # the test waits on the beats themselves, not on a window of wall time.
    beats: list[float] = []
    enough = asyncio.Event()

    def beat(*_: object) -> None:
        beats.append(time.monotonic())
        if len(beats) >= 3:
            enough.set()

    env = ActivityEnvironment()
    env.on_heartbeat = beat
    async with held_twilio() as (held, provider):
        started = time.monotonic()
        sending = asyncio.create_task(
            attempt(store, env, "sms", {"phone": "+15550001111"}, provider)
        )
        await asyncio.wait_for(held.arrived.wait(), timeout=30)
        reached_provider = time.monotonic()
        await asyncio.wait_for(enough.wait(), timeout=30)
        held.release()
        status = await sending

    assert status == "sent"
    assert [form["To"] for form in held.received] == ["+15550001111"]
    # The first beat is the attempt's first line: before the profile is read, so before the
    # provider is reached.
    assert started <= beats[0] <= reached_provider
    gaps = [later - earlier for earlier, later in itertools.pairwise(beats[:3])]
    assert all(BEAT_EVERY - 0.05 <= gap <= BEAT_EVERY + LATE for gap in gaps), gaps
