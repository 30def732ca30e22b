"""Segment's own Python library (segment-analytics-python), unchanged, sending to our API.

The library posts everything to ``/v1/batch``, with the write key as the HTTP Basic username,
``sentAt``, ``context.library``, and the write key once more in the body; optionally gzipped.
The events must land in JetStream on their subjects, under their messageIds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr
from segment.analytics import Client
from segment.analytics.request import APIError
from temporalio.client import Client as TemporalClient

from api.main import create_app
from journeys.ingest.bus import partition_of
from journeys.settings import Settings
from journeys.store.models import Customer
from tests.api.conftest import WRITE_KEY
from tests.conftest import Store, stack_settings
from tests.support.api import make_key
from tests.support.helpers import customer_id, eventually, runs_of
from tests.support.pipeline import running_pipeline
from tests.support.real_network import message_ids, serve_http, stream_messages


def send_with_segment(
    url: str, calls: Callable[[Client], list[dict[str, Any]]], **options: Any
) -> tuple[list[dict[str, Any]], list[Exception]]:
    """Run ``calls`` on a new client, flush, shut it down: (the messages sent, upload errors).

    Blocking (``requests``), so tests run it in a thread while uvicorn serves in the loop.
    """
    errors: list[Exception] = []
    client = Client(
        options.pop("write_key", WRITE_KEY),
        host=url,
        on_error=lambda error, _batch: errors.append(error),
        **options,
    )
    try:
        sent = calls(client)
    finally:
        client.flush()
        if client.consumers:  # None in sync_mode, where shutdown() would fail
            client.join()
    return sent, errors


def every_call(customer: str) -> Callable[[Client], list[dict[str, Any]]]:
    def calls(client: Client) -> list[dict[str, Any]]:
        results = [
            client.track(customer, "Cart Abandoned", {"cart_id": "K1", "total": 42.5}),
            client.identify(customer, {"email": "ada@example.com", "plan": "pro"}),
            client.page(customer, "Docs", "Pricing", {"url": "https://example.com/pricing"}),
            client.screen(customer, "App", "Cart"),
            client.group(customer, "acme", {"employees": 40}),
            client.alias("anon-7", customer),
        ]
        assert all(queued for queued, _msg in results), "the library refused to queue a call"
        return [msg for _queued, msg in results]

    return calls


def expected_subject(settings: Settings, customer: str, tail: str) -> str:
    return f"events.{partition_of(customer, settings.event_partitions)}.{tail}"


TAILS = ["track.cart_abandoned", "identify", "page", "screen", "group", "alias"]


@pytest.mark.parametrize(
    "options",
    [{}, {"gzip": True}, {"sync_mode": True, "gzip": True}],
    ids=["defaults", "gzip", "sync-gzip"],
)
async def test_segment_library_events_land_in_jetstream(
    base_url: str, ingest_settings: Settings, options: dict[str, Any]
) -> None:
    customer = customer_id()

    sent, errors = await asyncio.to_thread(
        send_with_segment, base_url, every_call(customer), **options
    )

    assert errors == []
    messages = await stream_messages(ingest_settings.nats_url)
    assert sorted(message_ids(messages)) == sorted(msg["messageId"] for msg in sent)
    by_id = {m.headers["Nats-Msg-Id"]: m for m in messages if m.headers}
    for msg, tail in zip(sent, TAILS, strict=True):
        stored = by_id[msg["messageId"]]
        event = json.loads(stored.data)
        assert stored.subject == expected_subject(ingest_settings, customer, tail)
        assert event["type"] == msg["type"] and event["userId"] == customer
        assert event["context"]["library"]["name"] == "analytics-python"
        assert event["sentAt"], "the batch's sentAt is kept on each event"
        assert event["timestamp"].startswith(msg["timestamp"][:19])
        assert "writeKey" not in event
    events = {msg["type"]: json.loads(by_id[msg["messageId"]].data) for msg in sent}
    assert events["track"]["properties"] == {"cart_id": "K1", "total": 42.5}
    assert events["identify"]["traits"] == {"email": "ada@example.com", "plan": "pro"}
    assert (events["page"]["name"], events["page"]["category"]) == ("Pricing", "Docs")
    assert events["group"]["groupId"] == "acme"
    assert events["alias"]["previousId"] == "anon-7"


async def test_segment_library_with_a_wrong_write_key_is_refused(
    base_url: str, ingest_settings: Settings
) -> None:
    def calls(client: Client) -> list[dict[str, Any]]:
        return [client.track(customer_id(), "Cart Abandoned")[1]]

    _sent, errors = await asyncio.to_thread(
        send_with_segment, base_url, calls, write_key="not-our-key"
    )

    assert [(type(e), getattr(e, "status", None)) for e in errors] == [(APIError, 401)]
    assert await stream_messages(ingest_settings.nats_url) == []


async def test_segment_library_with_an_ingest_api_key_as_its_write_key(
    store: Store, fresh_nats_url: str, temporal_address: str
) -> None:
    """A key made with `journeys keys create --role ingest` serves as a Segment write key."""
    settings = stack_settings(store, fresh_nats_url, temporal_address)
    app = create_app(settings)
    customer = customer_id()

    async with serve_http(settings, app) as url:
        key = await make_key(app, "ingest", "web shop")
        sent, errors = await asyncio.to_thread(
            send_with_segment, url, every_call(customer), write_key=key, gzip=True
        )

    assert errors == []
    messages = await stream_messages(settings.nats_url)
    assert sorted(message_ids(messages)) == sorted(msg["messageId"] for msg in sent)
    assert all(key not in message.data.decode() for message in messages)


async def test_segment_calls_reach_journeys_and_profiles(
    store: Store, fresh_nats_url: str, temporal_address: str, temporal_dev: TemporalClient
) -> None:
    settings = stack_settings(store, fresh_nats_url, temporal_address).model_copy(
        update={"write_keys": [SecretStr(WRITE_KEY)]}
    )
    customer = customer_id()

    def calls(client: Client) -> list[dict[str, Any]]:
        return [
            client.identify(customer, {"first_name": "Ada", "phone": "+15550000009"})[1],
            client.track(customer, "Cart Abandoned", {"cart_id": "K7"})[1],
            client.track(customer, "Order Completed", {"order_id": "O7"})[1],
        ]

    async with (
        running_pipeline(settings, temporal_dev, store.sessions),
        serve_http(settings) as url,
    ):
        _sent, errors = await asyncio.to_thread(send_with_segment, url, calls)
        assert errors == []

        async def exited() -> None:
            (run,) = await runs_of(store.sessions, customer)
            assert (run.status, run.reason) == ("exited", "exited on Order Completed")

        await eventually(exited, timeout=30)

    async with store.sessions() as session:
        profile = await session.get(Customer, customer)
    assert profile is not None and profile.phone == "+15550000009"
    assert profile.traits["first_name"] == "Ada"
