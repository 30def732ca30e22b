"""A long-active customer's inactivity watcher continues as new every ``RESTARTS_PER_RUN``
countdown restarts and carries what it knows across: the messageIds it has seen (a redelivered
Login does not restart the countdown) and the last event (the new run counts down from it without
waiting for another, and the entry names it). Through the router's logic, a real worker, a real
store and Temporal's time-skipping server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from journeys.ingest.events import Event
from journeys.ingest.pipeline import EventPipeline
from journeys.settings import Settings
from journeys.temporal import watcher_id, workflow_id
from journeys.workflows.dsl import Journey
from journeys.workflows.inactivity import RESTARTS_PER_RUN
from tests.conftest import Store, new_time_skipping
from tests.support.helpers import customer_id, eventually, runs_of, track
from tests.support.journeys.sample import WinBack


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A virtual clock of the test's own: it sleeps through days with ``env.sleep``."""
    async with new_time_skipping() as env:
        yield env


@pytest.fixture
def code_journeys() -> list[type[Journey]]:
    return [WinBack]


@pytest.fixture
def worker_settings(store: Store, tmp_path: Path) -> Settings:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "win_back.txt.j2").write_text("We miss you, {{ customer.first_name }}")
    return store.settings.model_copy(update={"templates_dir": folder})


# The watcher is under test here, not the store: SQLite only keeps the suite short.
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_the_watcher_carries_seen_ids_and_the_last_event_across_continue_as_new(
    time_skipping: WorkflowEnvironment, store: Store, router: EventPipeline
) -> None:
    customer = customer_id()
    watcher = time_skipping.client.get_workflow_handle(watcher_id("test-win-back", customer))
    logins: list[Event] = [track("Login", customer)]
    await router.route(logins[0])
    first_run = (await watcher.describe()).run_id

    # Logins, one after another, until the watcher has continued as new (each wake-up is one
    # restart; several Logins may share one, so the count is bounded, not exact).
    async def continued() -> bool:
        return (await watcher.describe()).run_id != first_run

    while not await continued():
        assert len(logins) < 10 * RESTARTS_PER_RUN, "the watcher never continued as new"
        for _ in range(20):
            logins.append(track("Login", customer))
            await router.route(logins[-1])
    last = logins[-1]

    # Five days on, the first Login is delivered again: seen before the continue-as-new, it is
    # dropped, so it does not restart the countdown.
    await time_skipping.sleep(timedelta(days=5))
    await router.route(logins[0])
    await time_skipping.sleep(timedelta(days=2, hours=1))

    async def entered() -> None:
        (run,) = await runs_of(store.sessions, customer)
        assert run.trigger_event == "No Login for 7 d"
        assert run.trigger_message_id == f"inactive:test-win-back:{last.message_id}"

    await eventually(entered)
    description = await watcher.describe()
    assert description.run_id != first_run
    assert description.status == WorkflowExecutionStatus.COMPLETED
    await time_skipping.client.get_workflow_handle(
        workflow_id("test-win-back", customer)
    ).terminate("test finished")
