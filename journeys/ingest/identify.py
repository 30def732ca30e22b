"""The pipeline's identity stage: who an event is about, and what it says about them.

Identify and alias calls link the ids they carry (an anonymous id to a user id, a previous id
to a new one) and identify merges its traits into the profile, in one transaction, before
anything is routed; other events a journey wants only resolve their customer, which a pull
does for all its customers at once (:func:`resolve_pull`).
"""

from __future__ import annotations

from journeys.ingest.events import Event
from journeys.ingest.routing import JourneyIndex
from journeys.store import customers
from journeys.store.customers import Identity
from journeys.store.db import Sessions

IDENTITY_CALLS = ("identify", "alias")


def changes_identity(event: Event) -> bool:
    """An identify or alias call: the customer's identity may differ after it."""
    return event.type in IDENTITY_CALLS


def needs_identity(index: JourneyIndex, event: Event) -> bool:
    """An event a journey wants that does not change identity: it only resolves its
    customer, which can be done for a whole pull at once."""
    return not changes_identity(event) and index.wants(event.name)


async def resolve_pull(
    sessions: Sessions, index: JourneyIndex, events: list[Event]
) -> dict[str, Identity]:
    """The identities of a pull's customers, in one session."""
    ids = {event.customer_id for event in events if needs_identity(index, event)}
    if not ids:
        return {}
    async with sessions() as session:
        return await customers.resolve_many(session, ids)


async def apply_identity(
    sessions: Sessions, index: JourneyIndex, event: Event, known: Identity | None = None
) -> Identity:
    """Identify and alias calls link ids and merge traits; events a journey wants only
    resolve (``known`` when the pull resolved them already); the rest need nothing."""
    if needs_identity(index, event):
        if known is not None:
            return known
        async with sessions() as session:
            return await customers.resolve(session, event.customer_id)
    if not changes_identity(event):
        return Identity(event.customer_id)
    async with sessions.begin() as session:
        if event.type == "alias":
            previous = _previous_id(event)
            if previous and event.user_id:
                await customers.link(session, previous, event.user_id, source="alias")
        elif event.user_id and event.anonymous_id:
            await customers.link(session, event.anonymous_id, event.user_id, source="identify")
        identity = await customers.resolve(session, event.customer_id)
        if event.type == "identify":
            await customers.merge_traits(session, identity.customer_id, event.all_traits())
        return identity


def _previous_id(event: Event) -> str | None:
    """An alias call's ``previousId`` (a declared field, or kept among the extras)."""
    value = getattr(event, "previous_id", None) or (event.model_extra or {}).get("previousId")
    return value if isinstance(value, str) and value else None
