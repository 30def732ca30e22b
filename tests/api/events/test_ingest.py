"""Segment-compatible HTTP ingestion over real HTTP (uvicorn) into a real JetStream.

Each test has its own nats-server, so "nothing was stored" is checked on the whole stream.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from journeys.ingest.bus import partition_of
from journeys.ingest.events import MAX_DEPTH, decode_event
from journeys.settings import Settings
from journeys.store.api_keys import Role, split_key
from tests.api.conftest import WRITE_KEY
from tests.conftest import Store, stack_settings
from tests.support.api import bearer, make_key
from tests.support.helpers import customer_id, eventually
from tests.support.real_network import message_ids, serve_http, start_again, stream_messages
from workers.servers import ServerProcess


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, auth=(WRITE_KEY, ""), timeout=30) as client:
        yield client


async def stored(settings: Settings) -> list[dict[str, Any]]:
    """The whole EVENTS stream, each message's JSON plus its ``_subject`` and ``_msg_id``."""
    messages = await stream_messages(settings.nats_url)
    return [
        {**json.loads(m.data), "_subject": m.subject, "_msg_id": msg_id}
        for m, msg_id in zip(messages, message_ids(messages), strict=True)
    ]


def subject(settings: Settings, customer: str, tail: str) -> str:
    return f"events.{partition_of(customer, settings.event_partitions)}.{tail}"


def mid() -> str:
    return f"m-{uuid.uuid4()}"


def track_body(customer: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "event": "Cart Abandoned",
        "userId": customer or customer_id(),
        "messageId": mid(),
        "properties": {"cart_id": "K1", "total": 42.5},
        **fields,
    }


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


