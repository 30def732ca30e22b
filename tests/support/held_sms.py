"""A local server speaking the Twilio Messages API that holds each message until the test lets
it go: a paused provider, so a test decides when a send's provider call ends instead of timing
a window of wall time around it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from journeys.delivery.channels.twilio import TwilioProvider
from tests.support.local_servers import serve_app, settings

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token"


class HeldTwilio:
    """Accepts every message, but answers only once :meth:`release` is called."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self.arrived = asyncio.Event()
        self._released = asyncio.Event()

    def release(self) -> None:
        self._released.set()

    async def messages(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), strict_parsing=True))
        self.received.append(form)
        self.arrived.set()
        await self._released.wait()
        sid = f"SM{len(self.received):032d}"
        return JSONResponse({"sid": sid, "status": "queued", "to": form["To"]}, status_code=201)


@asynccontextmanager
async def held_twilio() -> AsyncIterator[tuple[HeldTwilio, TwilioProvider]]:
    """The held server on a free port and a provider sending to it, as a worker builds it."""
    held = HeldTwilio()
    app = Starlette(
        routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", held.messages, methods=["POST"])]
    )
    async with serve_app(app) as url:
        provider = TwilioProvider(
            settings(
                twilio_base_url=url,
                twilio_account_sid=SID,
                twilio_auth_token=TOKEN,
                twilio_from_number="+15559990000",
                twilio_timeout_seconds=60,
            )
        )
        try:
            yield held, provider
        finally:
            held.release()
            await provider.aclose()
