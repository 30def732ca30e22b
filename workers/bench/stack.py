"""The bench's own stack: Temporal's dev server and nats-server on free ports in a temporary
folder, a migrated SQLite store, and real ``journeys worker`` / ``journeys router`` processes.

Everything is started the way ``journeys dev`` starts it (workers/servers.py: the dev server on a
SQLite file with WAL and synchronous=NORMAL), so the figures are those of the embedded stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from journeys import temporal
from journeys.ingest import bus
from journeys.settings import Settings
from journeys.store.db import Sessions, create_engine, create_sessions
from journeys.store.models import JourneyDefinition
from journeys.store.schema import upgrade_async
from workers.bench.journeys import CHANNEL, SEND_TEMPLATE
from workers.servers import ServerProcess, nats_command, start_server, temporal_command

HOST = "127.0.0.1"
BENCH_JOURNEYS = "workers.bench.journeys"

# Settings that shape the figures: read from JOURNEYS_<NAME> like every setting, given to the
# worker and router, and recorded with the results (docs/scaling.md explains each).
TUNING = (
    "event_partitions",
    "router_batch",
    "router_concurrency",
    "router_fetch_timeout_seconds",
    "worker_max_cached_workflows",
    "worker_max_concurrent_workflow_tasks",
    "worker_workflow_task_pollers",
    "worker_activity_task_pollers",
    "worker_sandbox_passthrough",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    """A ``journeys <command>`` process the bench started; its output goes to a log file."""

    name: str
    process: asyncio.subprocess.Process
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self, timeout: float = 40.0) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()


@dataclass
class BenchStack:
    root: Path
    settings: Settings
    keep: bool = False
    servers: list[ServerProcess] = field(default_factory=list)
    children: dict[str, Child] = field(default_factory=dict)
    nc: NATS | None = None
    client: Client | None = None
    engine: AsyncEngine | None = None

    @property
    def js(self) -> JetStreamContext:
        assert self.nc is not None
        return self.nc.jetstream()

    @property
    def temporal(self) -> Client:
        assert self.client is not None
        return self.client

    @property
    def sessions(self) -> Sessions:
        assert self.engine is not None
        return create_sessions(self.engine)

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # -- start and stop ------------------------------------------------------------------------

    async def start(self) -> None:
        """Servers, schema, connections, then the worker (which registers the bench journeys)."""
        self.servers += await asyncio.to_thread(self._start_servers)
        await upgrade_async(self.settings)
        self.nc = await nats.connect(self.settings.nats_servers, name="journeys-bench")
        await bus.ensure_streams(self.js, self.settings)
        self.client = await temporal.connect(self.settings)
        self.engine = create_engine(self.settings)
        await self.start_child("worker")
        await self._wait_for_definitions()

    async def close(self) -> None:
        for name in reversed(list(self.children)):
            await self.children.pop(name).stop()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        if self.engine is not None:
            await self.engine.dispose()
        for server in reversed(self.servers):
            await asyncio.to_thread(server.stop)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def _start_servers(self) -> list[ServerProcess]:
        temporal_port = int(self.settings.temporal_address.rsplit(":", 1)[1])
        nats_port = int(self.settings.nats_url.rsplit(":", 1)[1])
        temporal_server = start_server(
            "temporal",
            temporal_command(self.root / "temporal.db", HOST, temporal_port, None),
            HOST,
            temporal_port,
            self.logs / "temporal.log",
        )
        try:
            nats_server = start_server(
                "nats-server",
                nats_command(self.root / "nats", HOST, nats_port, None),
                HOST,
                nats_port,
                self.logs / "nats.log",
            )
        except Exception:
            temporal_server.stop()
            raise
        return [temporal_server, nats_server]

    def child_env(self) -> dict[str, str]:
        """The settings every child reads: this stack's addresses and the bench journeys. Other
        ``JOURNEYS_*`` variables (router batch, worker cache...) pass through for tuning."""
        s = self.settings
        env = dict(os.environ)
        env.setdefault("JOURNEYS_LOG_LEVEL", "WARNING")
        for name in TUNING:
            value = getattr(s, name)
            if value is not None:
                env[f"JOURNEYS_{name.upper()}"] = (
                    json.dumps(value) if isinstance(value, list) else str(value)
                )
        env.update(
            {
                "JOURNEYS_ENV": s.env,
                "JOURNEYS_DATA_DIR": str(s.data_dir),
                "JOURNEYS_DATABASE_URL": s.database_url,
                "JOURNEYS_NATS_URL": s.nats_url,
                "JOURNEYS_TEMPORAL_ADDRESS": s.temporal_address,
                "JOURNEYS_TASK_QUEUE": s.task_queue,
                "JOURNEYS_JOURNEY_MODULES": json.dumps(s.journey_modules),
                "JOURNEYS_CHANNEL_PROVIDERS": json.dumps(s.channel_providers),
                "JOURNEYS_TEMPLATES_DIR": str(s.templates_dir),
                "JOURNEYS_TIME_SCALE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    async def start_child(self, command: str) -> Child:
        """``journeys <command>``, as ``journeys dev`` starts it, logging to a file."""
        return await self.start_process(command, "workers.cli", command)

    async def start_process(self, name: str, module: str, *args: str) -> Child:
        """``python -m <module> <args>`` with the children's settings, logging to a file."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            env=self.child_env(),
            cwd=self.root,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        child = Child(name, process, log)
        self.children[name] = child
        return child

    async def stop_child(self, command: str) -> None:
        child = self.children.pop(command, None)
        if child is not None:
            await child.stop()

    def check_children(self) -> None:
        for child in self.children.values():
            if child.process.returncode is not None:
                tail = (self.logs / f"{child.name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{tail}")

    async def _wait_for_definitions(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_children()
            async with self.sessions() as session:
                count = await session.scalar(
                    select(func.count(JourneyDefinition.id)).where(
                        JourneyDefinition.key.like("bench-%")
                    )
                )
            if count and count >= 2:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the worker registered no bench journey within {timeout:.0f} s")

    # -- the router's consumers ----------------------------------------------------------------

    async def consumer_state(self) -> list[dict[str, int]]:
        """Per partition: delivered stream sequence, pending and unacknowledged counts."""
        states = []
        for partition in range(self.settings.event_partitions):
            durable = f"{self.settings.router_durable}-{partition}"
            try:
                info = await self.js.consumer_info(self.settings.events_stream, durable)
            except NotFoundError:
                states.append({"delivered": 0, "pending": -1, "ack_pending": 0})
                continue
            states.append(
                {
                    "delivered": info.delivered.stream_seq or 0,
                    "pending": info.num_pending or 0,
                    "ack_pending": info.num_ack_pending or 0,
                }
            )
        return states


def make_stack(root: Path | None, overrides: dict[str, Any], *, keep: bool) -> BenchStack:
    """A stack in ``root`` (a new temporary folder by default) with free ports."""
    folder = Path(root) if root else Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    templates = folder / "templates"
    templates.mkdir(exist_ok=True)
    (templates / f"{SEND_TEMPLATE}.txt.j2").write_text("Bench message for {{ customer.id }}.\n")
    data = folder / "data"
    settings = Settings(
        **{
            "env": "dev",
            "data_dir": data,
            "database_url": f"sqlite+aiosqlite:///{data / 'journeys.db'}",
            "nats_url": f"nats://{HOST}:{free_port()}",
            "temporal_address": f"{HOST}:{free_port()}",
            "journey_modules": [BENCH_JOURNEYS],
            "channel_providers": {CHANNEL: "console"},
            "templates_dir": templates,
            "time_scale": 1.0,
            **overrides,
        }
    )
    if "JOURNEYS_WORKER_SANDBOX_PASSTHROUGH" not in os.environ:
        # The bench journeys are shared between runs like the shipped examples (the `journeys`
        # package always is), as docs/scaling.md recommends for vetted journey code.
        settings = settings.model_copy(update={"worker_sandbox_passthrough": [BENCH_JOURNEYS]})
    return BenchStack(folder, settings, keep=keep)
