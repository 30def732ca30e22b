"""Open pixel and click redirect against the real API, NATS and store."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
from nats.js import JetStreamContext

from journeys.ingest import tracking
from journeys.ingest.webhooks import names
from journeys.settings import Settings
from tests.conftest import Store, nats_url_of
from tests.support.api import serve
from tests.support.delivery_reports import (
    TARGET,
    add_delivery,
    events_of,
    expected_delivery_properties,
    path_of,
)
from workers.servers import ServerProcess


async def test_open_pixel_is_a_transparent_gif_and_an_email_opened_event(
    store: Store, client: httpx.AsyncClient, api_settings: Settings, jetstream: JetStreamContext
) -> None:
    delivery = await add_delivery(store)
    url = tracking.open_pixel_url(api_settings, delivery.id)

    minute_before = int(time.time()) // 60
    first = await client.get(path_of(url))
    reload = await client.get(path_of(url))  # mail clients load images again
    minutes = int(time.time()) // 60 - minute_before + 1

    for response in (first, reload):
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
        assert "no-store" in response.headers["cache-control"]
        assert response.content[:6] == b"GIF89a"
        assert response.content[6:10] == b"\x01\x00\x01\x00", "1x1"
    # One event per delivery and minute: the reload is a duplicate (unless a minute just turned).
    opened = await events_of(jetstream, delivery.customer_id)
    assert len(opened) == 1 or len(opened) == minutes == 2
    event = opened[0]
    assert event["event"] == names.EMAIL_OPENED
    assert event["_subject"].endswith(".track.email_opened")
    assert event["messageId"] == event["_msg_id"]
    assert event["messageId"].startswith(f"open:{delivery.id}:")
    assert event["properties"] == {**expected_delivery_properties(delivery), "source": "tracking"}


async def test_click_redirects_to_the_signed_url_and_is_an_event(
    store: Store, client: httpx.AsyncClient, api_settings: Settings, jetstream: JetStreamContext
) -> None:
    delivery = await add_delivery(store)
    url = tracking.click_url(api_settings, delivery.id, TARGET)

    response = await client.get(path_of(url))

    assert response.status_code == 302
    assert response.headers["location"] == TARGET
    (event,) = await events_of(jetstream, delivery.customer_id)
    assert event["event"] == names.EMAIL_LINK_CLICKED
    assert event["properties"] == {
        **expected_delivery_properties(delivery),
        "source": "tracking",
        "url": TARGET,
    }


async def test_tampered_or_foreign_tokens_are_403_without_redirect_or_event(
    store: Store, client: httpx.AsyncClient, api_settings: Settings, jetstream: JetStreamContext
) -> None:
    delivery = await add_delivery(store)
    click = path_of(tracking.click_url(api_settings, delivery.id, TARGET))
    token = click.rsplit("/", 1)[1]
    mac = token.split(".")[1]
    evil = base64.urlsafe_b64encode(f'[{delivery.id},"https://evil.example.com/"]'.encode())
    open_token = path_of(tracking.open_pixel_url(api_settings, delivery.id)).rsplit("/", 1)[1]

    answers = [
        await client.get(f"/t/c/{evil.rstrip(b'=').decode()}.{mac}"),  # other URL, old MAC
        await client.get(click[:-2] + ("AA" if not click.endswith("AA") else "BB")),
        await client.get("/t/c/not-a-token"),
        await client.get(f"/t/c/{open_token}"),  # an open token is no click token
        await client.get(f"/t/o/{token}"),  # nor the reverse
    ]

    for response in answers:
        assert response.status_code == 403, response.text
        assert "location" not in response.headers
    assert await events_of(jetstream, delivery.customer_id) == []


async def test_unknown_delivery_still_gets_its_pixel_and_redirect_but_no_event(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    missing = 2**31 - 7

    pixel = await client.get(path_of(tracking.open_pixel_url(api_settings, missing)))
    click = await client.get(path_of(tracking.click_url(api_settings, missing, TARGET)))

    assert (pixel.status_code, click.status_code) == (200, 302)
    assert click.headers["location"] == TARGET


async def test_with_nats_down_the_pixel_is_a_503_but_the_click_still_redirects(
    store: Store, api_settings: Settings, fresh_nats: ServerProcess
) -> None:
    delivery = await add_delivery(store)
    settings = api_settings.model_copy(update={"nats_url": nats_url_of(fresh_nats)})
    try:
        async with serve(settings) as client:
            await asyncio.to_thread(fresh_nats.stop)
            pixel = await client.get(path_of(tracking.open_pixel_url(settings, delivery.id)))
            click = await client.get(path_of(tracking.click_url(settings, delivery.id, TARGET)))
    finally:
        await asyncio.to_thread(fresh_nats.stop)

    assert pixel.status_code == 503
    assert (click.status_code, click.headers["location"]) == (302, TARGET)
