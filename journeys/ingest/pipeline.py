"""What one event does, stage by stage: decode → identify → consent → decide → commands.

The router (``workers/router.py``) owns the JetStream side: it pulls, decodes (dead-lettering
what does not decode) and acknowledges; for each event it calls :meth:`EventPipeline.route`,
which runs the stages below in order. Starts and signals are idempotent (workflow ids,
messageIds), so an event routed twice after a crash does nothing twice.
"""

from __future__ import annotations

from dataclasses import replace

from temporalio.client import Client

from journeys.ingest.commands import RouteResult, carry_out
from journeys.ingest.consent import changes_consent, update_consent
from journeys.ingest.decide import decide
from journeys.ingest.events import Event, EventTooLarge, InvalidEvent, decode_event
from journeys.ingest.identify import apply_identity, changes_identity, resolve_pull
from journeys.ingest.routing import JourneyIndex
from journeys.metrics import DeadLetterReason
from journeys.settings import Settings
from journeys.store.customers import Identity
from journeys.store.db import Sessions


class Undecodable(ValueError):
    """Bytes that are no event the router can route; the message is the dead letter's reason,
    ``reason`` its class for the dead-letter metric."""

    def __init__(self, message: str, reason: DeadLetterReason) -> None:
        super().__init__(message)
        self.reason = reason


def decode(data: bytes) -> Event:
    """The first stage: the event in a message's bytes, or :class:`Undecodable` with why not."""
    try:
        return decode_event(data)
    except EventTooLarge as err:
        raise Undecodable(str(err), DeadLetterReason.TOO_LARGE) from err
    except InvalidEvent as err:
        raise Undecodable(f"invalid event: {err}", DeadLetterReason.INVALID) from err
    except Exception as err:  # undecodable bytes, not even JSON text
        reason = DeadLetterReason.UNDECODABLE
        raise Undecodable(f"undecodable message: {err}", reason) from err


class EventPipeline:
    """Routes valid events to journeys with the journeys of ``index`` (replaced on refresh)."""

    def __init__(
        self, client: Client, settings: Settings, index: JourneyIndex, sessions: Sessions
    ) -> None:
        self.client = client
        self.settings = settings
        self.index = index
        self.sessions = sessions

    def has_work(self, event: Event) -> bool:
        """False for events nothing needs (page views no journey wants): ack them at once."""
        return changes_identity(event) or changes_consent(event) or self.index.wants(event.name)

    async def resolve_pull(self, events: list[Event]) -> dict[str, Identity]:
        """The identities of a pull's customers, in one session; :meth:`route` takes each
        event's as ``known``."""
        return await resolve_pull(self.sessions, self.index, events)

    async def route(self, event: Event, known: Identity | None = None) -> RouteResult:
        """Apply ``event``: its identity, its consent, then the journeys it starts or signals."""
        identity = await apply_identity(self.sessions, self.index, event, known)
        journey_event = replace(event.to_journey_event(), customer_id=identity.customer_id)
        consent = await update_consent(self.sessions, self.settings, event, identity, journey_event)
        decision = await decide(self.sessions, self.index, identity, journey_event)
        result = RouteResult(customer_id=identity.customer_id, filtered=decision.filtered)
        await carry_out(self.client, self.settings, [*consent.signals, *decision.commands], result)
        return result


__all__ = ["EventPipeline", "RouteResult", "Undecodable", "decode"]
