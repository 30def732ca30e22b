"""SendGrid and Twilio webhooks against the real API, NATS and store: signed requests become
events of the right customer, and nothing else is ever stored."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from journeys.ingest.webhooks import names, sendgrid, twilio
from journeys.settings import Settings
from tests.conftest import Store, nats_url_of
from tests.support.api import serve
from tests.support.delivery_reports import (
    WEBHOOKS,
    add_delivery,
    events_of,
    expected_delivery_properties,
    post_sendgrid,
    post_twilio,
    sg_event,
    status_callback,
    twilio_headers,
)
from tests.support.signers import SendGridSigner
from workers.servers import ServerProcess


@pytest.fixture
async def hooks(webhook_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(webhook_settings) as client:
        yield client


async def test_sendgrid_events_become_events_of_the_deliverys_customer(
    store: Store, hooks: httpx.AsyncClient, signer: SendGridSigner, jetstream: JetStreamContext
) -> None:
    by_arg = await add_delivery(store)
    by_message_id = await add_delivery(store, provider_message_id=uuid.uuid4().hex[:22])
    batch = [
        sg_event("processed", by_arg),
        sg_event("delivered", by_arg),
        sg_event("open", by_arg, sg_machine_open=False),
        sg_event("click", by_arg, url="https://shop.example.com/cart?id=K1"),
        sg_event("group_unsubscribe", by_arg, asm_group_id=42),
        sg_event("deferred", by_arg),
        # No custom arg: found through sg_message_id's prefix, the send API's X-Message-Id.
        sg_event(
            "bounce",
            sg_message_id=f"{by_message_id.provider_message_id}.filterdrecv-x-1.0",
            type="bounce",
            reason="550 5.1.1 no such user",
            status="5.1.1",
            bounce_classification="Invalid Address",
        ),
        sg_event(
            "bounce",
            sg_message_id=f"{by_message_id.provider_message_id}.filterdrecv-x-2.0",
            type="blocked",
            reason="mailbox full",
        ),
        sg_event("dropped", by_message_id, reason="Bounced Address"),
        sg_event("spamreport", by_message_id),
        sg_event("unsubscribe", by_message_id),
    ]

    response = await post_sendgrid(hooks, signer, batch)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": 11,
        "published": 9,
        "duplicates": 0,
        "ignored": 2,
        "unknown_delivery": 0,
    }
    first = await events_of(jetstream, by_arg.customer_id)
    second = await events_of(jetstream, by_message_id.customer_id)
    assert [e["event"] for e in first] == [
        names.EMAIL_DELIVERED,
        names.EMAIL_OPENED,
        names.EMAIL_LINK_CLICKED,
        names.GROUP_UNSUBSCRIBED,
    ]
    assert [e["event"] for e in second] == [
        names.EMAIL_BOUNCED,
        names.EMAIL_BOUNCED,
        names.EMAIL_DROPPED,
        names.EMAIL_MARKED_AS_SPAM,
        names.UNSUBSCRIBED,
    ]
    for events, delivery in ((first, by_arg), (second, by_message_id)):
        for event in events:
            assert event["type"] == "track"
            assert event["properties"].items() >= expected_delivery_properties(delivery).items()
            assert event["properties"]["source"] == "sendgrid"
    sent = {e["sg_event_id"]: e for e in batch}
    for event in first + second:
        sg_id = event["messageId"].removeprefix("sendgrid:")
        assert event["_msg_id"] == event["messageId"] and sg_id in sent
        assert event["timestamp"].startswith("2023-11-14T22:13:20")
    delivered, opened, clicked, unsubscribed = first
    assert delivered["_subject"].endswith(".track.email_delivered")
    assert opened["properties"]["machine_open"] is False
    assert clicked["properties"]["url"] == "https://shop.example.com/cart?id=K1"
    assert unsubscribed["properties"]["asm_group_id"] == 42
    hard, soft, dropped, _spam, _unsubscribe = second
    assert (
        hard["properties"].items()
        >= {
            "bounce_type": "hard",
            "reason": "550 5.1.1 no such user",
            "status": "5.1.1",
            "bounce_classification": "Invalid Address",
        }.items()
    )
    assert soft["properties"].items() >= {"bounce_type": "soft", "reason": "mailbox full"}.items()
    assert dropped["properties"]["reason"] == "Bounced Address"


async def test_sendgrid_retry_is_stored_once(
    store: Store, hooks: httpx.AsyncClient, signer: SendGridSigner, jetstream: JetStreamContext
) -> None:
    delivery = await add_delivery(store)
    batch = [sg_event("delivered", delivery), sg_event("open", delivery)]

    first = await post_sendgrid(hooks, signer, batch)
    retry = await post_sendgrid(hooks, signer, batch)  # re-signed, as SendGrid's retry is

    assert (first.status_code, retry.status_code) == (200, 200)
    assert (first.json()["published"], first.json()["duplicates"]) == (2, 0)
    assert (retry.json()["published"], retry.json()["duplicates"]) == (0, 2)
    assert len(await events_of(jetstream, delivery.customer_id)) == 2


@pytest.mark.parametrize(
    ("tamper", "status"),
    [
        ("body", 403),
        ("stale", 403),
        ("future", 403),
        ("wrong key", 403),
        ("no signature", 401),
        ("no timestamp", 401),
    ],
)
async def test_sendgrid_refused_requests_store_nothing(
    store: Store,
    hooks: httpx.AsyncClient,
    signer: SendGridSigner,
    jetstream: JetStreamContext,
    tamper: str,
    status: int,
) -> None:
    delivery = await add_delivery(store)
    body = json.dumps([sg_event("click", delivery, url="https://shop.example.com/")]).encode()
    headers = signer.headers(body)
    if tamper == "body":
        body = body.replace(b"shop.example.com", b"evil.example.com")
    elif tamper in ("stale", "future"):
        # Well past the 300 s allowed, so a slow machine cannot bring it back inside.
        offset = -400 if tamper == "stale" else 400
        headers = signer.headers(body, timestamp=int(time.time()) + offset)
    elif tamper == "wrong key":
        headers = SendGridSigner().headers(body)
    elif tamper == "no signature":
        del headers[sendgrid.SIGNATURE_HEADER]
    elif tamper == "no timestamp":
        del headers[sendgrid.TIMESTAMP_HEADER]

    response = await hooks.post(f"{WEBHOOKS}/sendgrid", content=body, headers=headers)

    assert response.status_code == status, response.text
    if tamper in ("stale", "future"):
        assert "stale" in response.json()["detail"]
    assert await events_of(jetstream, delivery.customer_id) == []


async def test_sendgrid_event_of_an_unknown_delivery_is_acknowledged_not_published(
    store: Store, hooks: httpx.AsyncClient, signer: SendGridSigner, jetstream: JetStreamContext
) -> None:
    known = await add_delivery(store)
    missing_id = {**sg_event("open"), sendgrid.DELIVERY_ID_ARG: "999999999999"}
    someone_elses = sg_event("delivered")

    response = await post_sendgrid(
        hooks, signer, [missing_id, someone_elses, sg_event("delivered", known)]
    )

    assert response.status_code == 200
    assert response.json() == {
        "received": 3,
        "published": 1,
        "duplicates": 0,
        "ignored": 0,
        "unknown_delivery": 2,
    }
    assert [e["event"] for e in await events_of(jetstream, known.customer_id)] == [
        names.EMAIL_DELIVERED
    ]


async def test_sendgrid_signed_non_batch_is_a_400(
    hooks: httpx.AsyncClient, signer: SendGridSigner
) -> None:
    body = b'{"event": "open"}'
    response = await hooks.post(f"{WEBHOOKS}/sendgrid", content=body, headers=signer.headers(body))
    assert response.status_code == 400


async def test_webhooks_without_keys_configured_are_a_503(
    store: Store, client: httpx.AsyncClient, signer: SendGridSigner, jetstream: JetStreamContext
) -> None:
    delivery = await add_delivery(store)
    sg = await post_sendgrid(client, signer, [sg_event("open", delivery)])
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    tw = await client.post(
        f"{WEBHOOKS}/twilio",
        content=urlencode(params),
        headers=twilio_headers(f"{WEBHOOKS}/twilio", params),
    )

    assert (sg.status_code, tw.status_code) == (503, 503)
    assert "JOURNEYS_SENDGRID_WEBHOOK_PUBLIC_KEY" in sg.json()["detail"]
    assert "JOURNEYS_TWILIO_AUTH_TOKEN" in tw.json()["detail"]
    assert await events_of(jetstream, delivery.customer_id) == []


async def test_sendgrid_while_nats_is_down_is_a_503(
    store: Store, webhook_settings: Settings, signer: SendGridSigner, fresh_nats: ServerProcess
) -> None:
    delivery = await add_delivery(store)
    settings = webhook_settings.model_copy(update={"nats_url": nats_url_of(fresh_nats)})
    try:
        async with serve(settings) as client:
            await asyncio.to_thread(fresh_nats.stop)
            response = await post_sendgrid(client, signer, [sg_event("open", delivery)])
    finally:
        await asyncio.to_thread(fresh_nats.stop)

    assert response.status_code == 503


async def test_twilio_outcomes_become_sms_events_and_progress_is_ignored(
    store: Store, hooks: httpx.AsyncClient, jetstream: JetStreamContext
) -> None:
    deliveries = [
        await add_delivery(
            store, channel="sms", template="cart_recovery_sms", provider_message_id=f"SM{n}"
        )
        for n in (uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex)
    ]
    delivered, failed, undelivered = deliveries

    answers = [
        await post_twilio(hooks, status_callback(str(delivered.provider_message_id), "sent")),
        await post_twilio(hooks, status_callback(str(delivered.provider_message_id), "delivered")),
        await post_twilio(
            hooks, status_callback(str(failed.provider_message_id), "failed", ErrorCode="30008")
        ),
        await post_twilio(
            hooks,
            status_callback(str(undelivered.provider_message_id), "undelivered", ErrorCode="30003"),
        ),
    ]

    assert [a.status_code for a in answers] == [200] * 4
    assert [(a.json()["published"], a.json()["ignored"]) for a in answers] == [
        (0, 1),
        (1, 0),
        (1, 0),
        (1, 0),
    ]
    expectations = [
        (delivered, names.SMS_DELIVERED, None),
        (failed, names.SMS_FAILED, "30008"),
        (undelivered, names.SMS_UNDELIVERED, "30003"),
    ]
    for delivery, name, error_code in expectations:
        (event,) = await events_of(jetstream, delivery.customer_id)
        sid = delivery.provider_message_id
        assert event["event"] == name
        assert event["messageId"] == event["_msg_id"]
        assert event["messageId"].startswith(f"twilio:{sid}:")
        assert event["properties"].items() >= expected_delivery_properties(delivery).items()
        assert event["properties"]["source"] == "twilio"
        assert event["properties"]["provider_message_id"] == sid
        assert event["properties"].get("error_code") == error_code


async def test_twilio_retry_is_stored_once_and_unknown_sid_is_acknowledged(
    store: Store, hooks: httpx.AsyncClient, jetstream: JetStreamContext
) -> None:
    sid = f"SM{uuid.uuid4().hex}"
    delivery = await add_delivery(store, channel="sms", provider_message_id=sid)

    first = await post_twilio(hooks, status_callback(sid, "delivered"))
    retry = await post_twilio(hooks, status_callback(sid, "delivered"))
    unknown = await post_twilio(hooks, status_callback(f"SM{uuid.uuid4().hex}", "delivered"))

    assert (first.json()["published"], first.json()["duplicates"]) == (1, 0)
    assert (retry.json()["published"], retry.json()["duplicates"]) == (0, 1)
    assert unknown.status_code == 200
    assert (unknown.json()["published"], unknown.json()["unknown_delivery"]) == (0, 1)
    assert len(await events_of(jetstream, delivery.customer_id)) == 1


async def test_twilio_refused_requests_store_nothing(
    store: Store, hooks: httpx.AsyncClient, jetstream: JetStreamContext
) -> None:
    sid = f"SM{uuid.uuid4().hex}"
    delivery = await add_delivery(store, channel="sms", provider_message_id=sid)
    params = status_callback(sid, "delivered")
    url = f"{WEBHOOKS}/twilio"
    good = twilio_headers(url, params)

    unsigned = await hooks.post(
        url, content=urlencode(params), headers={**good, "X-Twilio-Signature": ""}
    )
    del good[twilio.SIGNATURE_HEADER]
    missing = await hooks.post(url, content=urlencode(params), headers=good)
    wrong_token = await hooks.post(
        url, content=urlencode(params), headers=twilio_headers(url, params, "other-token")
    )
    tampered = await hooks.post(
        url,
        content=urlencode({**params, "MessageStatus": "failed"}),
        headers=twilio_headers(url, params),
    )

    assert [r.status_code for r in (unsigned, missing, wrong_token, tampered)] == [
        401,
        401,
        403,
        403,
    ]
    assert await events_of(jetstream, delivery.customer_id) == []


async def test_twilio_behind_a_proxy_checks_the_public_url(
    store: Store, webhook_settings: Settings, jetstream: JetStreamContext
) -> None:
    sid = f"SM{uuid.uuid4().hex}"
    delivery = await add_delivery(store, channel="sms", provider_message_id=sid)
    public = "https://hooks.example.com/journeys"
    settings = webhook_settings.model_copy(update={"public_base_url": public + "/"})
    params = status_callback(sid, "delivered")

    async with serve(settings) as client:
        internal = await post_twilio(client, params)  # signed over the URL we were reached at
        proxied = await post_twilio(client, params, signed_url=f"{public}/v1/webhooks/twilio")

    assert (internal.status_code, proxied.status_code) == (403, 200)
    assert len(await events_of(jetstream, delivery.customer_id)) == 1


async def test_twilio_callback_url_names_the_delivery_before_its_sid_is_stored(
    store: Store, hooks: httpx.AsyncClient, jetstream: JetStreamContext
) -> None:
    """The SMS channel puts ``journeys_delivery_id`` in the StatusCallback URL Twilio signs."""
    delivery = await add_delivery(store, channel="sms", provider_message_id=None)
    sid = f"SM{uuid.uuid4().hex}"
    callback = f"{WEBHOOKS}/twilio?journeys_delivery_id={delivery.id}"
    params = status_callback(sid, "delivered")
    other = await add_delivery(store, channel="sms")

    answer = await post_twilio(hooks, params, url=callback)
    forged = await post_twilio(
        hooks,
        params,
        signed_url=callback,
        url=f"{WEBHOOKS}/twilio?journeys_delivery_id={other.id}",
    )

    assert (answer.status_code, answer.json()["published"]) == (200, 1)
    assert forged.status_code == 403, "the query is part of what Twilio signs"
    (event,) = await events_of(jetstream, delivery.customer_id)
    assert event["properties"]["delivery_id"] == delivery.id
    assert event["properties"]["provider_message_id"] == sid
    assert await events_of(jetstream, other.customer_id) == []


# -- totality and replays (issue 18, items 3 and 9) ----------------------------------------------


async def test_sendgrid_400_digit_timestamp_is_403(
    hooks: httpx.AsyncClient, signer: SendGridSigner
) -> None:
    body = json.dumps([sg_event("open")]).encode()
    headers = signer.headers(body, timestamp=10**399)  # signed, so only the number is wrong

    response = await hooks.post(f"{WEBHOOKS}/sendgrid", content=body, headers=headers)

    assert response.status_code == 403, response.text
    assert "not a Unix time" in response.json()["detail"]


async def test_sendgrid_signed_body_nested_100000_deep_is_400(
    hooks: httpx.AsyncClient, signer: SendGridSigner
) -> None:
    body = b"[" * 100_000 + b"]" * 100_000

    response = await hooks.post(f"{WEBHOOKS}/sendgrid", content=body, headers=signer.headers(body))

    assert response.status_code == 400, response.text


@pytest.fixture
async def short_window(
    webhook_settings: Settings, fresh_nats_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, JetStreamContext]]:
    """The API on a nats-server of its own whose EVENTS stream forgets messageIds after 1 s."""
    settings = webhook_settings.model_copy(
        update={"nats_url": fresh_nats_url, "dedup_window_seconds": 1.0}
    )
    connection = await nats.connect(fresh_nats_url)
    try:
        async with serve(settings) as client:
            yield client, connection.jetstream()
    finally:
        await connection.close()


async def past_the_dedup_window(js: JetStreamContext) -> None:
    """Wait out the window, and prove it is over: the same Nats-Msg-Id is stored again."""
    probe = f"probe-{uuid.uuid4()}"
    await js.publish("events.0.track.probe", b"{}", headers={"Nats-Msg-Id": probe})
    await asyncio.sleep(1.5)
    again = await js.publish("events.0.track.probe", b"{}", headers={"Nats-Msg-Id": probe})
    assert not again.duplicate


async def test_twilio_callback_replayed_after_the_dedup_window_publishes_nothing(
    store: Store, short_window: tuple[httpx.AsyncClient, JetStreamContext]
) -> None:
    client, js = short_window
    sid = f"SM{uuid.uuid4().hex}"
    delivery = await add_delivery(store, channel="sms", provider_message_id=sid)

    first = await post_twilio(client, status_callback(sid, "delivered"))
    await past_the_dedup_window(js)
    replay = await post_twilio(client, status_callback(sid, "delivered"))

    assert (first.status_code, replay.status_code) == (200, 200)
    assert (first.json()["published"], first.json()["duplicates"]) == (1, 0)
    assert (replay.json()["published"], replay.json()["duplicates"]) == (0, 1)
    assert len(await events_of(js, delivery.customer_id)) == 1


async def test_sendgrid_batch_replayed_after_the_dedup_window_publishes_only_new_events(
    store: Store,
    short_window: tuple[httpx.AsyncClient, JetStreamContext],
    signer: SendGridSigner,
) -> None:
    client, js = short_window
    delivery = await add_delivery(store)
    delivered, opened = sg_event("delivered", delivery), sg_event("open", delivery)

    first = await post_sendgrid(client, signer, [delivered])
    await past_the_dedup_window(js)
    replay = await post_sendgrid(client, signer, [delivered, opened])

    assert (first.status_code, replay.status_code) == (200, 200)
    assert (replay.json()["published"], replay.json()["duplicates"]) == (1, 1)
    events = await events_of(js, delivery.customer_id)
    assert [e["event"] for e in events] == [names.EMAIL_DELIVERED, names.EMAIL_OPENED]
