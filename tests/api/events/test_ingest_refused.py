"""Segment-compatible HTTP ingestion over real HTTP (uvicorn) into a real JetStream: the calls
that are refused, and stored nowhere. Bodies over the size limits or that cannot be decoded are
413/400/415, invalid fields 422 naming the field, and a 2xx is only given to an event the
router will process (its size as stored, its nesting depth, encodable JSON). Accepted calls are
in test_ingest_accepted.py, write and API keys in test_ingest_keys.py.

Each test has its own nats-server, so "nothing was stored" is checked on the whole stream.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from journeys.ingest.events import MAX_DEPTH, decode_event
from journeys.settings import Settings
from tests.support.helpers import customer_id
from tests.support.ingest import stored, track_body
from tests.support.real_network import stream_messages

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
