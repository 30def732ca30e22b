"""The pipeline's consent stage: what an event changes in the customer's consent.

Identify calls carry consent in their traits; unsubscribes, spam complaints and bounces (from
the provider webhooks) add suppressions. A change that forbids marketing ends the customer's
running marketing journeys: each gets a ``Suppressed`` signal, sent with the event's other
commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from journeys.contracts import JourneyEvent
from journeys.delivery.compliance import suppressed_event
from journeys.ingest.commands import Signal
from journeys.ingest.events import Event
from journeys.settings import Settings
from journeys.store import consent
from journeys.store.consent import ConsentChange
from journeys.store.customers import Identity
from journeys.store.db import Sessions


@dataclass(frozen=True)
class ConsentUpdate:
    """The change to the customer's consent, and the signals that end their marketing runs."""

    change: ConsentChange = field(default_factory=ConsentChange)
    signals: list[Signal] = field(default_factory=list)


def changes_consent(event: Event) -> bool:
    return event.type == "identify" or event.name in consent.CONSENT_EVENTS


async def update_consent(
    sessions: Sessions,
    settings: Settings,
    event: Event,
    identity: Identity,
    journey_event: JourneyEvent,
) -> ConsentUpdate:
    """Record the consent ``event`` gives or withdraws; ``journey_event`` is the event as the
    customer's journeys see it (under their canonical id)."""
    if not changes_consent(event):
        return ConsentUpdate()
    async with sessions.begin() as session:
        if event.type == "identify":
            change = await consent.apply_traits(
                session,
                identity.customer_id,
                event.all_traits(),
                at=event.timestamp,
                source_id=event.message_id,
            )
        else:
            change = await consent.apply_event(
                session,
                identity.customer_id,
                event.name,
                event.properties,
                at=event.timestamp,
                source_id=event.message_id,
                asm_groups=settings.subscription_groups_by_asm_id,
            )
        ending = await consent.runs_to_end(session, identity.ids) if change.ends_marketing else []
    signal = suppressed_event(journey_event, change.reasons)
    return ConsentUpdate(change, [Signal(wid, signal) for wid in ending])
