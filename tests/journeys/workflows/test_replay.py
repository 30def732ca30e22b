"""Runs recorded on earlier code still replay on today's: invariant 5 for every workflow.

Each ``tests/histories/*.json`` is a finished run recorded by ``tests/histories/record.py``
before a change to the journey or the DSL. Replaying it runs today's workflow code against the
old history; a command the old run did not issue (a new step, a new audit, another activity)
fails the replay with a nondeterminism error unless the change sits behind ``workflow.patched``.

Which workflows need a history is not a list kept here: it is every workflow type the worker
serves (``journeys/worker_assembly.py``), the shipped code journeys among them, so a workflow
added to the worker without a recorded history fails this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from journeys.registry import import_journeys
from journeys.store.db import create_engine, create_sessions
from journeys.worker_assembly import SANDBOX, build_worker
from journeys.workflows.dsl import Journey
from tests.conftest import make_settings
from tests.support.journeys.sample import WinBack

HISTORIES = sorted((Path(__file__).resolve().parents[2] / "histories").glob("*.json"))
RECORDED = [WorkflowHistory.from_json(path.stem, path.read_text()) for path in HISTORIES]
# Test journeys with recorded histories: replayed, but not served by a deployed worker.
TEST_JOURNEYS: list[type[Journey]] = [WinBack]


def shipped_journeys(tmp_path: Path) -> list[type[Journey]]:
    """The code journeys a worker with the default settings registers: the examples."""
    modules = make_settings(tmp_path).journey_modules
    return [
        cls
        for cls in import_journeys(modules)
        if any(cls.__module__ == m or cls.__module__.startswith(f"{m}.") for m in modules)
    ]


def served_workflows(client_env: WorkflowEnvironment, tmp_path: Path) -> list[type]:
    """Every workflow class the worker registers, read from the worker itself."""
    settings = make_settings(tmp_path)
    engine = create_engine(settings)  # never connected: the worker is built, not run
    worker = build_worker(
        client_env.client, settings, create_sessions(engine), shipped_journeys(tmp_path)
    )
    return list(worker.config()["workflows"])


def type_name(cls: type) -> str:
    return workflow._Definition.must_from_class(cls).name


def recorded_type(path: Path) -> str:
    """The workflow type of a recorded history, from its start event."""
    (first, *_) = json.loads(path.read_text())["events"]
    name: str = first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    return name


@pytest.fixture
async def workflows(time_skipping: WorkflowEnvironment, tmp_path: Path) -> list[type]:
    return [*served_workflows(time_skipping, tmp_path), *TEST_JOURNEYS]


@pytest.mark.parametrize("history", RECORDED, ids=[p.stem for p in HISTORIES])
async def test_recorded_run_replays_on_current_code(
    history: WorkflowHistory, workflows: list[type]
) -> None:
    replayer = Replayer(workflows=workflows, workflow_runner=SANDBOX)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{history.workflow_id}: {result.replay_failure}"


async def test_every_workflow_the_worker_serves_has_a_recorded_history(
    time_skipping: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A new workflow, or a new shipped journey, gets a recorded history before its first
    change (``python -m tests.histories.record``)."""
    served = {type_name(cls) for cls in served_workflows(time_skipping, tmp_path)}
    recorded = {recorded_type(path) for path in HISTORIES}
    assert served - recorded == set(), "workflow types without a recorded history"
    # The worker's own workflows are all among them, so the discovery found the worker's list.
    assert {"InactivityWatcher", "DefinitionJourney", "AudienceImport"} <= served
    assert {"CartRecovery", "WelcomeSeries"} <= served
