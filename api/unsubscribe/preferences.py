"""A customer's subscriptions as the preference centre shows them, and the events a change is.

Nothing here writes consent: each change is published as an event and the router's consent stage
records it (``journeys/ingest/consent.py``), as it does for a provider's unsubscribe, so every
change is audited in ``consents`` with its source and messageId, and an opt-out ends the
customer's running marketing journeys like any other. Leaving a channel is ``Unsubscribed``,
leaving a group ``Group Unsubscribed``; coming back is an identify call whose ``consent`` trait
opts in, the documented way to resubscribe (it also lifts the address's ``unsubscribe``
suppression).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.delivery.compliance import OPTED_OUT, Policy
from journeys.delivery.unsubscribe import Recipient, action_id
from journeys.ingest.events import Event
from journeys.ingest.webhooks import names
from journeys.settings import Settings
from journeys.store import customers
from journeys.store.consent import CHANNEL, GROUP
from journeys.store.models import Consent

# The event property that says where a change came from.
SOURCE_ONE_CLICK = "one_click"
SOURCE_PREFERENCE_CENTRE = "preference_centre"
# The form's field names: ``channel:email``, ``group:newsletter``; values these two.
SUBSCRIBED, UNSUBSCRIBED = "subscribed", "unsubscribed"
MAX_FIELDS = 200

Kind = Literal["channel", "group"]


class InvalidChoice(ValueError):
    """A form field the page did not offer, or a value it does not take; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class Subscription:
    kind: Kind
    name: str
    subscribed: bool
    # False where the page may only unsubscribe: another channel than the link's, or an opt-in
    # channel (SMS comes back by START).
    resubscribable: bool
    # The record the state comes from (its time, "" for none): a change's messageId names the
    # state it changes, so a request repeated before the router records it is one event, and a
    # later change of mind (out, in, out again) is a new one.
    since: str = ""

    @property
    def field(self) -> str:
        return f"{self.kind}:{self.name}"


async def subscriptions(
    session: AsyncSession, settings: Settings, recipient: Recipient
) -> list[Subscription]:
    """The recipient's channels (theirs, and any other they have a record for) and the groups
    (configured, theirs, and the link's), each with its current state."""
    identity = await customers.resolve(session, recipient.customer_id)
    rows = await session.scalars(
        select(Consent)
        .where(Consent.customer_id.in_(identity.ids), Consent.kind.in_([CHANNEL, GROUP]))
        .order_by(Consent.changed_at)
    )
    latest = {(row.kind, row.name): (row.status, row.changed_at.isoformat()) for row in rows}
    opt_in = Policy.from_settings(settings).opt_in_channels
    others = sorted({n for k, n in latest if k == CHANNEL} - {recipient.channel})
    channels = [recipient.channel, *others]
    groups = set(settings.subscription_groups) | set(
        settings.subscription_groups_by_asm_id.values()
    )
    groups |= {n for k, n in latest if k == GROUP}
    if recipient.group:
        groups.add(recipient.group)
    found = []
    for name in channels:
        status, since = latest.get((CHANNEL, name), (None, ""))
        subscribed = status != OPTED_OUT if name not in opt_in else status == "opted_in"
        # Only the link's own channel comes back here: the link proves the email address, not
        # a phone number, and an opt-in channel (SMS) comes back by START.
        resubscribable = name == recipient.channel and name not in opt_in
        found.append(Subscription("channel", name, subscribed, resubscribable, since))
    for name in sorted(groups):
        status, since = latest.get((GROUP, name), (None, ""))
        found.append(Subscription("group", name, status != OPTED_OUT, True, since))
    return found


def chosen(offered: list[Subscription], form: Mapping[str, list[str]]) -> list[Subscription]:
    """The subscriptions as the form sets them; a field left out keeps its state."""
    by_field = {s.field: s for s in offered}
    for field, values in form.items():
        if field not in by_field:
            raise InvalidChoice(field, "not a subscription this page offers")
        if len(values) != 1 or values[0] not in (SUBSCRIBED, UNSUBSCRIBED):
            raise InvalidChoice(field, f"must be {SUBSCRIBED!r} or {UNSUBSCRIBED!r}")
        current = by_field[field]
        wanted = values[0] == SUBSCRIBED
        if wanted and not current.subscribed and not current.resubscribable:
            raise InvalidChoice(field, "resubscribe on that channel itself (SMS: reply START)")
        by_field[field] = replace(current, subscribed=wanted)
    return [by_field[s.field] for s in offered]


def change_events(
    recipient: Recipient,
    before: list[Subscription],
    after: list[Subscription],
    *,
    source: str,
    at: datetime,
) -> list[Event]:
    """The events that take the customer from ``before`` to ``after``: opt-outs first, then one
    identify for every opt-in."""
    was = {s.field: s.subscribed for s in before}
    events: list[Event] = []
    consent: dict[str, Any] = {}
    rejoined: list[str] = []
    for sub in after:
        if sub.subscribed == was[sub.field]:
            continue
        if sub.subscribed:
            if sub.kind == "channel":
                consent[sub.name] = True
            else:
                consent.setdefault("groups", {})[sub.name] = True
            rejoined.append(f"{sub.field}@{sub.since}")
        else:
            events.append(_leave(recipient, sub, source, at))
    if consent:
        events.append(
            Event.model_validate(
                {
                    "type": "identify",
                    "userId": recipient.customer_id,
                    "messageId": action_id(recipient, f"rejoin:{sorted(rejoined)}"),
                    "timestamp": at,
                    "traits": {"consent": consent},
                    "context": {"source": source},
                }
            )
        )
    return events


def one_click_event(recipient: Recipient, offered: list[Subscription], at: datetime) -> Event:
    """RFC 8058's one click: leave the link's group when it names one, else its channel."""
    field = f"group:{recipient.group}" if recipient.group else f"channel:{recipient.channel}"
    (sub,) = [s for s in offered if s.field == field]
    return _leave(recipient, sub, SOURCE_ONE_CLICK, at)


def _leave(recipient: Recipient, sub: Subscription, source: str, at: datetime) -> Event:
    if sub.kind == "channel":
        name, properties = names.UNSUBSCRIBED, {"channel": sub.name}
    else:
        name, properties = names.GROUP_UNSUBSCRIBED, {"group": sub.name}
    return Event.model_validate(
        {
            "type": "track",
            "event": name,
            "userId": recipient.customer_id,
            "messageId": action_id(recipient, f"leave:{sub.field}@{sub.since}"),
            "timestamp": at,
            "properties": {**properties, "source": source},
        }
    )
