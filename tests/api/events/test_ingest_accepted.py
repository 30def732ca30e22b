"""Segment-compatible HTTP ingestion over real HTTP (uvicorn) into a real JetStream: the calls
that are accepted. Each call and batch is stored on its subject, once, when the API acknowledges
it; with NATS down nothing is acknowledged (503), and a restart of nats-server while producers
post loses no acknowledged event. Refused calls are in test_ingest_refused.py, write and API keys
in test_ingest_keys.py.

Each test has its own nats-server, so "nothing was stored" is checked on the whole stream.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections import Counter
from typing import Any

import httpx
import pytest

from journeys.settings import Settings
from tests.api.conftest import WRITE_KEY
from tests.support.helpers import customer_id, eventually
from tests.support.ingest import mid, stored, subject, track_body
from tests.support.real_network import message_ids, serve_http, start_again, stream_messages
from workers.servers import ServerProcess

CALLS = [
    (
        "/v1/track",
        {"event": "Cart Abandoned", "properties": {"cart_id": "K1"}},
        "track.cart_abandoned",
    ),
    ("/v1/identify", {"traits": {"email": "ada@example.com"}}, "identify"),
    ("/v1/page", {"name": "Pricing", "category": "Docs", "properties": {"url": "/p"}}, "page"),
    ("/v1/screen", {"name": "Cart"}, "screen"),
    ("/v1/group", {"groupId": "acme", "traits": {"plan": "pro"}}, "group"),
    ("/v1/alias", {"previousId": "anon-1"}, "alias"),
]


# -- accepted calls -------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "fields", "tail"), CALLS, ids=[c[0] for c in CALLS])
async def test_each_call_is_stored_on_its_subject_once_acknowledged(
    api: httpx.AsyncClient, ingest_settings: Settings, path: str, fields: dict[str, Any], tail: str
) -> None:
    customer, message_id = customer_id(), mid()
    body = {"userId": customer, "messageId": message_id, "type": "ignored", **fields}

    response = await api.post(path, json=body)

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "messageId": message_id, "duplicate": False}
    (event,) = await stored(ingest_settings)
    assert (event["_subject"], event["_msg_id"]) == (
        subject(ingest_settings, customer, tail),
        message_id,
    )
    assert event["type"] == path.removeprefix("/v1/"), "the endpoint decides the type"
    assert {key: event[key] for key in fields} == fields, "Segment's fields kept, by wire name"


async def test_integer_ids_are_kept_as_strings(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    response = await api.post("/v1/identify", json={"userId": 42, "messageId": 7})

    assert response.status_code == 200, response.text
    (event,) = await stored(ingest_settings)
    assert (event["userId"], event["messageId"]) == ("42", "7")


async def test_batch_applies_its_context_to_each_event_and_drops_the_write_key(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    customer = customer_id()
    items: list[dict[str, Any]] = [
        {"type": "track", **track_body(customer), "context": {"ip": "10.0.0.2"}},
        {"type": "identify", "userId": customer, "messageId": mid(), "traits": {"plan": "pro"}},
        {"type": "page", "anonymousId": "anon-9", "messageId": mid(), "name": "Home"},
        {"type": "alias", "previousId": "anon-9", "userId": customer, "messageId": mid()},
    ]
    body = {
        "batch": items,
        "context": {"library": {"name": "curl", "version": "8"}, "ip": "10.0.0.1"},
        "integrations": {"All": False},
        "sentAt": "2026-11-22T10:00:00.000Z",
        "writeKey": WRITE_KEY,
    }

    response = await api.post("/v1/batch", json=body)

    assert response.status_code == 200, response.text
    ids = [item["messageId"] for item in items]
    assert response.json() == {"success": True, "messageIds": ids, "duplicates": []}
    events = await stored(ingest_settings)
    assert sorted(e["_msg_id"] for e in events) == sorted(ids)
    by_id = {e["_msg_id"]: e for e in events}
    assert by_id[ids[0]]["context"] == {
        "library": {"name": "curl", "version": "8"},
        "ip": "10.0.0.2",
    }
    assert by_id[ids[1]]["context"]["ip"] == "10.0.0.1"
    assert by_id[ids[2]]["_subject"] == subject(ingest_settings, "anon-9", "page")
    assert by_id[ids[3]]["previousId"] == "anon-9"
    for event in events:
        assert event["integrations"] == {"All": False}
        assert event["sentAt"] == "2026-11-22T10:00:00.000Z"
        assert WRITE_KEY not in json.dumps(event)


async def test_retried_batch_is_stored_once(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    body = {"batch": [{"type": "track", **track_body()} for _ in range(5)]}

    first = await api.post("/v1/batch", json=body)
    retry = await api.post("/v1/batch", json=body)

    ids = [item["messageId"] for item in body["batch"]]
    assert first.json()["duplicates"] == []
    assert retry.status_code == 200 and retry.json()["duplicates"] == ids
    assert sorted(e["_msg_id"] for e in await stored(ingest_settings)) == sorted(ids)


async def test_gzip_body_is_accepted(api: httpx.AsyncClient, ingest_settings: Settings) -> None:
    body = {"batch": [{"type": "track", **track_body()} for _ in range(3)]}

    response = await api.post(
        "/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )

    assert response.status_code == 200, response.text
    assert len(await stored(ingest_settings)) == 3


async def test_a_batch_just_under_the_limits_is_accepted(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    # 15 events of about 31 KB: each under 32 KB, the batch under 500 KB.
    batch = [
        {"type": "track", **track_body(), "properties": {"pad": "x" * 31_500}} for _ in range(15)
    ]

    response = await api.post("/v1/batch", json={"batch": batch})

    assert response.status_code == 200, response.text
    assert len(await stored(ingest_settings)) == 15


# -- NATS unavailable -----------------------------------------------------------------------------


async def test_nats_down_is_503_and_nothing_is_stored(
    api: httpx.AsyncClient, ingest_settings: Settings, fresh_nats: ServerProcess
) -> None:
    await asyncio.to_thread(fresh_nats.stop)
    try:
        single = await api.post("/v1/track", json=track_body())
        batch = await api.post("/v1/batch", json={"batch": [{"type": "track", **track_body()}]})
    finally:
        restarted = await asyncio.to_thread(start_again, fresh_nats)
    try:
        for response in (single, batch):
            assert response.status_code == 503
            assert "retry with the same messageId" in response.json()["detail"]
        assert await stored(ingest_settings) == []
    finally:
        await asyncio.to_thread(restarted.stop)


@pytest.mark.slow
async def test_nats_restart_while_ingesting_never_loses_an_acknowledged_event(
    ingest_settings: Settings, fresh_nats: ServerProcess
) -> None:
    """Producers post without pause while nats-server stops and comes back on the same store.

    Like Segment's libraries, each producer retries a 503 with the same messageIds; every
    messageId that got a 2xx must be in the stream afterwards, once.

    Each phase waits on what it needs, not on a rate: every producer acknowledged before the
    stop, requests refused while NATS is down, and every producer acknowledged again after the
    restart (its retried request among them). The time limits are only there to end a hung run.
    """
    acknowledged: set[str] = set()
    statuses: Counter[int] = Counter()
    acks_of: Counter[int] = Counter()  # producer -> requests acknowledged
    stopping = asyncio.Event()

    async def produce(client: httpx.AsyncClient, producer: int) -> None:
        sent = 0
        while not stopping.is_set():
            sent += 1
            events = [track_body(f"c-{producer}-{sent}") for _ in range(1 + sent % 3)]
            request = (
                ("/v1/track", events[0])
                if len(events) == 1
                else ("/v1/batch", {"batch": [{"type": "track", **e} for e in events]})
            )
            while True:  # the same request until it is acknowledged
                response = await client.post(request[0], json=request[1])
                statuses[response.status_code] += 1
                if response.is_success:
                    acknowledged.update(e["messageId"] for e in events)
                    acks_of[producer] += 1
                    break
                if stopping.is_set():
                    return
                await asyncio.sleep(0.05)

    restarted: ServerProcess | None = None
    try:
        async with (
            serve_http(ingest_settings) as url,
            httpx.AsyncClient(base_url=url, auth=(WRITE_KEY, ""), timeout=30) as client,
        ):
            producers = [asyncio.create_task(produce(client, n)) for n in range(PRODUCERS)]
            try:
                await eventually(_each_acknowledged_since(acks_of, Counter()), timeout=60)
                await asyncio.to_thread(fresh_nats.stop)
                down = statuses[503]
                await eventually(_refused_since(statuses, down), timeout=60)
                restarted = await asyncio.to_thread(start_again, fresh_nats)
                at_restart = acks_of.copy()
                await eventually(_each_acknowledged_since(acks_of, at_restart), timeout=60)
            finally:
                stopping.set()
                await asyncio.gather(*producers)

        in_stream = message_ids(await stream_messages(ingest_settings.nats_url))
        assert set(statuses) <= {200, 503}, f"only 2xx or 503, got {statuses}"
        assert statuses[503] > down >= 0, "some requests met NATS down"
        assert acknowledged <= set(in_stream), "a 2xx for an event the stream does not have"
        duplicates = [i for i, n in Counter(in_stream).items() if n > 1]
        assert duplicates == [], "a retried request stored an event twice"
    finally:
        if restarted is not None:
            await asyncio.to_thread(restarted.stop)


PRODUCERS = 8


def _each_acknowledged_since(acks_of: Counter[int], then: Counter[int]) -> Any:
    async def probe() -> None:
        behind = [n for n in range(PRODUCERS) if acks_of[n] <= then[n]]
        assert behind == [], f"producers not acknowledged yet: {behind}"

    return probe


def _refused_since(statuses: Counter[int], before: int) -> Any:
    async def probe() -> None:
        assert statuses[503] > before, "no request has met NATS down yet"

    return probe
