"""The pipeline's last stage: what an event makes Temporal do, as data, and doing it.

The decision (:mod:`journeys.ingest.decide`) and the consent stage (:mod:`journeys.ingest.consent`)
say which runs to start and which to signal; :func:`carry_out` sends those commands in order
through :mod:`journeys.ingest.starts` and records what each did in a :class:`RouteResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.client import Client

from journeys.contracts import JourneyEvent
from journeys.ingest import starts
from journeys.ingest.routing import RouteTarget
from journeys.settings import Settings


@dataclass(frozen=True)
class Start:
    """Enter the customer into ``target``: signal-with-start the run ``workflow_id``."""

    target: RouteTarget
    customer_id: str
    workflow_id: str
    trigger: JourneyEvent
    entry_key: str | None = None
    # The customer's runs of this journey begun under their other ids (anonymously, say): the
    # first of them still running is theirs and takes the trigger instead of a new run.
    joins: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestartCountdown:
    """Restart the customer's inactivity countdown for an inactivity-triggered ``target``."""

    target: RouteTarget
    customer_id: str
    event: JourneyEvent


@dataclass(frozen=True)
class Signal:
    """Send ``event`` to the run ``workflow_id``; a run that is not running is nothing to do."""

    workflow_id: str
    event: JourneyEvent


Command = Start | RestartCountdown | Signal


@dataclass
class RouteResult:
    """What routing one event did, by workflow id."""

    customer_id: str = ""
    started: list[str] = field(default_factory=list)
    signalled: list[str] = field(default_factory=list)
    not_running: list[str] = field(default_factory=list)
    # Journeys the event would have entered but for their entry rules (a trigger filter that
    # does not hold, an entry key the event lacks).
    filtered: list[str] = field(default_factory=list)


async def carry_out(
    client: Client, settings: Settings, commands: list[Command], result: RouteResult
) -> None:
    """Send ``commands`` one after another, in order, adding what each did to ``result``."""
    for command in commands:
        match command:
            case Signal(wid, event):
                await _signal(client, wid, event, result)
            case RestartCountdown(target, customer_id, event):
                wid = await starts.restart_countdown(client, settings, target, customer_id, event)
                result.started.append(wid)
            case Start():
                for other in command.joins:
                    if await _signal(client, other, command.trigger, result):
                        break
                else:
                    await starts.start_run(
                        client,
                        settings,
                        command.target,
                        command.customer_id,
                        command.trigger,
                        command.workflow_id,
                        command.entry_key,
                    )
                    result.started.append(command.workflow_id)


async def _signal(client: Client, wid: str, event: JourneyEvent, result: RouteResult) -> bool:
    running = await starts.signal(client, wid, event)
    (result.signalled if running else result.not_running).append(wid)
    return running
