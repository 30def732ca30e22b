"""The probe's click attack, over HTTP: a click token signed with the placeholder secret once
shipped as the default redirected to the attacker's URL and was recorded on a real delivery's
timeline. Neither a deployment with a real secret nor a dev stack still holding the placeholder
redirects it or records anything."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
from nats.js import JetStreamContext
from pydantic import SecretStr
from sqlalchemy import select

from journeys.ingest import tracking
from journeys.settings import Environment, Settings
from journeys.store.models import DeliveryEvent
from tests.conftest import Store
from tests.support.api import serve
from tests.support.delivery_reports import (
    add_delivery,
    events_of,
)

PLACEHOLDER = "dev-only-tracking-secret"
EVIL = "https://evil.example.com/login"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_click(delivery_id: int, key: str = PLACEHOLDER) -> str:
    """A click token as the attacker minted it, by the documented scheme
    (journeys/ingest/tracking.py) keyed with the placeholder: what the old code accepted in dev, the
    default."""
    body = b64(json.dumps([delivery_id, EVIL], separators=(",", ":")).encode())
    message = b"journeys-tracking-v1|click|" + body.encode()
    mac = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return f"{tracking.CLICK_PATH}/{body}.{b64(mac)}"


def test_the_forgery_is_what_the_old_default_signed() -> None:
    """The forged token is a real token for a stack keyed with that secret (links in that form,
    sent before itsdangerous signing, are still accepted): only the refusal of the key stands
    between it and the redirect."""
    key = "a-secret-the-attacker-knows-0123"
    real = Settings(_env_file=None, tracking_secret=SecretStr(key))
    token = forged_click(7, key).rsplit("/", 1)[1]
    assert tracking.verify_click_token(real, token) == tracking.ClickTarget(7, EVIL)


async def no_trace(store: Store, jetstream: JetStreamContext, customer: str) -> None:
    assert await events_of(jetstream, customer) == []
    async with store.sessions() as session:
        assert (await session.scalars(select(DeliveryEvent))).all() == []


async def test_a_placeholder_signed_click_is_refused_by_a_real_deployment(
    store: Store, client: httpx.AsyncClient, jetstream: JetStreamContext
) -> None:
    delivery = await add_delivery(store)
    response = await client.get(forged_click(delivery.id))
    assert response.status_code == 403
    assert "location" not in response.headers
    await no_trace(store, jetstream, delivery.customer_id)


async def test_a_dev_stack_still_holding_the_placeholder_redirects_nowhere(
    store: Store, api_settings: Settings, jetstream: JetStreamContext
) -> None:
    delivery = await add_delivery(store)
    settings = api_settings.model_copy(
        update={"env": Environment.DEV, "tracking_secret": SecretStr(PLACEHOLDER)}
    )
    async with serve(settings) as client:
        response = await client.get(forged_click(delivery.id))
    assert response.status_code == 503
    assert "JOURNEYS_TRACKING_SECRET is a published placeholder" in response.text
    assert "location" not in response.headers
    await no_trace(store, jetstream, delivery.customer_id)
