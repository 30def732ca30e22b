"""Runs recorded on earlier code still replay on today's: invariant 5 for code journeys.

Each ``tests/histories/*.json`` is a finished run recorded by ``tests/histories/record.py``
before a change to the journey or the DSL. Replaying it runs today's workflow code against the
old history; a command the old run did not issue (a new step, a new audit, another activity)
fails the replay with a nondeterminism error unless the change sits behind ``workflow.patched``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from journeys.examples import CartRecovery, WelcomeSeries
from journeys.worker_assembly import SANDBOX
from journeys.workflows.inactivity import InactivityWatcher
from journeys.workflows.interpreter import DefinitionJourney
from tests.support.journeys.sample import WinBack

HISTORIES = sorted((Path(__file__).resolve().parents[2] / "histories").glob("*.json"))
RECORDED = [WorkflowHistory.from_json(path.stem, path.read_text()) for path in HISTORIES]


@pytest.mark.parametrize("history", RECORDED, ids=[p.stem for p in HISTORIES])
async def test_recorded_run_replays_on_current_code(history: WorkflowHistory) -> None:
    replayer = Replayer(
        workflows=[CartRecovery, WelcomeSeries, WinBack, InactivityWatcher, DefinitionJourney],
        workflow_runner=SANDBOX,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{history.workflow_id}: {result.replay_failure}"


def test_every_example_journey_has_a_recorded_history() -> None:
    """A new example journey gets a recorded history before its first change."""
    recorded = {p.stem.rsplit("_", 1)[0] for p in HISTORIES}
    assert {"cart_recovery", "welcome_series", "definition"} <= recorded
