"""The worker's and the router's health ports, on real `journeys worker` and `journeys router`
processes: ready once connected and consuming or polling, unready while NATS or Temporal is
away, ready again after, and alive throughout.

NATS and Temporal are servers of this test's own on fixed ports, stopped and started again
on the same port and data, as an outage and its end would look to the processes.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from journeys.settings import Settings
from tests.conftest import Store
from tests.support.helpers import eventually, free_port, start_process
from workers.health import HealthServer
from workers.servers import ServerProcess, nats_command, start_server, temporal_command

# Long enough for a Temporal dev server's start on a loaded 2-core machine.
OUTAGE_TIMEOUT = 90.0


class Restartable:
    """A server that can be stopped and started again on the same port and data."""

    def __init__(self, name: str, folder: Path, command: list[str], port: int) -> None:
        self.name, self.folder, self.command, self.port = name, folder, command, port
        self.server: ServerProcess | None = None

    def start(self) -> None:
        log = self.folder / f"{self.name}.log"
        self.server = start_server(self.name, self.command, "127.0.0.1", self.port, log)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[Restartable]:
    port = free_port()
    command = nats_command(tmp_path / "nats" / "store", "127.0.0.1", port, None)
    server = Restartable("nats-server", tmp_path / "nats", command, port)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_temporal(tmp_path: Path) -> Iterator[Restartable]:
    port = free_port()
    (tmp_path / "temporal").mkdir()
    command = temporal_command(tmp_path / "temporal" / "temporal.db", "127.0.0.1", port, None)
    server = Restartable("temporal", tmp_path / "temporal", command, port)
    server.start()
    yield server
    server.stop()


def probe(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)


async def readiness_is(port: int, status: int, timeout: float = OUTAGE_TIMEOUT) -> str:
    async def answered() -> str:
        try:
            response = probe(port, "/readyz")
        except httpx.TransportError as err:
            raise AssertionError(f"no answer: {err!r}") from err
        assert response.status_code == status, response.text
        return response.text

    return await eventually(answered, timeout=timeout, interval=0.5)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
async def test_readiness_follows_nats_and_temporal_and_liveness_stays(
    store: Store, own_nats: Restartable, own_temporal: Restartable, tmp_path: Path
) -> None:
    settings: Settings = store.settings.model_copy(
        update={
            "nats_url": f"nats://127.0.0.1:{own_nats.port}",
            "temporal_address": f"127.0.0.1:{own_temporal.port}",
        }
    )
    worker_port, router_port, sdk_port, router_sdk_port = (free_port() for _ in range(4))
    log = tmp_path / "processes.log"
    worker = start_process(
        "worker",
        settings,
        log,
        JOURNEYS_WORKER_HEALTH_PORT=str(worker_port),
        JOURNEYS_WORKER_TEMPORAL_METRICS_PORT=str(sdk_port),
    )
    router = None
    try:
        assert await readiness_is(worker_port, 200) == "ready\n"
        router = start_process(
            "router",
            settings,
            log,
            JOURNEYS_ROUTER_HEALTH_PORT=str(router_port),
            JOURNEYS_ROUTER_TEMPORAL_METRICS_PORT=str(router_sdk_port),
            JOURNEYS_ROUTER_ACK_WAIT_SECONDS="3",
            JOURNEYS_ROUTER_FETCH_TIMEOUT_SECONDS="0.2",
        )
        assert await readiness_is(router_port, 200) == "ready\n"
        for port in (worker_port, router_port):
            assert probe(port, "/livez").status_code == 200
            assert probe(port, "/nope").status_code == 404
            metrics = probe(port, "/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
        # The Temporal SDK's own metrics, served by its runtime on their port: the worker's
        # polls, the router's client requests.
        for port, metric in ((sdk_port, "temporal_"), (router_sdk_port, "temporal_request")):
            sdk = probe(port, "/metrics")
            assert sdk.status_code == 200
            assert metric in sdk.text, sdk.text[:500]

        # NATS away: the router cannot consume; the worker does not need NATS.
        own_nats.stop()
        assert "NATS" in await readiness_is(router_port, 503)
        assert probe(router_port, "/livez").status_code == 200
        assert probe(worker_port, "/readyz").status_code == 200
        own_nats.start()
        await readiness_is(router_port, 200)

        # Temporal away: neither takes work.
        own_temporal.stop()
        assert "Temporal" in await readiness_is(worker_port, 503)
        assert "Temporal" in await readiness_is(router_port, 503)
        for port in (worker_port, router_port):
            assert probe(port, "/livez").status_code == 200
        own_temporal.start()
        await readiness_is(worker_port, 200)
        await readiness_is(router_port, 200)
        assert worker.poll() is None and router.poll() is None, log.read_text()[-3000:]
    finally:
        for process in (router, worker):
            if process is not None:
                stop(process)


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_the_health_port_answers_get_only_and_bounds_what_it_reads() -> None:
    reasons = iter(["Temporal unreachable: refused", None])

    async def ready() -> str | None:
        return next(reasons)

    async with HealthServer(ready, "127.0.0.1", 0) as server:
        port = server.port
        unready = await exchange(port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert unready.startswith(b"HTTP/1.1 503 ")
        assert unready.endswith(b"not ready: Temporal unreachable: refused\n")
        assert (await exchange(port, b"GET /readyz?x=1 HTTP/1.1\r\n\r\n")).endswith(
            b"\r\n\r\nready\n"
        )
        assert (await exchange(port, b"GET /livez HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        posted = await exchange(port, b"POST /livez HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        assert posted.startswith(b"HTTP/1.1 405 ")
        assert (await exchange(port, b"GET /x HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
        huge = b"GET /livez HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n"
        assert (await exchange(port, huge)).startswith(b"HTTP/1.1 400 ")
        metrics = await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
        assert b"# TYPE journeys_router_events_total counter" in metrics
