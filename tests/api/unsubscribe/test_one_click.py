"""RFC 8058 one-click unsubscribe, end to end: the link taken from a received email's
``List-Unsubscribe`` header, POSTed with no login, changes consent and ends the customer's running
marketing journey; a tampered or expired link changes nothing."""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage
from urllib.parse import urljoin, urlsplit

import nats
from sqlalchemy import select
from temporalio.client import Client as TemporalClient

from journeys.delivery import unsubscribe
from journeys.settings import Settings
from journeys.store.models import Consent, Suppression
from tests.conftest import Store
from tests.support.api import serve
from tests.support.delivery_reports import events_of
from tests.support.helpers import customer_id, eventually, runs_of, track
from tests.support.journeys.mail import PromoSeries
from tests.support.mailbox import Inbox
from tests.support.pipeline import running_pipeline

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def https_link(message: EmailMessage) -> str:
    links = [part.strip(" <>\r\n") for part in str(message["List-Unsubscribe"]).split(",")]
    (https,) = [link for link in links if link.startswith("https://")]
    return https


async def consents_of(store: Store, customer: str) -> list[tuple[str, str, str, str]]:
    async with store.sessions() as session:
        rows = await session.scalars(select(Consent).where(Consent.customer_id == customer))
        return sorted((r.kind, r.name, r.status, r.source) for r in rows)


async def test_one_click_from_the_received_header_unsubscribes_and_ends_the_journey(
    store: Store,
    unsubscribe_settings: Settings,
    temporal_dev: TemporalClient,
    mail: tuple[Inbox, int],
) -> None:
    inbox, _ = mail
    settings = unsubscribe_settings
    customer = customer_id()
    async with (
        running_pipeline(settings, temporal_dev, store.sessions, journeys=[PromoSeries]) as stack,
        serve(settings, role=None) as client,
    ):
        await stack.publish(track("Promo Started", customer))

        async def received() -> EmailMessage:
            messages = inbox.to("ada@example.com")
            assert len(messages) == 1
            return messages[0]

        message = await eventually(received, timeout=30)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = https_link(message)
        (run,) = await runs_of(store.sessions, customer)
        assert run.status == "active"  # waiting a week for its second email

        # What a mailbox provider does: POST the header's URL, no cookie, no key.
        response = await client.post(urlsplit(url).path, data=ONE_CLICK)
        assert response.status_code == 200, response.text
        assert "unsubscribed" in response.text
        (link,) = re.findall(r'href="([^"]+)"', response.text)
        assert urljoin(url, link) == f"{url}/preferences"

        async def exited() -> None:
            (run,) = await runs_of(store.sessions, customer)
            assert run.status == "exited"
            assert "Suppressed" in (run.reason or "")

        await eventually(exited, timeout=30)
        assert await consents_of(store, customer) == [
            ("channel", "email", "opted_out", "event:Unsubscribed")
        ]
        async with store.sessions() as session:
            (suppression,) = (await session.scalars(select(Suppression))).all()
        assert (suppression.channel, suppression.reason, suppression.scope) == (
            "email",
            "unsubscribe",
            "marketing",
        )

        # Idempotent: a later click is answered the same and changes nothing more.
        again = await client.post(urlsplit(url).path, data=ONE_CLICK)
        assert again.status_code == 200

        async def both_routed() -> None:
            published = await events_of(stack.js, customer)
            unsubscribes = [e for e in published if e.get("event") == "Unsubscribed"]
            assert len(unsubscribes) == 2
            assert unsubscribes[0]["properties"] == {"channel": "email", "source": "one_click"}

        await eventually(both_routed, timeout=10)
        await asyncio.sleep(1)
        assert await consents_of(store, customer) == [
            ("channel", "email", "opted_out", "event:Unsubscribed")
        ]
        async with store.sessions() as session:
            assert len((await session.scalars(select(Suppression))).all()) == 1
    assert len(inbox.to("ada@example.com")) == 1


async def test_tampered_expired_and_malformed_posts_change_nothing(
    store: Store, unsubscribe_settings: Settings, fresh_nats_url: str
) -> None:
    customer = customer_id()
    token = unsubscribe.sign(unsubscribe_settings, customer, "email", None)
    # Another customer's payload under this token's signature.
    other = unsubscribe.sign(unsubscribe_settings, "someone-else", "email", None)
    forged = f"{other.partition('.')[0]}.{token.partition('.')[2]}"
    expiring = unsubscribe_settings.model_copy(update={"unsubscribe_link_max_age_days": 1 / 86400})
    async with serve(unsubscribe_settings, role=None) as client:
        refused = await client.post(f"/u/{forged}", data=ONE_CLICK)
        assert refused.status_code == 403
        assert "not one we sent" in refused.text
        garbage = await client.post("/u/not-a-token", data=ONE_CLICK)
        assert garbage.status_code == 403
        # The right token, the wrong body: RFC 8058 names the one body a one-click POST has.
        wrong = await client.post(f"/u/{token}", data={"List-Unsubscribe": "Yes"})
        assert wrong.status_code == 422
        assert "List-Unsubscribe" in wrong.text
        empty = await client.post(f"/u/{token}")
        assert empty.status_code == 422
        # GET never unsubscribes (mail scanners follow links): it shows the page.
        page = await client.get(f"/u/{token}")
        assert page.status_code == 200
    async with serve(expiring, role=None) as client:
        await asyncio.sleep(2.1)
        expired = await client.post(f"/u/{token}", data=ONE_CLICK)
        assert expired.status_code == 410
        assert "expired" in expired.text
        assert (await client.get(f"/u/{token}/preferences")).status_code == 410
    connection = await nats.connect(fresh_nats_url)
    try:
        assert await events_of(connection.jetstream(), customer) == []
        assert await events_of(connection.jetstream(), "someone-else") == []
    finally:
        await connection.close()
    assert await consents_of(store, customer) == []


async def test_one_click_with_a_group_link_leaves_only_the_group(
    store: Store, unsubscribe_settings: Settings, fresh_nats_url: str
) -> None:
    customer = customer_id()
    token = unsubscribe.sign(unsubscribe_settings, customer, "email", "newsletter")
    async with serve(unsubscribe_settings, role=None) as client:
        response = await client.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert "newsletter" in response.text
        # The same click again before anything recorded it: the same messageId, one event.
        again = await client.post(f"/u/{token}", data=ONE_CLICK)
        assert again.status_code == 200
    connection = await nats.connect(fresh_nats_url)
    try:
        (event,) = await events_of(connection.jetstream(), customer)
    finally:
        await connection.close()
    assert event["event"] == "Group Unsubscribed"
    assert event["properties"] == {"group": "newsletter", "source": "one_click"}


async def test_multipart_one_click_is_taken_too(unsubscribe_settings: Settings) -> None:
    token = unsubscribe.sign(unsubscribe_settings, customer_id(), "email", None)
    async with serve(unsubscribe_settings, role=None) as client:
        response = await client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
