"""A TCP relay on loopback in front of a server, that a test can cut and restore: an outage of
that server as its clients see it (connections reset, new ones refused), without stopping a
server other tests share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.helpers import free_port


class Relay:
    """Forwards ``127.0.0.1:<port>`` to ``host:target_port`` while open."""

    def __init__(self, host: str, target_port: int) -> None:
        self.host = host
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Accept connections (again) on the relay's port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _accept(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_out.transport.abort()
            return
        self._open.update((client_out, server_out))
        for source, sink in ((client_in, server_out), (server_in, client_out)):
            pump = asyncio.create_task(self._pump(source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(sink)
            with contextlib.suppress(Exception):
                sink.close()


@asynccontextmanager
async def relay_to(host: str, port: int) -> AsyncIterator[Relay]:
    relay = Relay(host, port)
    await relay.open()
    try:
        yield relay
    finally:
        await relay.cut()
