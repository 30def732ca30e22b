"""Reading an ingestion request's body: the key first (api/auth.py), then Segment's size limits,
gzip allowed.

Segment accepts at most 32 KB for one call and 500 KB for a batch; so do we, so a producer written
against Segment fits here unchanged. The limits hold for the body as sent *and* once decompressed:
a gzip body is inflated chunk by chunk with a cap on the output, so a small "zip bomb" costs us
at most the limit in memory and the work of inflating that much, then a 413.

:func:`ingest_route` makes a route class doing all this before FastAPI parses the JSON, so the
endpoints keep declaring pydantic models (validation errors, OpenAPI) as any other route does.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope

from api.auth import check_ingest
from journeys.ingest.events import MAX_EVENT_BYTES

KB = 1024
EVENT_LIMIT = MAX_EVENT_BYTES
BATCH_LIMIT = 500 * KB

_GZIP = zlib.MAX_WBITS | 16  # wbits for a gzip header and trailer
_ENCODINGS = ("", "identity", "gzip", "x-gzip")


def too_large(what: str, limit: int, kind: str) -> HTTPException:
    """413 naming the limit: ``batch[3] is 40000 bytes, over 32 KB (32768 bytes), ...``."""
    return HTTPException(
        413,  # Content Too Large; Starlette renamed its constant, the number stays
        f"{what}, over {limit // KB} KB ({limit} bytes), the limit for {kind}",
    )


class LimitedRequest(Request):
    """A request whose ``body()`` is at most ``limit`` bytes, gzip already undone."""

    def __init__(self, scope: Scope, receive: Receive, limit: int, kind: str) -> None:
        super().__init__(scope, receive)
        self.limit = limit
        self.kind = kind

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            self._body = await self._read_limited()
        return self._body

    async def json(self) -> Any:
        """Parsed by the router's parser (pydantic's), not :mod:`json`: what one accepts the
        other does, and nesting too deep to parse is a ``JSONDecodeError`` (so a 422), never
        a ``RecursionError``."""
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body)
            except ValueError as err:
                text = body.decode(errors="replace")
                raise json.JSONDecodeError(str(err), text, _position(text, str(err))) from err
        return self._json

    async def _read_limited(self) -> bytes:
        encoding = self.headers.get("content-encoding", "").strip().lower()
        if encoding not in _ENCODINGS:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                f"Content-Encoding {encoding!r} is not supported; send gzip or nothing",
            )
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            raise too_large(f"the body is {declared} bytes", self.limit, self.kind)
        inflater = zlib.decompressobj(_GZIP) if encoding.endswith("gzip") else None
        received = 0
        body = bytearray()
        async for chunk in self.stream():
            received += len(chunk)
            if received > self.limit:
                raise too_large(f"the body is more than {self.limit} bytes", self.limit, self.kind)
            if inflater is None:
                body += chunk
            elif not self._inflate(inflater, chunk, body):
                raise too_large(
                    f"the body is more than {self.limit} bytes once decompressed",
                    self.limit,
                    self.kind,
                )
        if inflater is not None and not inflater.eof:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the gzip body is truncated")
        return bytes(body)

    def _inflate(self, inflater: Any, chunk: bytes, body: bytearray) -> bool:
        """Inflate ``chunk`` onto ``body``; False as soon as ``body`` would pass the limit."""
        if inflater.eof:
            if chunk:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "data after the gzip body")
            return True
        room = self.limit - len(body)
        try:
            # max_length room+1: one byte over is enough to know, and stops a bomb right there.
            data: bytes = inflater.decompress(chunk, room + 1)
        except zlib.error as err:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"the body is not valid gzip: {err}"
            ) from err
        if len(data) > room:
            return False
        if inflater.unused_data:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "data after the gzip body")
        body += data
        return True


_AT = re.compile(r" at line (\d+) column (\d+)$")


def _position(text: str, message: str) -> int:
    """The offset :mod:`json` would give for pydantic's ``... at line 3 column 7``: the
    character at fault, or the end of the text when it ended too soon."""
    found = _AT.search(message)
    if found is None or message.startswith("EOF"):
        return len(text) if found else 0
    line, column = int(found[1]), int(found[2])
    line_start = sum(len(row) + 1 for row in text.split("\n")[: line - 1])
    return min(line_start + column - 1, len(text))


def ingest_route(limit: int, kind: str) -> type[APIRoute]:
    """A route class checking the write key, then reading at most ``limit`` bytes of body."""

    class IngestRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def ingest(request: Request) -> Response:
                await check_ingest(request)
                return await handler(LimitedRequest(request.scope, request.receive, limit, kind))

            return ingest

    return IngestRoute
