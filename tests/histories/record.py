"""Record the workflow histories the replay tests hold the journey code to.

    python -m tests.histories.record [name ...]

Each scenario runs the real worker and router logic on a Temporal dev server, a NATS server (an
audience import reads its list there) and an SQLite store, then writes the finished run's
history to ``tests/histories/<name>.json``: the history a production server would hold. The demo
clock (``time_scale``, recorded in the run's input) keeps the waits short. Record a history
*before* changing a journey or the DSL, commit it, and from then on
``tests/journeys/workflows/test_replay.py`` proves that runs started on the old code still
replay: a change that would break them must sit behind ``workflow.patched`` (for the DSL's own
changes, a start version: journeys/workflows/changes.py). That test also fails for any workflow
type the worker serves with no history here: a new workflow gets a scenario.

Recording again overwrites the file, so only do it for a new scenario: an old history is the
evidence, not a fixture to refresh.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
from nats.js import JetStreamContext
from temporalio.client import Client, WorkflowFailureError

from journeys.audiences import AUDIENCE_WORKFLOW, AudienceStart, audience_workflow_id
from journeys.delivery.templates_catalog import seed_templates
from journeys.examples import CartRecovery, WelcomeSeries
from journeys.ingest.audience_lists import save_list
from journeys.ingest.pipeline import EventPipeline
from journeys.ingest.routing import load_index
from journeys.registry import register_code_journeys
from journeys.settings import Settings
from journeys.store.audiences import create_import
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.store.definitions import publish, save_draft
from journeys.store.schema import upgrade_async
from journeys.temporal import ensure_search_attributes, watcher_id, workflow_id
from journeys.worker_assembly import build_worker
from tests.conftest import make_settings, nats_url_of, start_nats, start_temporal
from tests.support.helpers import customer_id, track
from tests.support.journeys.sample import WinBack
from tests.support.journeys.tour import TOUR

HERE = Path(__file__).resolve().parent
JOURNEYS = [CartRecovery, WelcomeSeries, WinBack]
# A journey's day passes in under 9 s.
TIME_SCALE = 10_000.0


@dataclass
class Recording:
    """What a scenario drives its run with: the servers, the store and the demo clock."""

    client: Client
    js: JetStreamContext
    settings: Settings
    sessions: Sessions

    async def sleep(self, journey_time: timedelta) -> None:
        await asyncio.sleep(journey_time.total_seconds() / TIME_SCALE)


@dataclass
class Scenario:
    """Drives one run to its end and names the workflow whose history is kept."""

    drive: Callable[[Recording, EventPipeline, str], Awaitable[list[str]]]


async def _finish(env: Recording, wid: str) -> None:
    await env.client.get_workflow_handle(wid).result()


# Entered from lists: at most three entries.
CAPPED: dict[str, Any] = {
    "key": "def-capped",
    "trigger": {"event": "Spring Sale"},
    "entry": {"cap": 3},
    "steps": [
        {"id": "rest", "type": "delay", "duration": "1h"},
        {"id": "offer", "type": "send", "channel": "sms", "template": "cart_recovery_sms"},
    ],
}

# A definition whose first webhook's target is refused (audited, the run goes on) and whose
# second webhook's body cannot be evaluated: the run ends as failed, then fails in Temporal.
FAILING: dict[str, Any] = {
    "key": "def-failing",
    "trigger": {"event": "Invoice Due"},
    "steps": [
        {"id": "wait", "type": "delay", "duration": "1h"},
        {"id": "private", "type": "webhook", "url": "http://127.0.0.1:9/hook", "body": {}},
        {
            "id": "crm",
            "type": "webhook",
            "url": "https://crm.example.com/hook",
            "body": {"share": "trigger.properties.total / trigger.properties.count"},
        },
    ],
}


async def cart_completed(env: Recording, router: EventPipeline, who: str) -> list[str]:
    await router.route(track("Cart Abandoned", who, cart_id="K1", total=42.5))
    wid = workflow_id("cart-recovery", who)
    await _finish(env, wid)
    return [wid]


async def cart_exited(env: Recording, router: EventPipeline, who: str) -> list[str]:
    await router.route(track("Cart Abandoned", who, cart_id="K2"))
    await env.sleep(timedelta(hours=1))
    await router.route(track("Order Completed", who, order_id="O1"))
    wid = workflow_id("cart-recovery", who)
    await _finish(env, wid)
    return [wid]


async def welcome_activated(env: Recording, router: EventPipeline, who: str) -> list[str]:
    await router.route(track("Signed Up", who))
    await env.sleep(timedelta(days=1))
    await router.route(track("Activated", who))
    wid = workflow_id("welcome-series", who)
    await _finish(env, wid)
    return [wid]


async def welcome_timed_out(env: Recording, router: EventPipeline, who: str) -> list[str]:
    await router.route(track("Signed Up", who))
    wid = workflow_id("welcome-series", who)
    await _finish(env, wid)
    return [wid]


async def definition_tour(env: Recording, router: EventPipeline, who: str) -> list[str]:
    """The interpreter: delay, branch, split, send, wait with a filter, emit and exit."""
    await router.route(track("Cart Abandoned", who, cart_id="K1", total=42))
    await env.sleep(timedelta(minutes=40))
    await router.route(track("Cart Viewed", who, cart_id="K1"))
    wid = workflow_id(TOUR["key"], who)
    await _finish(env, wid)
    return [wid]


async def win_back(env: Recording, router: EventPipeline, who: str) -> list[str]:
    await router.route(track("Login", who))
    wid = workflow_id("test-win-back", who)
    await env.sleep(timedelta(days=7, hours=1))
    await router.route(track("Login", who))
    await _finish(env, wid)
    watcher = env.client.get_workflow_handle(watcher_id("test-win-back", who))
    await watcher.terminate("recorded")
    return [wid]


async def inactivity_watcher_entered(env: Recording, router: EventPipeline, who: str) -> list[str]:
    """The watcher itself: a Login, the same Login redelivered (dropped), a later Login that
    restarts the countdown, then seven days without one enter the customer into win-back."""
    login = track("Login", who)
    await router.route(login)
    await router.route(login)
    await env.sleep(timedelta(days=1))
    await router.route(track("Login", who))
    watcher = watcher_id("test-win-back", who)
    await _finish(env, watcher)
    await env.client.get_workflow_handle(workflow_id("test-win-back", who)).terminate("recorded")
    return [watcher]


async def audience_import(env: Recording, router: EventPipeline, who: str) -> list[str]:
    """An import of five customers in batches of two into a journey capped at three entries:
    three batches (three entered, two refused by the cap), then the import's end."""
    import_id = f"recorded-{who}"
    customers = [f"{who}-{n}" for n in range(5)]
    await save_list(env.js, import_id, customers)
    async with env.sessions.begin() as session:
        await create_import(session, import_id, CAPPED["key"], len(customers), created_by="record")
    wid = audience_workflow_id(import_id)
    start = AudienceStart(
        import_id=import_id,
        journey_key=CAPPED["key"],
        total=len(customers),
        properties={"wave": 1},
        batch_size=2,
    )
    await env.client.start_workflow(
        AUDIENCE_WORKFLOW, start, id=wid, task_queue=env.settings.task_queue
    )
    await _finish(env, wid)
    return [wid]


