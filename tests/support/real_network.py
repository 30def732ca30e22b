"""Real-network helpers for the ingestion tests: the API behind uvicorn, a nats-server restarted
in place, and reading a whole stream back with a consumer of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import uvicorn
from fastapi import FastAPI
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from api.main import create_app
from journeys.settings import Settings
from tests.support.helpers import free_port
from workers.servers import ServerProcess, nats_command, start_server


@asynccontextmanager
async def serve_http(settings: Settings, app: FastAPI | None = None) -> AsyncIterator[str]:
    """The app (by default a new one on ``settings``) behind a real uvicorn on a free port, in
    this event loop; yields its base URL. Pass ``app`` to make keys in its store meanwhile
    (``tests.support.api.make_key``).

    Blocking clients (Segment's library uses ``requests``) must run in a thread meanwhile.
    """
    port = free_port()
    config = uvicorn.Config(
        app or create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("uvicorn stopped before it started serving")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


def start_again(server: ServerProcess) -> ServerProcess:
    """A new nats-server on ``server``'s port and JetStream store (laid out by
    ``tests.conftest.start_nats``), so the stream and its dedup state survive the restart."""
    folder = server.log_path.parent
    command = nats_command(folder / "store", server.host, server.port, None)
    return start_server("nats-server", command, server.host, server.port, server.log_path)


async def stream_messages(nats_url: str, stream: str = "EVENTS") -> list[Msg]:
    """Every message of ``stream``, in order, through an ephemeral consumer of our own."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        if not last:
            return []
        subscription = await js.pull_subscribe(
            ">",
            stream=stream,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=30.0,
            ),
        )
        messages: list[Msg] = []
        while not messages or (messages[-1].metadata.sequence.stream or 0) < last:
            messages += await subscription.fetch(500, timeout=5)
        return messages
    finally:
        await connection.close()


def message_ids(messages: list[Msg]) -> list[str]:
    return [(message.headers or {}).get("Nats-Msg-Id", "") for message in messages]
