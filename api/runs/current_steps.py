"""What active runs are doing right now, asked of their workflows.

The store knows what a run did; only the workflow knows what it is waiting for. The answer is a
nicety for support, so a run whose query fails (no worker polling, Temporal down, run gone) is
simply left without one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client

from journeys.contracts import CURRENT_STEP_QUERY, StepState
from journeys.store.models import JourneyRun
from journeys.vocabulary import RunStatus

log = logging.getLogger(__name__)

QUERY_TIMEOUT = timedelta(seconds=2)


async def current_steps(client: Client | None, runs: Sequence[JourneyRun]) -> dict[str, StepState]:
    """Run id -> the step its workflow reports, for the active runs that answered."""
    active = [run for run in runs if run.status == RunStatus.ACTIVE]
    if client is None or not active:
        return {}
    answers = await asyncio.gather(*(_ask(client, run) for run in active))
    return {run.id: step for run, step in zip(active, answers, strict=True) if step is not None}


async def _ask(client: Client, run: JourneyRun) -> StepState | None:
    # The row's id is the run id Temporal gave the workflow (journeys never continue-as-new), so
    # a later run under the same workflow id, after a re-entry, is never asked by mistake.
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.id)
    try:
        step: StepState = await asyncio.wait_for(
            handle.query(CURRENT_STEP_QUERY, result_type=StepState, rpc_timeout=QUERY_TIMEOUT),
            QUERY_TIMEOUT.total_seconds() + 1,
        )
    except Exception as err:
        log.info("no current step for %s: %s", run.workflow_id, err)
        return None
    return step
