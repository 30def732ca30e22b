"""Every body is bounded before it is read, and a protected route's key is checked before its
body is: over a real socket to uvicorn, a request declaring 100 MB gets its answer after its
headers, with almost none of its body sent (issue 18, item 2)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from api.keys import routes as keys
from api.main import create_app
from api.webhooks import routes as webhooks
from journeys.settings import Settings
from tests.support.api import make_key
from tests.support.real_network import serve_http

MB = 1024 * 1024


@pytest.fixture
async def live(api_settings: Settings) -> AsyncIterator[tuple[str, FastAPI]]:
    app = create_app(api_settings)
    async with serve_http(api_settings, app) as url:
        yield url, app


async def declare_and_wait(
    base_url: str, path: str, declared: int, headers: dict[str, str] | None = None
) -> tuple[int, bytes, float]:
    """Send the headers of a POST declaring ``declared`` bytes and 1 KB of them, then read the
    answer: its status, body and how long it took. The rest of the body is never sent."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {declared}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    started = time.monotonic()
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + b"[" * 1024)
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        writer.close()
    return status, body, time.monotonic() - started


async def test_a_100_mb_key_request_without_a_key_is_413_from_its_content_length(
    live: tuple[str, FastAPI],
) -> None:
    url, _ = live
    status, body, elapsed = await declare_and_wait(
        url, "/v1/keys", 100 * MB, {"Content-Type": "application/json"}
    )
    assert status == 413, body
    assert elapsed < 2


async def test_a_protected_route_checks_the_key_before_reading_the_body(
    live: tuple[str, FastAPI],
) -> None:
    """Within the limit, but only 1 KB of the 900 KB declared is ever sent: the 401 cannot
    have waited for the body."""
    url, _ = live
    status, body, elapsed = await declare_and_wait(
        url, "/v1/journeys", 900 * 1024, {"Content-Type": "application/json"}
    )
    assert status == 401, body
    assert elapsed < 2


async def test_a_100_mb_key_request_with_a_key_is_413_from_its_content_length(
    live: tuple[str, FastAPI],
) -> None:
    url, app = live
    key = await make_key(app, "admin")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    status, body, elapsed = await declare_and_wait(url, "/v1/keys", 100 * MB, headers)
    assert status == 413, body
    assert elapsed < 2


async def test_a_streamed_key_request_is_413_once_past_its_limit(live: tuple[str, FastAPI]) -> None:
    """No Content-Length (chunked): the bytes are counted as they arrive."""
    url, app = live
    key = await make_key(app, "admin")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(keys.BODY_LIMIT // 1024 + 1):
            yield b"a" * 1024
        yield b'", "role": "admin"}'

    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/v1/keys",
            content=chunks(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 413, response.text


async def test_a_54_mb_twilio_form_is_413_unread_and_health_answers_meanwhile(
    live: tuple[str, FastAPI],
) -> None:
    url, _ = live
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = asyncio.create_task(declare_and_wait(url, "/v1/webhooks/twilio", 54 * MB, form))
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        assert (await client.get("/health")).status_code == 200
    status, body, elapsed = await refused
    assert status == 413, body
    assert elapsed < 2


async def test_a_twilio_form_over_its_limit_is_413(live: tuple[str, FastAPI]) -> None:
    url, _ = live
    body = b"Body=" + b"a" * webhooks.TWILIO_BODY_LIMIT
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/v1/webhooks/twilio",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413, response.text


async def test_a_100_mb_sendgrid_batch_is_413_unread(live: tuple[str, FastAPI]) -> None:
    url, _ = live
    json_type = {"Content-Type": "application/json"}
    status, body, elapsed = await declare_and_wait(
        url, "/v1/webhooks/sendgrid", 100 * MB, json_type
    )
    assert status == 413, body
    assert elapsed < 2


async def test_any_other_route_is_bounded_by_the_global_limit(
    live: tuple[str, FastAPI], api_settings: Settings
) -> None:
    url, app = live
    key = await make_key(app, "admin")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    declared = api_settings.http_max_body_bytes + 1
    status, body, elapsed = await declare_and_wait(url, "/v1/journeys", declared, headers)
    assert status == 413, body
    assert elapsed < 2
