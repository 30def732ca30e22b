"""The inactivity watcher: enters a customer into a journey when an event stops happening.

"No Login for 7 days" is a countdown per customer and journey, restarted by every Login. The
router signal-with-starts ``inactive/<journey key>/<customer>`` with each qualifying event; when
the countdown runs out the watcher starts the journey itself (a child workflow that outlives it)
with a synthetic trigger event, and ends. The customer's next Login starts a new watcher, so
one period of absence enters them once.

Workflow code: deterministic, no I/O. Seen messageIds and the last event are carried over
continue-as-new, so a long-active customer's watcher keeps a short history and still drops
redelivered events.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from journeys.contracts import (
    EVENT_SIGNAL,
    WATCHER_WORKFLOW,
    JourneyEvent,
    JourneyStart,
    WatchStart,
)
from journeys.workflow_ids import run_search_attributes, workflow_id
from journeys.workflows.run import human_duration
from journeys.workflows.seen_ids import SeenIds

# Countdown restarts kept in one history before continuing as new.
RESTARTS_PER_RUN = 200


@workflow.defn(name=WATCHER_WORKFLOW)
class InactivityWatcher:
    def __init__(self) -> None:
        self._seen = SeenIds()
        self._events: list[JourneyEvent] = []
        self._handled = 0

    @workflow.signal(name=EVENT_SIGNAL)
    def on_event(self, event: JourneyEvent) -> None:
        if self._seen.first_time(event.message_id):
            self._events.append(event)

    def _new_events(self) -> bool:
        return len(self._events) > self._handled

    @workflow.run
    async def run(self, start: WatchStart) -> str:
        for message_id in start.seen:
            self._seen.first_time(message_id)
        last = start.last_event
        period = timedelta(seconds=start.period_seconds) / start.time_scale
        restarts = 0
        while True:
            if last is None:
                await workflow.wait_condition(self._new_events)
            else:
                try:
                    await workflow.wait_condition(
                        self._new_events,
                        timeout=period,
                        timeout_summary=f"no {start.event_name} for {human_duration(period)}",
                    )
                except TimeoutError:
                    return await self._enter(start, last)
            arrived, self._handled = self._events[self._handled :], len(self._events)
            newest = max(arrived, key=lambda e: e.timestamp)
            if last is None or newest.timestamp >= last.timestamp:
                last = newest
            restarts += 1
            if restarts >= RESTARTS_PER_RUN and workflow.all_handlers_finished():
                workflow.continue_as_new(
                    WatchStart(
                        **{
                            **start.__dict__,
                            "seen": self._seen.carried(),
                            "last_event": last,
                        }
                    )
                )

    async def _enter(self, start: WatchStart, last: JourneyEvent) -> str:
        period = timedelta(seconds=start.period_seconds)
        trigger = JourneyEvent(
            name=f"No {start.event_name} for {human_duration(period)}",
            # One entry per countdown: a redelivered last event cannot enter the customer twice.
            message_id=f"inactive:{start.journey_key}:{last.message_id}",
            customer_id=start.customer_id,
            timestamp=workflow.now(),
            traits=last.traits,
            properties={
                "last_event": last.name,
                "last_message_id": last.message_id,
                "last_seen_at": last.timestamp.isoformat(),
            },
        )
        journey_id = workflow_id(start.journey_key, start.customer_id)
        try:
            await workflow.start_child_workflow(
                start.workflow_type,
                JourneyStart(
                    journey_key=start.journey_key,
                    journey_version=start.journey_version,
                    customer_id=start.customer_id,
                    time_scale=start.time_scale,
                    trigger=trigger,
                ),
                id=journey_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=run_search_attributes(
                    start.customer_id, start.journey_key, start.journey_version
                ),
            )
        except WorkflowAlreadyStartedError:
            return f"{journey_id} already running"
        return f"entered {journey_id}"
