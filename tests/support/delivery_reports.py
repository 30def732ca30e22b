"""What providers and tracking report about a sent message, as the API's tests make and read it:
a delivery to report on, SendGrid events and Twilio status callbacks signed as the providers sign
them, tracking URLs as the test client reaches them, and the events the reports became."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from journeys.ingest.webhooks import sendgrid, twilio
from journeys.store.models import Delivery, JourneyRun
from tests.conftest import Store
from tests.support.helpers import customer_id
from tests.support.signers import SendGridSigner

TWILIO_TOKEN = "twilio-test-auth-token"
WEBHOOKS = "http://test/v1/webhooks"
TARGET = "https://shop.example.com/cart?id=K1&utm_source=email"


async def add_delivery(
    store: Store,
    *,
    channel: str = "email",
    template: str = "cart_recovery_email",
    provider_message_id: str | None = None,
) -> Delivery:
    """A sent message of a new customer's run. The id is random, not 1, 2, ...: each test has a
    new database but the session's NATS keeps earlier tests' messageIds in its dedup window."""
    customer = customer_id()
    now = datetime.now(UTC)
    run = JourneyRun(
        id=uuid.uuid4().hex,
        workflow_id=f"journey/cart-recovery/{customer}",
        journey_key="cart-recovery",
        journey_version=1,
        customer_id=customer,
        trigger_event="Cart Abandoned",
        trigger_message_id=f"m-{uuid.uuid4()}",
        started_at=now,
    )
    delivery = Delivery(
        id=random.randint(1, 2**31 - 1),
        run_id=run.id,
        customer_id=customer,
        step=f"{channel}:{template}",
        channel=channel,
        provider="test",
        template=template,
        recipient=None,
        status="sent",
        provider_message_id=provider_message_id,
        requested_at=now,
    )
    async with store.sessions() as session, session.begin():
        session.add(run)
        await session.flush()
        session.add(delivery)
    return delivery


def expected_delivery_properties(delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.id,
        "run_id": delivery.run_id,
        "journey_key": "cart-recovery",
        "step": delivery.step,
        "channel": delivery.channel,
        "template": delivery.template,
    }


async def events_of(js: JetStreamContext, customer: str) -> list[dict[str, Any]]:
    """Every event of ``customer`` in EVENTS, with its subject and Nats-Msg-Id, in stream order."""
    found: list[dict[str, Any]] = []
    seq = 1
    while True:
        try:
            msg = await js.get_msg("EVENTS", seq=seq, subject="events.>", next=True)
        except NotFoundError:
            return found
        event = json.loads(msg.data or b"{}")
        if event.get("userId") == customer:
            msg_id = (msg.headers or {}).get("Nats-Msg-Id")
            found.append({**event, "_subject": msg.subject, "_msg_id": msg_id})
        seq = (msg.seq or seq) + 1


def path_of(url: str) -> str:
    """The tracking URL's path: the test client reaches the app in-process, not at its host."""
    return "/" + url.split("/", 3)[3]


def sg_event(kind: str, delivery: Delivery | None = None, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "email": "ada@example.com",
        "event": kind,
        "timestamp": 1700000000,
        "sg_event_id": f"ev-{uuid.uuid4().hex}",
        "sg_message_id": f"{uuid.uuid4().hex[:22]}.filterdrecv-1-2-3.0",
    }
    if delivery is not None:
        event[sendgrid.DELIVERY_ID_ARG] = str(delivery.id)
    return {**event, **fields}


async def post_sendgrid(
    client: httpx.AsyncClient,
    signer: SendGridSigner,
    events: list[dict[str, Any]],
    **header_changes: Any,
) -> httpx.Response:
    body = json.dumps(events).encode() + b"\r\n"
    headers = signer.headers(body)
    for name, value in header_changes.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return await client.post(f"{WEBHOOKS}/sendgrid", content=body, headers=headers)


def twilio_headers(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    signature = twilio.compute_signature(token, url, {k: [v] for k, v in params.items()})
    return {
        twilio.SIGNATURE_HEADER: signature,
        "content-type": "application/x-www-form-urlencoded",
    }


def status_callback(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC0123",
        "ApiVersion": "2010-04-01",
        "From": "+15550000002",
        "To": "+15550000001",
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        **extra,
    }


async def post_twilio(
    client: httpx.AsyncClient,
    params: dict[str, str],
    *,
    signed_url: str | None = None,
    url: str = f"{WEBHOOKS}/twilio",
) -> httpx.Response:
    headers = twilio_headers(signed_url or url, params)
    return await client.post(url, content=urlencode(params), headers=headers)
