"""The health port of the worker and the router: ``/livez``, ``/readyz`` and ``/metrics``.

A minimal HTTP/1.1 server on asyncio streams, GET only, no request body, a bounded request head
and a time limit per connection: a probe or a scrape needs nothing more, and the processes need
no web framework for it. ``/livez`` answers 200 while the event loop runs; ``/readyz`` runs the
process's readiness check (connected and consuming or polling) and answers 200 or 503 with the
reason; ``/metrics`` is the process's Prometheus registry (:mod:`journeys.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from journeys import metrics
from journeys.settings import Settings

log = logging.getLogger(__name__)

# A readiness check: None when ready, else why not.
Readiness = Callable[[], Awaitable[str | None]]

_MAX_HEAD_BYTES = 8 * 1024
_REQUEST_SECONDS = 5.0
_READY_SECONDS = 5.0
_TEXT = "text/plain; charset=utf-8"


class HealthServer:
    """Serves the health port on ``host:port`` until closed; ``port=0`` takes a free one."""

    def __init__(self, ready: Readiness, host: str, port: int) -> None:
        self._ready = ready
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=_MAX_HEAD_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health: serving /livez, /readyz and /metrics on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, body = await asyncio.wait_for(
                self._answer(reader), _REQUEST_SECONDS
            )
        except (
            TimeoutError,
            ValueError,
            asyncio.LimitOverrunError,
            asyncio.IncompleteReadError,
            ConnectionError,
        ):
            status, content_type, body = 400, _TEXT, b"bad request\n"
        try:
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
        # The request line and headers, up to the blank line; a longer head is refused
        # (StreamReader's limit raises LimitOverrunError past _MAX_HEAD_BYTES).
        head = await reader.readuntil(b"\r\n\r\n")
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        if method != "GET":
            return 405, _TEXT, b"method not allowed\n"
        if path == "/livez":
            return 200, _TEXT, b"ok\n"
        if path == "/readyz":
            try:
                problem = await asyncio.wait_for(self._ready(), _READY_SECONDS)
            except TimeoutError:
                problem = f"readiness check gave no answer within {_READY_SECONDS:.0f} s"
            except Exception as err:
                problem = str(err) or type(err).__name__
            if problem is None:
                return 200, _TEXT, b"ready\n"
            return 503, _TEXT, f"not ready: {problem}\n".encode()
        if path == "/metrics":
            return 200, metrics.CONTENT_TYPE, metrics.exposition()
        return 404, _TEXT, b"not found\n"


def sdk_runtime(settings: Settings, port: int) -> Runtime | None:
    """A Temporal runtime whose telemetry serves the SDK's own metrics (``temporal_*``: polls,
    requests, task latencies) in Prometheus' format on ``port``, or None (the SDK's default
    runtime, no metrics) when the port is 0. One per process: it binds the port."""
    if not port:
        return None
    address = f"{settings.health_host}:{port}"
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=address, durations_as_seconds=True)
        )
    )


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}
