"""The pipeline's routing stage: which runs an event starts and which it signals.

Every journey the event triggers is entered (a signal-with-start, :mod:`journeys.ingest.starts`)
unless its trigger filter does not hold or the event lacks its entry key; an inactivity-triggered
journey has its countdown restarted instead. Every journey listening to the event (to exit or
to wait) is signalled, unless this event just entered it: the start carried the event already.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from journeys.contracts import JourneyEvent
from journeys.definitions.document import ALWAYS
from journeys.definitions.expressions import scope
from journeys.ingest import starts
from journeys.ingest.commands import Command, RestartCountdown, Signal, Start
from journeys.ingest.routing import JourneyIndex, RouteTarget
from journeys.store.customers import Identity
from journeys.store.db import Sessions
from journeys.store.runs import active_run_ids
from journeys.workflow_ids import keyed_workflow_id, workflow_id


@dataclass
class Decision:
    """The commands for one event, in the order to send them, and the journeys whose entry
    rules turned it away."""

    commands: list[Command] = field(default_factory=list)
    filtered: list[str] = field(default_factory=list)


async def decide(
    sessions: Sessions, index: JourneyIndex, identity: Identity, event: JourneyEvent
) -> Decision:
    """Starts first, then signals; ``event`` is already under the canonical customer id."""
    decision = Decision()
    entered = set()
    for target in index.started_by(event.name):
        command = _entry(target, identity, event)
        if command is None:
            decision.filtered.append(target.key)
            continue
        if isinstance(command, Start):
            entered.add(target.key)
        decision.commands.append(command)
    for target in index.signalled_by(event.name):
        if target.key in entered:
            continue
        for wid in await _listening_runs(sessions, target, identity, event):
            decision.commands.append(Signal(wid, event))
    return decision


def _entry(
    target: RouteTarget, identity: Identity, event: JourneyEvent
) -> Start | RestartCountdown | None:
    """How ``event`` enters ``target``, or None when its entry rules turn it away."""
    if target.trigger_where is not None and not target.trigger_where.holds(
        scope(now=datetime.now(UTC), trigger=event, event=event)
    ):
        return None
    customer = identity.customer_id
    if target.inactivity_seconds is not None:
        return RestartCountdown(target, customer, event)
    if not target.keyed:
        # A run begun under another id of this customer (anonymously, say) is theirs.
        joins = tuple(workflow_id(target.key, other) for other in identity.aliases)
        return Start(target, customer, workflow_id(target.key, customer), event, joins=joins)
    key = starts.entry_key(target, event)
    if target.entry.key is not None and key is None:
        return None
    return Start(target, customer, starts.run_id(target, customer, event, key), event, key)


async def _listening_runs(
    sessions: Sessions, target: RouteTarget, identity: Identity, event: JourneyEvent
) -> list[str]:
    """The runs of ``target`` that ``event`` may concern: the customer's run under each of
    their ids; for keyed journeys, the one the event's entry key names when it carries that key
    (``cart_id``), else all their running runs as the store knows them."""
    if not target.keyed:
        return [workflow_id(target.key, customer) for customer in identity.ids]
    if target.entry.key is not None and target.entry.reentry != ALWAYS:
        value = starts.entry_key(target, event)
        if value is not None:
            return [keyed_workflow_id(target.key, identity.customer_id, value)]
    async with sessions() as session:
        return await active_run_ids(session, target.key, identity.ids)
