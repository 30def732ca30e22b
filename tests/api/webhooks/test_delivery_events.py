"""What providers and tracking report about a message is kept against its delivery
(``delivery_events``), once per report however often it is retried, and never for a request
that is refused."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from journeys.ingest import tracking
from journeys.settings import Settings
from journeys.store.models import DeliveryEvent
from tests.conftest import Store, nats_url_of
from tests.support.api import serve
from tests.support.delivery_reports import (
    TARGET,
    add_delivery,
    path_of,
    post_sendgrid,
    post_twilio,
    sg_event,
    status_callback,
)
from tests.support.signers import SendGridSigner
from workers.servers import ServerProcess


@pytest.fixture
async def hooks(webhook_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(webhook_settings, role=None) as client:
        yield client


async def kept(store: Store, delivery_id: int) -> list[DeliveryEvent]:
    async with store.sessions() as session:
        rows = await session.scalars(
            select(DeliveryEvent)
            .where(DeliveryEvent.delivery_id == delivery_id)
            .order_by(DeliveryEvent.id)
        )
        return list(rows.all())


async def test_sendgrid_reports_are_kept_once_with_their_details(
    store: Store, hooks: httpx.AsyncClient, signer: SendGridSigner
) -> None:
    delivery = await add_delivery(store)
    stamp = int(time.time())
    batch = [
        sg_event("processed", delivery, timestamp=stamp),
        sg_event("delivered", delivery, timestamp=stamp),
        sg_event("open", delivery, timestamp=stamp + 1, sg_machine_open=True),
        sg_event("click", delivery, timestamp=stamp + 2, url=TARGET),
        sg_event(
            "bounce", delivery, timestamp=stamp + 3, type="blocked", reason="421 try again later"
        ),
    ]

    first = await post_sendgrid(hooks, signer, batch)
    retry = await post_sendgrid(hooks, signer, batch)
    forged = await post_sendgrid(
        hooks, SendGridSigner(), [sg_event("spamreport", delivery, timestamp=stamp)]
    )

    assert (first.status_code, retry.status_code, forged.status_code) == (200, 200, 403)
    rows = await kept(store, delivery.id)
    assert [(r.kind, r.source) for r in rows] == [
        ("delivered", "sendgrid"),
        ("opened", "sendgrid"),
        ("clicked", "sendgrid"),
        ("bounced", "sendgrid"),
    ]
    delivered, opened, clicked, bounced = rows
    assert delivered.message_id == f"sendgrid:{batch[1]['sg_event_id']}"
    assert delivered.provider_message_id == batch[1]["sg_message_id"]
    assert int(delivered.occurred_at.timestamp()) == stamp
    assert opened.detail == {"machine_open": True}
    assert (clicked.url, clicked.detail) == (TARGET, {})
    assert bounced.detail == {"bounce_type": "soft", "reason": "421 try again later"}


async def test_twilio_outcomes_are_kept_and_progress_is_not(
    store: Store, hooks: httpx.AsyncClient
) -> None:
    sid = f"SM{uuid.uuid4().hex}"
    delivery = await add_delivery(
        store, channel="sms", template="cart_recovery_sms", provider_message_id=sid
    )

    answers = [
        await post_twilio(hooks, status_callback(sid, "sent")),
        await post_twilio(hooks, status_callback(sid, "undelivered", ErrorCode="30003")),
        await post_twilio(hooks, status_callback(sid, "undelivered", ErrorCode="30003")),
    ]

    assert [a.status_code for a in answers] == [200, 200, 200]
    (row,) = await kept(store, delivery.id)
    assert (row.kind, row.source, row.provider_message_id) == ("undelivered", "twilio", sid)
    assert row.message_id == f"twilio:{sid}:undelivered"
    assert row.detail == {"status": "undelivered", "error_code": "30003"}


async def test_opens_and_clicks_are_kept_and_a_click_even_with_nats_down(
    store: Store, webhook_settings: Settings, hooks: httpx.AsyncClient, fresh_nats: ServerProcess
) -> None:
    delivery = await add_delivery(store)
    minute_before = int(time.time()) // 60
    for _ in range(2):  # a mail client loading the image again
        pixel = await hooks.get(path_of(tracking.open_pixel_url(webhook_settings, delivery.id)))
        assert pixel.status_code == 200
    offline = webhook_settings.model_copy(update={"nats_url": nats_url_of(fresh_nats)})
    try:
        async with serve(offline, role=None) as client:
            await asyncio.to_thread(fresh_nats.stop)
            click = await client.get(path_of(tracking.click_url(offline, delivery.id, TARGET)))
            pixel = await client.get(path_of(tracking.open_pixel_url(offline, delivery.id)))
    finally:
        await asyncio.to_thread(fresh_nats.stop)

    minutes = int(time.time()) // 60 - minute_before + 1
    assert (click.status_code, click.headers["location"]) == (302, TARGET)
    assert pixel.status_code == 503
    rows = await kept(store, delivery.id)
    opens = [r for r in rows if r.kind == "opened"]
    assert 1 <= len(opens) <= minutes, "one open per minute, however often the image loads"
    assert all(r.source == "tracking" for r in rows)
    (clicked,) = [r for r in rows if r.kind == "clicked"]
    assert clicked.url == TARGET
    assert clicked.message_id.startswith(f"click:{delivery.id}:")
