"""The ``AudienceImport`` workflow: enter an uploaded list of customers into a journey, a batch at
a time, durably (an upload of 100,000 survives worker restarts and deploys).

Workflow code only: deterministic, its I/O in the activities of
:mod:`journeys.activities.audience`, referenced by name. Each batch activity enters its customers,
waits for their entries to be recorded, and writes the import's counts (absolute, so a retried
batch writes the same); the workflow carries only the offset and the counts, and continues as
new every few thousand customers so its history stays short whatever the list's length.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from journeys.audiences import (
    AUDIENCE_WORKFLOW,
    AudienceBatch,
    AudienceEnd,
    AudienceProgress,
    AudienceStart,
    BatchResult,
)
from journeys.contracts import (
    ACTIVITY_ENTER_BATCH,
    ACTIVITY_FINISH_IMPORT,
    LIST_MISSING,
    PROGRESS_QUERY,
)
from journeys.vocabulary import ImportStatus

# Batches per workflow run before continuing as new: 50 batches of 100 is a few hundred events.
BATCHES_PER_RUN = 50
# A batch waits up to two minutes for its entries; the heartbeat shows it is still at it.
_BATCH_TIMEOUT = timedelta(minutes=10)
_BATCH_HEARTBEAT = timedelta(minutes=1)
_FINISH_TIMEOUT = timedelta(minutes=1)
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    # The list is gone (expired or deleted): no retry brings it back.
    non_retryable_error_types=[LIST_MISSING],
)


@workflow.defn(name=AUDIENCE_WORKFLOW)
class AudienceImport:
    def __init__(self) -> None:
        self._progress = AudienceProgress()

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> AudienceProgress:
        return self._progress

    @workflow.run
    async def run(self, start: AudienceStart) -> AudienceProgress:
        self._progress = start.progress
        offset = start.offset
        stopped: str | None = None
        for _ in range(BATCHES_PER_RUN):
            if offset >= start.total:
                break
            batch = AudienceBatch(
                import_id=start.import_id,
                journey_key=start.journey_key,
                offset=offset,
                size=min(start.batch_size, start.total - offset),
                properties=start.properties,
                before=self._progress,
            )
            try:
                result: BatchResult = await workflow.execute_activity(
                    ACTIVITY_ENTER_BATCH,
                    batch,
                    result_type=BatchResult,
                    start_to_close_timeout=_BATCH_TIMEOUT,
                    heartbeat_timeout=_BATCH_HEARTBEAT,
                    retry_policy=_RETRY,
                )
            except ActivityError as err:
                stopped = f"customers {offset + 1}-{offset + batch.size}: {_cause(err)}"
                break
            self._progress = result.progress
            if result.stopped is not None:
                stopped = result.stopped
                break
            offset += batch.size
        else:
            if offset < start.total:
                workflow.continue_as_new(replace(start, offset=offset, progress=self._progress))
        await workflow.execute_activity(
            ACTIVITY_FINISH_IMPORT,
            AudienceEnd(
                import_id=start.import_id,
                status=ImportStatus.FAILED if stopped is not None else ImportStatus.COMPLETED,
                progress=self._progress,
                error=stopped,
            ),
            start_to_close_timeout=_FINISH_TIMEOUT,
            retry_policy=_RETRY,
        )
        return self._progress


def _cause(err: ActivityError) -> str:
    return str(err.cause or err)
