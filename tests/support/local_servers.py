"""Real local servers the channel tests deliver to: an ASGI app under uvicorn on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from journeys.settings import Settings
from tests.support.helpers import free_port


@asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def hook_receiver() -> tuple[FastAPI, list[dict[str, Any]]]:
    """An app answering ``POST /hook`` with 200, and the JSON bodies it received, in order."""
    received: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        received.append(await request.json())
        return {"ok": "yes"}

    return app, received


def settings(**values: Any) -> Settings:
    """Settings from these values alone (no .env file), as a worker would build them."""
    return Settings(_env_file=None, **values)