# -- write keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic " + "d3Jvbmc6", "Basic not-base64!", "Bearer " + WRITE_KEY],
    ids=["missing", "wrong-key", "malformed", "not-basic"],
)
async def test_without_a_valid_write_key_is_401_and_nothing_is_stored(
    base_url: str, ingest_settings: Settings, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
        single = await client.post("/v1/track", json=track_body())
        batch = await client.post("/v1/batch", json={"batch": [{"type": "track", **track_body()}]})

    for response in (single, batch):
        assert response.status_code == 401
        assert 'Basic realm="journeys"' in response.headers["WWW-Authenticate"]
        assert "write key" in response.json()["detail"]
    assert await stored(ingest_settings) == []


async def test_right_key_with_any_password_is_accepted(
    base_url: str, ingest_settings: Settings
) -> None:
    async with httpx.AsyncClient(base_url=base_url, auth=(WRITE_KEY, "ignored")) as client:
        response = await client.post("/v1/track", json=track_body())

    assert response.status_code == 200


async def test_without_configured_write_keys_nothing_is_stored_without_a_key(
    ingest_settings: Settings,
) -> None:
    """No write keys configured (the default) is not an open door: ingestion still wants a key."""
    no_write_keys = ingest_settings.model_copy(update={"write_keys": []})
    async with serve_http(no_write_keys) as url, httpx.AsyncClient(base_url=url) as client:
        single = await client.post("/v1/track", json=track_body())
        batch = await client.post("/v1/batch", json={"batch": [{"type": "track", **track_body()}]})

    assert (single.status_code, batch.status_code) == (401, 401)
    assert await stored(ingest_settings) == []


@pytest.fixture
async def keyed_api(
    store: Store, fresh_nats_url: str, temporal_address: str
) -> AsyncIterator[tuple[FastAPI, str, Settings]]:
    """The API on a migrated store with no write keys configured: (app, base URL, settings),
    for API keys made in that store."""
    settings = stack_settings(store, fresh_nats_url, temporal_address)
    app = create_app(settings)
    async with serve_http(settings, app) as url:
        yield app, url, settings


async def test_an_ingest_api_key_is_accepted_as_bearer_and_as_basic_username(
    keyed_api: tuple[FastAPI, str, Settings],
) -> None:
    app, url, settings = keyed_api
    key = await make_key(app, "ingest", "backend")
    first, second = track_body(), track_body()

    async with httpx.AsyncClient(base_url=url) as client:
        as_bearer = await client.post("/v1/track", json=first, headers=bearer(key))
        as_basic = await client.post("/v1/track", json=second, auth=(key, ""))
        elsewhere = await client.get("/v1/journeys", headers=bearer(key))

    assert (as_bearer.status_code, as_basic.status_code) == (200, 200), as_basic.text
    assert sorted(e["_msg_id"] for e in await stored(settings)) == sorted(
        [first["messageId"], second["messageId"]]
    )
    assert elsewhere.status_code == 403, "an ingest key sends events and does nothing else"


@pytest.mark.parametrize("role", ["editor", "support"])
async def test_a_key_of_another_role_is_403_and_nothing_is_stored(
    keyed_api: tuple[FastAPI, str, Settings], role: Role
) -> None:
    app, url, settings = keyed_api
    key = await make_key(app, role)

    async with httpx.AsyncClient(base_url=url) as client:
        as_bearer = await client.post("/v1/track", json=track_body(), headers=bearer(key))
        as_basic = await client.post("/v1/batch", json={"batch": []}, auth=(key, ""))

    for response in (as_bearer, as_basic):
        assert response.status_code == 403, response.text
        assert f"has role {role!r}" in response.json()["detail"]
    assert await stored(settings) == []


async def test_a_revoked_ingest_key_is_401(keyed_api: tuple[FastAPI, str, Settings]) -> None:
    app, url, settings = keyed_api
    key = await make_key(app, "ingest")
    admin = await make_key(app, "admin")

    async with httpx.AsyncClient(base_url=url) as client:
        before = await client.post("/v1/track", json=track_body(), auth=(key, ""))
        key_id, _secret = split_key(key) or ("", "")
        revoked = await client.delete(f"/v1/keys/{key_id}", headers=bearer(admin))
        after = await client.post("/v1/track", json=track_body(), auth=(key, ""))

    assert (before.status_code, revoked.status_code, after.status_code) == (200, 200, 401)
    assert len(await stored(settings)) == 1


# -- size limits ----------------------------------------------------------------------------------


def padded(size: int) -> dict[str, Any]:
    """A track call whose compact JSON is ``size`` bytes."""
    body = {"type": "track", **track_body(), "properties": {"pad": ""}}
    body["properties"]["pad"] = "x" * (size - len(json.dumps(body, separators=(",", ":"))))
    return body


async def test_one_call_over_32_kb_is_413(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    response = await api.post("/v1/track", content=json.dumps(padded(33 * 1024)))

    assert response.status_code == 413
    assert "32 KB (32768 bytes)" in response.json()["detail"]
    assert await stored(ingest_settings) == []


async def test_one_event_over_32_kb_in_a_batch_is_413_naming_it(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    batch = [padded(1000), padded(1000), padded(33 * 1024), padded(1000)]

    response = await api.post("/v1/batch", json={"batch": batch})

    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "batch[2] is 33792 bytes" in detail and "32 KB (32768 bytes)" in detail
    assert await stored(ingest_settings) == []


async def test_batch_over_500_kb_is_413(api: httpx.AsyncClient, ingest_settings: Settings) -> None:
    batch = [padded(30_000) for _ in range(18)]  # 540 KB of valid, small enough events

    response = await api.post("/v1/batch", json={"batch": batch})

    assert response.status_code == 413
    assert "500 KB (512000 bytes)" in response.json()["detail"]
    assert await stored(ingest_settings) == []


async def test_batch_over_500_kb_without_content_length_is_413(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # chunked transfer: no Content-Length to trust
        yield b'{"batch": ['
        for _ in range(60):
            yield json.dumps(padded(10_000)).encode() + b","
        yield b"{}]}"

    response = await api.post("/v1/batch", content=chunks())

    assert response.status_code == 413
    assert await stored(ingest_settings) == []


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
async def test_gzip_bomb_is_413_without_inflating_it(
    api: httpx.AsyncClient, ingest_settings: Settings, path: str
) -> None:
    # 20 MB of spaces (valid JSON whitespace) compress to about 20 KB, under either limit.
    bomb = gzip.compress(b"{" + b" " * (20 * 1024 * 1024) + b"}", compresslevel=9)
    assert len(bomb) < 32 * 1024

    response = await api.post(
        path, content=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert "once decompressed" in response.json()["detail"]
    assert await stored(ingest_settings) == []


@pytest.mark.parametrize(
    ("content", "encoding", "status", "words"),
    [
        (b"not gzip at all", "gzip", 400, "not valid gzip"),
        (gzip.compress(b'{"event": "x", "userId": "u1"}')[:-12], "gzip", 400, "truncated"),
        (b'{"event": "x", "userId": "u1"}', "br", 415, "not supported"),
    ],
    ids=["not-gzip", "truncated", "brotli"],
)
async def test_undecodable_body_is_4xx(
    api: httpx.AsyncClient,
    ingest_settings: Settings,
    content: bytes,
    encoding: str,
    status: int,
    words: str,
) -> None:
    response = await api.post(
        "/v1/track",
        content=content,
        headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
    )

    assert response.status_code == status
    assert words in response.json()["detail"]
    assert await stored(ingest_settings) == []


# -- invalid fields -------------------------------------------------------------------------------

INVALID = [
    ({"userId": True}, "userId"),
    ({"userId": {"id": 1}}, "userId"),
    ({"userId": 1.5}, "userId"),
    ({"userId": ""}, "userId"),
    ({"userId": None}, "anonymousId"),
    ({"event": None}, "event"),
    ({"event": 12}, "event"),
    ({"messageId": ""}, "messageId"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"properties": ["a"]}, "properties"),
    ({"context": "web"}, "context"),
]


@pytest.mark.parametrize(("change", "field"), INVALID, ids=[f"{i[1]}={i[0]}" for i in INVALID])
async def test_invalid_call_is_422_naming_the_field(
    api: httpx.AsyncClient, ingest_settings: Settings, change: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/track", json={**track_body(), **change})

    assert response.status_code == 422, response.text
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]
    assert await stored(ingest_settings) == []


@pytest.mark.parametrize(("change", "field"), INVALID, ids=[f"{i[1]}={i[0]}" for i in INVALID])
async def test_one_invalid_event_fails_the_whole_batch_naming_its_index(
    api: httpx.AsyncClient, ingest_settings: Settings, change: dict[str, Any], field: str
) -> None:
    batch = [{"type": "track", **track_body()} for _ in range(5)]
    batch[3].update(change)

    response = await api.post("/v1/batch", json={"batch": batch})

    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "batch", 3, field] in locs
    assert all(loc[:3] == ["body", "batch", 3] for loc in locs), "only the bad event is blamed"
    assert await stored(ingest_settings) == []


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/alias", {"userId": "u1"}, ["body", "previousId"]),
        ("/v1/alias", {"previousId": "anon-1", "anonymousId": "anon-1"}, ["body", "userId"]),
        ("/v1/group", {"userId": "u1"}, ["body", "groupId"]),
        ("/v1/page", {"userId": "u1", "name": ["Home"]}, ["body", "name"]),
        ("/v1/batch", {"batch": [{"userId": "u1", "event": "x"}]}, ["body", "batch", 0, "type"]),
        ("/v1/batch", {"batch": [{"type": "order", "userId": "u1"}]}, ["body", "batch", 0, "type"]),
        (
            "/v1/batch",
            {"batch": [{"type": "alias", "userId": "u"}]},
            ["body", "batch", 0, "previousId"],
        ),
        ("/v1/batch", {"batch": "[]"}, ["body", "batch"]),
        ("/v1/batch", {"events": []}, ["body", "batch"]),
        ("/v1/batch", {"batch": [], "context": 3}, ["body", "context"]),
        ("/v1/batch", {"batch": [], "sentAt": "soon"}, ["body", "sentAt"]),
        ("/v1/track", [{"event": "x", "userId": "u1"}], ["body"]),
    ],
)
async def test_call_specific_rules_are_422_naming_the_field(
    api: httpx.AsyncClient, ingest_settings: Settings, path: str, body: Any, loc: list[Any]
) -> None:
    response = await api.post(path, json=body)

    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert await stored(ingest_settings) == []


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
async def test_malformed_json_is_422_with_its_position(
    api: httpx.AsyncClient, ingest_settings: Settings, path: str
) -> None:
    response = await api.post(
        path, content=b'{"batch": [{"type": "track",', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"] == ["body", 28]
    assert await stored(ingest_settings) == []


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
    """
    acknowledged: set[str] = set()
    statuses: Counter[int] = Counter()
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
            producers = [asyncio.create_task(produce(client, n)) for n in range(8)]
            try:
                await eventually(_more_than(acknowledged, 200), timeout=10)
                await asyncio.to_thread(fresh_nats.stop)
                down = statuses[503]
                await asyncio.sleep(1.0)
                restarted = await asyncio.to_thread(start_again, fresh_nats)
                before_restart = len(acknowledged)
                await eventually(_more_than(acknowledged, before_restart + 200), timeout=15)
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


def _more_than(acknowledged: set[str], count: int) -> Any:
    async def probe() -> None:
        assert len(acknowledged) > count

    return probe


# -- a 2xx is an event the router will process (issue 18, items 3 and 4) ---------------------------


def nested(levels: int) -> Any:
    """``{"a": {"a": ... 1}}``, ``levels`` objects deep."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def without_ids(size: int) -> bytes:
    """A track call of ``size`` bytes as sent, with no messageId or timestamp: the API adds
    them (and the envelope's empty fields), so the stored event is larger than what was sent."""
    body: dict[str, Any] = {"event": "Cart Abandoned", "userId": customer_id(), "properties": {}}
    body["properties"]["pad"] = "x" * (size - len(json.dumps({**body, "properties": {"pad": ""}})))
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return raw


async def test_a_call_over_32_kb_once_stored_is_413_not_a_dead_letter(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    """The prober's 32,666 bytes: 200 before, then dead-lettered at 32,793 bytes as stored."""
    response = await api.post(
        "/v1/track", content=without_ids(32_666), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413, response.text
    assert "as stored" in response.json()["detail"]
    assert await stored(ingest_settings) == []


async def test_what_the_api_accepts_near_the_size_limit_the_router_decodes(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    answers = [
        await api.post(
            "/v1/track", content=without_ids(size), headers={"Content-Type": "application/json"}
        )
        for size in range(32_500, 32_701, 20)
    ]

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) == {200, 413}, statuses
    messages = await stream_messages(ingest_settings.nats_url)
    assert len(messages) == statuses.count(200)
    for message in messages:
        decode_event(message.data)  # the router's own check: raises what it would dead-letter


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 200, 255, 256, 1000])
async def test_properties_nested_too_deep_are_422(
    api: httpx.AsyncClient, ingest_settings: Settings, levels: int
) -> None:
    # Written by hand: json.dumps itself gives up before 1000 levels.
    body = json.dumps(track_body(properties="NESTED")).replace(
        '"NESTED"', '{"a":' * levels + "1" + "}" * levels
    )
    response = await api.post(
        "/v1/track", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    if levels <= 190:  # within what JSON parsers follow, the field is named
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["body", "properties"]
        assert f"nested deeper than {MAX_DEPTH} levels" in problem["msg"]
    assert await stored(ingest_settings) == []


async def test_properties_nested_to_the_limit_are_stored_and_decodable(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    response = await api.post("/v1/track", json=track_body(properties=nested(MAX_DEPTH - 1)))

    assert response.status_code == 200, response.text
    (message,) = await stream_messages(ingest_settings.nats_url)
    assert decode_event(message.data).message_id == response.json()["messageId"]


async def test_a_batch_event_nested_too_deep_is_422_naming_it(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    batch = [{"type": "track", **track_body()}, {"type": "identify", **track_body()}]
    batch[1]["traits"] = nested(MAX_DEPTH + 1)

    response = await api.post("/v1/batch", json={"batch": batch})

    assert response.status_code == 422, response.text
    assert [p["loc"] for p in response.json()["detail"]] == [["body", "batch", 1, "traits"]]
    assert await stored(ingest_settings) == []


async def test_a_lone_surrogate_is_422_in_encodable_json(
    api: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    body = b'{"userId": "sur\\ud800", "event": "Cart Abandoned"}'

    response = await api.post(
        "/v1/track", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert await stored(ingest_settings) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
async def test_a_batch_of_100000_brackets_is_4xx(
    api: httpx.AsyncClient, ingest_settings: Settings, content_type: str
) -> None:
    response = await api.post(
        "/v1/batch", content=b"[" * 100_000, headers={"Content-Type": content_type}
    )

    assert 400 <= response.status_code < 500, response.text
    assert await stored(ingest_settings) == []
