"""A customer whose contact details hide where the issue's prober found them: traits named
``phone_number``, ``mobile``, ``emailAddress``, ``contact.tel`` ..., nested, and an email address
as the customer's id. Seeded with a run that sent an SMS, for the API and console tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from journeys.activities.journey import JourneyActivities
from journeys.contracts import (
    AuditRecord,
    EntryRecord,
    ExitRecord,
    JourneyOutcome,
    RunRef,
    SendRequest,
)
from journeys.delivery.channels import build_providers
from journeys.delivery.templates_catalog import TemplateCatalog, seed_templates
from journeys.ingest.events import Event
from journeys.store import customers
from journeys.temporal import workflow_id
from tests.conftest import Store

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def prober_traits(tag: str) -> dict[str, Any]:
    """The prober's traits; ``tag`` makes the addresses this test's own."""
    return {
        "first_name": "Ada",
        "phone": "+15550000001",
        "phone_number": "+1 555 000 0002",
        "mobile": "07700 900123",
        "emailAddress": f"ada.{tag}@work.example",
        "email_address": f"ada.{tag}@home.example",
        "workEmail": f"lovelace.{tag}@engine.example",
        "contact.tel": "+33 6 12 34 56 78",
        "contact": {"tel": "020 7946 0958", "fax": "5550003333"},
        "billing.e-mail": f"billing.{tag}@ada.example",
        "billing": {"e-mail": f"invoices.{tag}@ada.example"},
        "notes": [{"deep": {"text": f"call +1 (555) 000-4444 or write to ada.{tag}@backup.net"}}],
        "plan": "pro",
        "orders": 1234567,
        "zip": "75008",
        "signed_up": "2026-11-23",
        "score": "12345.67",
    }


# Each contact detail above as support must never see it (values are tag-formatted first).
CONTACTS = [
    "+15550000001",
    "+1 555 000 0002",
    "07700 900123",
    "ada.{tag}@work.example",
    "ada.{tag}@home.example",
    "lovelace.{tag}@engine.example",
    "+33 6 12 34 56 78",
    "020 7946 0958",
    "5550003333",
    "billing.{tag}@ada.example",
    "invoices.{tag}@ada.example",
    "+1 (555) 000-4444",
    "ada.{tag}@backup.net",
]


@dataclass(frozen=True)
class ContactCustomer:
    customer_id: str
    tag: str
    run: RunRef

    @property
    def contacts(self) -> list[str]:
        """Every contact detail of theirs, the id first."""
        return [self.customer_id, *(c.format(tag=self.tag) for c in CONTACTS)]


async def seed_contact_customer(store: Store) -> ContactCustomer:
    """A profile with the prober's traits under an email address as id, and a cart recovery
    that sent them an SMS, waited and exited."""
    tag = uuid.uuid4().hex[:8]
    customer = f"ada.lovelace.{tag}@example.com"
    await seed_templates(store.sessions, store.settings)
    async with store.sessions.begin() as session:
        await customers.merge_traits(session, customer, prober_traits(tag))
    activities = JourneyActivities(
        store.sessions, TemplateCatalog(store.sessions), build_providers(store.settings)
    )
    trigger = Event.model_validate(
        {
            "type": "track",
            "event": "Cart Abandoned",
            "userId": customer,
            "properties": {"cart_id": "K9", "total": 19.9, "contact_email": customer},
        }
    ).to_journey_event()
    run = RunRef(
        run_id=str(uuid.uuid4()),
        workflow_id=workflow_id("cart-recovery", customer),
        journey_key="cart-recovery",
        journey_version=1,
        customer_id=customer,
    )
    await activities.record_entry(EntryRecord(run, trigger, entered_at=T0))
    await activities.record_audit(
        AuditRecord(
            run,
            2,
            "traits_updated",
            f"traits of {customer} updated",
            T0,
            data={"traits": {"phoneNumber": "+1 555 000 0002"}, "by": f"ada.{tag}@work.example"},
        )
    )
    sent_at = T0 + timedelta(minutes=15)
    await activities.send_message(
        SendRequest(run, 3, "send-1", "sms", "cart_recovery_sms", trigger, sent_at)
    )
    ended = T0 + timedelta(minutes=20)
    outcome = JourneyOutcome("exited", "exited on Order Completed", ended, messages_sent=1)
    await activities.record_exit(ExitRecord(run, 4, outcome))
    return ContactCustomer(customer, tag, run)
