"""A message's delivery in a run's timeline: what was rendered and sent, and what became of it
since, as the provider and our open and click tracking reported it (delivered, opened 2x...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from journeys.store.models import Delivery, DeliveryEvent

# Delivery event kinds (journeys/ingest/webhooks/recording.py) that say where the message got to
# (the last one stands), and those that say what the customer did with it (counted).
_STATUS_KINDS = ("delivered", "bounced", "dropped", "failed", "undelivered")
_ENGAGEMENT = {
    "opened": "opened",
    "clicked": "clicked",
    "spam_reported": "marked as spam",
    "unsubscribed": "unsubscribed",
    "group_unsubscribed": "left the subscription group",
}
_CHANNEL_NAMES = {"sms": "SMS"}


def channel_name(channel: str) -> str:
    """A channel as a sentence names it (``SMS``, ``email``)."""
    return _CHANNEL_NAMES.get(channel, channel)


def delivery_detail(delivery: Delivery, events: list[DeliveryEvent]) -> dict[str, Any]:
    opens = [e for e in events if e.kind == "opened"]
    return {
        "delivery_id": delivery.id,
        "step": delivery.step,
        "channel": delivery.channel,
        "provider": delivery.provider,
        "category": delivery.category,
        "template": delivery.template,
        "template_version": delivery.template_version,
        "status": delivery.status,
        "reason": delivery.reason,
        "recipient": delivery.recipient,
        "subject": delivery.subject,
        "body": delivery.body,
        "html": delivery.html,
        "provider_message_id": delivery.provider_message_id,
        "provider_status": _provider_status(events),
        "opens": sum(1 for e in opens if not e.detail.get("machine_open")),
        "machine_opens": sum(1 for e in opens if e.detail.get("machine_open")),
        "clicks": sum(1 for e in events if e.kind == "clicked"),
        "events": [
            {
                "kind": e.kind,
                "at": e.occurred_at.isoformat(),
                "source": e.source,
                "url": e.url,
                "provider_message_id": e.provider_message_id,
                **({"detail": e.detail} if e.detail else {}),
            }
            for e in events
        ],
    }


def _provider_status(events: Iterable[DeliveryEvent]) -> str | None:
    """The last report of where the message got to (a bounce after "delivered" stands)."""
    status = None
    for event in events:
        if event.kind in _STATUS_KINDS:
            status = event.kind
    return status


def outcome(events: list[DeliveryEvent]) -> str:
    """``delivered, opened 2x, clicked``: the provider's last word, then what the customer did."""
    said: list[str] = []
    status = _provider_status(events)
    if status is not None:
        reason = next((e.detail.get("reason") for e in reversed(events) if e.kind == status), None)
        said.append(f"{status} ({reason})" if reason and status != "delivered" else status)
    machine = sum(1 for e in events if e.kind == "opened" and e.detail.get("machine_open"))
    for kind, words in _ENGAGEMENT.items():
        count = sum(1 for e in events if e.kind == kind and not e.detail.get("machine_open"))
        if count:
            said.append(words if count == 1 else f"{words} {count}x")
    if machine:
        said.append(f"opened by a mail privacy proxy {machine}x")
    return ", ".join(said)