async def definition_failed(env: Recording, router: EventPipeline, who: str) -> list[str]:
    await router.route(track("Invoice Due", who, total=10, count=0))
    wid = workflow_id(FAILING["key"], who)
    try:
        await _finish(env, wid)
    except WorkflowFailureError:
        return [wid]
    raise AssertionError(f"{wid} was to fail")


SCENARIOS: dict[str, Scenario] = {
    "cart_recovery_completed": Scenario(cart_completed),
    "cart_recovery_exited": Scenario(cart_exited),
    "welcome_series_activated": Scenario(welcome_activated),
    "welcome_series_timed_out": Scenario(welcome_timed_out),
    "win_back_exited": Scenario(win_back),
    "definition_tour": Scenario(definition_tour),
    # Recorded once runs wrote their bookkeeping in one local activity per step
    # (journeys/workflows/bookkeeping.py, the ``one-bookkeeping-write`` patch).
    "cart_recovery_completed_one_write": Scenario(cart_completed),
    "cart_recovery_exited_one_write": Scenario(cart_exited),
    "welcome_series_activated_one_write": Scenario(welcome_activated),
    "definition_tour_one_write": Scenario(definition_tour),
    # Recorded once new runs took their changes by start version 2 instead of patch markers
    # (journeys/workflows/changes.py).
    "cart_recovery_completed_v2": Scenario(cart_completed),
    "cart_recovery_exited_v2": Scenario(cart_exited),
    "welcome_series_activated_v2": Scenario(welcome_activated),
    "definition_tour_v2": Scenario(definition_tour),
    # Recorded once a refused webhook target was the step's audited outcome and a failed run
    # ended its row as failed before failing in Temporal (journeys/workflows/dsl.py).
    "definition_failed": Scenario(definition_failed),
    # The two workflows besides the journeys: recorded once the replay test required a history
    # of every workflow type the worker serves.
    "inactivity_watcher_entered": Scenario(inactivity_watcher_entered),
    "audience_import_completed": Scenario(audience_import),
}


async def _history_json(client: Client, wid: str) -> str:
    history = await client.get_workflow_handle(wid).fetch_history()
    return history.to_json()


async def record(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_temporal(Path(tmp) / "temporal")
        nats_server = start_nats(Path(tmp) / "nats")
        settings = make_settings(
            Path(tmp), time_scale=TIME_SCALE, nats_url=nats_url_of(nats_server)
        )
        await upgrade_async(settings)
        engine = create_engine(settings)
        sessions = create_sessions(engine)
        await register_code_journeys(sessions, JOURNEYS)
        await seed_templates(sessions, settings)
        for document in (TOUR, FAILING, CAPPED):
            await save_draft(sessions, document)
            await publish(sessions, document["key"])
        connection = await nats.connect(settings.nats_url)
        try:
            client = await Client.connect(f"127.0.0.1:{server.port}")
            await ensure_search_attributes(client, client.namespace)
            env = Recording(client, connection.jetstream(), settings, sessions)
            router = EventPipeline(client, settings, await load_index(sessions), sessions)
            async with build_worker(client, settings, sessions, JOURNEYS, publish=router.route):
                for name in names:
                    for wid in await SCENARIOS[name].drive(env, router, customer_id()):
                        path = HERE / f"{name}.json"
                        path.write_text(await _history_json(client, wid))
                        print(f"recorded {wid} -> {path.relative_to(HERE.parent.parent)}")
        finally:
            await connection.close()
            nats_server.stop()
            server.stop()
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:] or list(SCENARIOS)))
