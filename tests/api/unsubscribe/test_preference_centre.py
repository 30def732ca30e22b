"""The preference centre: a page of the link's channels and groups with their state, escaped,
showing nothing of the profile; its form opts out and back in through events the router records."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urljoin

from sqlalchemy import select
from temporalio.client import Client as TemporalClient

from journeys.delivery import unsubscribe
from journeys.ingest.events import Event
from journeys.settings import Settings
from journeys.store.models import Consent, Suppression
from tests.conftest import Store
from tests.support.api import serve
from tests.support.helpers import customer_id, eventually
from tests.support.pipeline import running_pipeline

ADDRESS = "grace@example.com"


def checked(page: str) -> dict[str, str]:
    """Each radio group's checked value, as the page renders it."""
    found = {}
    for name, value, attributes in re.findall(
        r'<input type="radio" name="([^"]+)" value="([^"]+)"([^>]*)>', page
    ):
        if "checked" in attributes:
            found[name] = value
    return found


def actions(page: str, url: str) -> list[str]:
    """Where the page's forms post, resolved against the page's own URL as a browser does."""
    return [
        urljoin(url, action) for action in re.findall(r'<form method="post" action="([^"]+)"', page)
    ]


async def state(store: Store, customer: str) -> dict[tuple[str, str], str]:
    async with store.sessions() as session:
        rows = await session.scalars(select(Consent).where(Consent.customer_id == customer))
        return {(r.kind, r.name): r.status for r in rows}


async def suppressed(store: Store) -> list[str]:
    async with store.sessions() as session:
        return [s.reason for s in (await session.scalars(select(Suppression))).all()]


async def test_the_page_shows_channels_and_groups_escaped_and_no_address(
    unsubscribe_settings: Settings,
) -> None:
    token = unsubscribe.sign(unsubscribe_settings, customer_id(), "email", "weekly digest")
    async with serve(unsubscribe_settings, role=None) as client:
        response = await client.get(f"/u/{token}/preferences")
    assert response.status_code == 200
    page = response.text
    # Configured groups, and the link's own; all subscribed while nothing is recorded.
    assert checked(page) == {
        "channel:email": "subscribed",
        "group:newsletter": "subscribed",
        "group:weekly digest": "subscribed",
        "group:&lt;b&gt;offers&lt;/b&gt;": "subscribed",
    }
    assert "<b>offers</b>" not in page and "&lt;b&gt;offers&lt;/b&gt;" in page
    assert ADDRESS not in page and "@" not in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    # The one-click button posts RFC 8058's body to the link itself, the form to the page; both
    # relative, so they work under any prefix a proxy serves the API at.
    here = f"https://journeys.example.com/prefix/u/{token}/preferences"
    assert actions(page, here) == [here.removesuffix("/preferences"), here]
    assert 'name="List-Unsubscribe" value="One-Click"' in page
    async with serve(unsubscribe_settings, role=None) as client:
        response = await client.get(f"/u/{token}")
    there = f"https://journeys.example.com/prefix/u/{token}"
    assert actions(response.text, there) == [there, f"{there}/preferences"]


async def test_opting_out_and_resubscribing_through_the_form(
    store: Store, unsubscribe_settings: Settings, temporal_dev: TemporalClient
) -> None:
    settings = unsubscribe_settings
    customer = customer_id()
    token = unsubscribe.sign(settings, customer, "email", None)
    form = f"/u/{token}/preferences"
    async with (
        running_pipeline(settings, temporal_dev, store.sessions, with_worker=False) as stack,
        serve(settings, role=None) as client,
    ):
        await stack.publish(
            Event.model_validate(
                {"type": "identify", "userId": customer, "traits": {"email": ADDRESS}}
            )
        )
        left = await client.post(
            form, data={"channel:email": "unsubscribed", "group:newsletter": "unsubscribed"}
        )
        assert left.status_code == 200, left.text
        assert "Your preferences are saved." in left.text
        assert checked(left.text)["channel:email"] == "unsubscribed"

        async def opted_out() -> None:
            assert await state(store, customer) == {
                ("channel", "email"): "opted_out",
                ("group", "newsletter"): "opted_out",
            }
            assert await suppressed(store) == ["unsubscribe"]

        await eventually(opted_out, timeout=30)
        page = (await client.get(form)).text
        assert checked(page)["channel:email"] == "unsubscribed"
        assert checked(page)["group:newsletter"] == "unsubscribed"

        back = await client.post(
            form, data={"channel:email": "subscribed", "group:newsletter": "subscribed"}
        )
        assert back.status_code == 200

        async def resubscribed() -> None:
            assert await state(store, customer) == {
                ("channel", "email"): "opted_in",
                ("group", "newsletter"): "opted_in",
            }
            assert await suppressed(store) == []  # the unsubscribe suppression is lifted

        await eventually(resubscribed, timeout=30)
        page = (await client.get(form)).text
        assert checked(page)["channel:email"] == "subscribed"
        same = await client.post(form, data={"channel:email": "subscribed"})
        assert "Nothing changed." in same.text

        # A change of mind within the minute is a new event: one click out again.
        out_again = await client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert out_again.status_code == 200

        async def out() -> None:
            assert (await state(store, customer))[("channel", "email")] == "opted_out"

        await eventually(out, timeout=30)
    async with store.sessions() as session:
        sources = {r.source for r in (await session.scalars(select(Consent))).all()}
    # Rejoined by the centre's identify, left again by the one click.
    assert sources == {"identify", "event:Unsubscribed"}


async def test_the_form_refuses_what_the_page_does_not_offer(
    store: Store, unsubscribe_settings: Settings
) -> None:
    customer = customer_id()
    token = unsubscribe.sign(unsubscribe_settings, customer, "email", None)
    async with store.sessions.begin() as session:
        session.add(
            Consent(
                customer_id=customer,
                kind="channel",
                name="sms",
                status="opted_out",
                source="event:SMS Failed",
                changed_at=datetime.now(UTC),
            )
        )
    form = f"/u/{token}/preferences"
    async with serve(unsubscribe_settings, role=None) as client:
        unknown = await client.post(form, data={"group:made-up": "unsubscribed"})
        assert unknown.status_code == 422
        assert "group:made-up" in unknown.text
        bad = await client.post(form, data={"channel:email": "maybe"})
        assert bad.status_code == 422
        assert "channel:email" in bad.text
        # SMS is shown (they have a record) but comes back only by replying START.
        page = (await client.get(form)).text
        assert checked(page)["channel:sms"] == "unsubscribed"
        sms = await client.post(form, data={"channel:sms": "subscribed"})
        assert sms.status_code == 422
        assert "START" in sms.text and "START" in page
        forged = await client.post(f"/u/{token}x/preferences", data={"channel:email": "subscribed"})
        assert forged.status_code == 403
