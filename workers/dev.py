"""`journeys dev`: the whole stack on one machine, no Docker.

Order matters: servers first (reused when something already listens on the configured address),
then migrations and the dev admin key (``<data_dir>/admin.key``: the API's routes but the public
few need a key), then the worker, whose start registers the code journeys the router routes on,
then the router and the API, each once the one before is ready (its health port's ``/readyz``).
Ctrl-C stops them in reverse order; servers we started stop last.
Every process runs with ``JOURNEYS_ENV=dev``, and each signing secret left unset gets a random
one kept in ``<data_dir>/dev-secrets.json`` (so links and logins survive a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select

from journeys.secret_checks import env_name
from journeys.settings import Environment, Settings
from journeys.store.db import create_engine, create_sessions
from journeys.store.models import JourneyDefinition
from journeys.store.schema import upgrade_async
from workers.keys import ensure_dev_admin_key
from workers.servers import (
    ServerProcess,
    is_listening,
    nats_command,
    split_hostport,
    start_server,
    temporal_command,
)
from workers.shutdown import stop_event

log = logging.getLogger("journeys.dev")


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process


async def run_dev(settings: Settings) -> int:
    stop = stop_event()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    servers: list[ServerProcess] = []
    children: list[Child] = []
    try:
        servers += await asyncio.to_thread(_start_servers, settings)
        await upgrade_async(settings)
        log.info("database: migrated (%s)", settings.database_url)
        key_file = admin_key_file(settings)
        if await ensure_dev_admin_key(settings, key_file):
            log.info("API: wrote a new admin key to %s", key_file)

        env = _child_env(settings)
        children.append(await _spawn("worker", env))
        if settings.worker_health_port:
            await _wait_until_ready(settings, children[-1], settings.worker_health_port)
        else:
            await _wait_for_definitions(settings, children[-1])
        children.append(await _spawn("router", env))
        if settings.router_health_port:
            await _wait_until_ready(settings, children[-1], settings.router_health_port)
        children.append(await _spawn("api", env))
        _print_banner(settings)

        waits = [asyncio.create_task(c.process.wait()) for c in children]
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, *waits], return_when=asyncio.FIRST_COMPLETED)
        if stopped not in done:
            dead = next(c for c, w in zip(children, waits, strict=True) if w in done)
            log.error("%s exited with %s; stopping the stack", dead.name, dead.process.returncode)
            return 1
        return 0
    finally:
        await _stop_children(children)
        for server in reversed(servers):
            log.info("stopping %s", server.name)
            await asyncio.to_thread(server.stop)
        log.info("stopped")


DEV_SECRETS = ("tracking_secret", "console_secret", "webhook_secret")


def dev_settings(settings: Settings) -> Settings:
    """``settings`` for a local stack: env dev, and a random secret for each one not set."""
    path = settings.data_dir / "dev-secrets.json"
    kept: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    update: dict[str, object] = {"env": Environment.DEV}
    for name in DEV_SECRETS:
        if not getattr(settings, name).get_secret_value():
            kept.setdefault(name, secrets.token_urlsafe(32))
            update[name] = SecretStr(kept[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(kept, out, indent=2)
    path.chmod(0o600)
    return settings.model_copy(update=update)


def admin_key_file(settings: Settings) -> Path:
    """Where `journeys dev` keeps its admin key, as the user configured the data folder (so the
    banner can say ``.journeys/admin.key``)."""
    return settings.data_dir / "admin.key"


def _start_servers(settings: Settings) -> list[ServerProcess]:
    started: list[ServerProcess] = []
    logs = settings.data_dir.resolve() / "logs"
    host, port = split_hostport(settings.temporal_address, 7233)
    if is_listening(host, port):
        log.info("Temporal: reusing the server already listening on %s:%d", host, port)
    else:
        ui_port = urlparse(settings.temporal_ui_url).port or 8233
        db_file = settings.data_dir.resolve() / "temporal.db"
        log.info("Temporal: starting the dev server (%s, WAL)", db_file)
        started.append(
            start_server(
                "temporal",
                temporal_command(db_file, host, port, ui_port),
                host,
                port,
                logs / "temporal.log",
            )
        )
    host, port = split_hostport(settings.nats_url, 4222)
    if is_listening(host, port):
        log.info("NATS: reusing the server already listening on %s:%d", host, port)
    else:
        store = settings.data_dir.resolve() / "nats"
        log.info("NATS: starting nats-server with JetStream (%s)", store)
        started.append(
            start_server(
                "nats-server",
                nats_command(store, host, port, settings.nats_monitor_port),
                host,
                port,
                logs / "nats.log",
            )
        )
    return started


def _child_env(settings: Settings) -> dict[str, str]:
    """Children read the same settings; pass the ones `dev` may have changed explicitly."""
    env = dict(os.environ)
    env.update(
        {
            "JOURNEYS_ENV": settings.env.value,
            **{env_name(n): getattr(settings, n).get_secret_value() for n in DEV_SECRETS},
            "JOURNEYS_DATA_DIR": str(settings.data_dir.resolve()),
            "JOURNEYS_DATABASE_URL": settings.database_url,
            "JOURNEYS_TIME_SCALE": str(settings.time_scale),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


async def _spawn(command: str, env: dict[str, str]) -> Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workers.cli", command, env=env, start_new_session=True
    )
    return Child(command, process)


async def _wait_until_ready(
    settings: Settings, child: Child, port: int, timeout: float = 60
) -> None:
    """Wait for ``child``'s ``/readyz``: the worker is ready once it registered the journeys
    and polls (the router indexes them), the router once it consumes."""
    host = "127.0.0.1" if settings.health_host in ("0.0.0.0", "::") else settings.health_host
    url = f"http://{host}:{port}/readyz"
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            if child.process.returncode is not None:
                raise RuntimeError(f"the {child.name} exited during start-up; see its log above")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the {child.name} was not ready within {timeout:.0f} s ({url})")


async def _wait_for_definitions(settings: Settings, worker: Child, timeout: float = 60) -> None:
    """The router indexes registered journeys; start it once the worker has registered them."""
    engine = create_engine(settings)
    sessions = create_sessions(engine)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if worker.process.returncode is not None:
                raise RuntimeError("the worker exited during start-up; see its log above")
            async with sessions() as session:
                count = await session.scalar(select(func.count(JourneyDefinition.id)))
            if count:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the worker registered no journey within {timeout:.0f} s")
    finally:
        await engine.dispose()


async def _stop_children(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process.returncode is None:
            log.info("stopping %s", child.name)
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.process.wait(), 20)
            except TimeoutError:
                child.process.kill()
                await child.process.wait()


def _print_banner(settings: Settings) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    key_file = shlex.quote(str(admin_key_file(settings)))
    scale = (
        f"journey waits run {settings.time_scale:g}x faster (15 min -> "
        f"{15 * 60 / settings.time_scale:g} s)"
        if settings.time_scale != 1
        else "journey waits run in real time (try --time-scale 60 for a demo)"
    )
    print(
        "\n"
        "  Journeys is up. Ctrl-C stops everything.\n\n"
        f"  API            {api}   (docs: {api}/docs)\n"
        f"  Temporal UI    {settings.temporal_ui_url}\n"
        f"  Temporal       {settings.temporal_address}\n"
        f"  NATS           {settings.nats_url}\n"
        f"  Database       {settings.database_url}\n"
        f"  Clock          {scale}\n"
        f"  Admin key      {key_file}   (an admin key: the API refuses calls without one)\n\n"
        '  Try: journeys publish "Cart Abandoned" --user c1 --prop cart_id=K1 '
        "--trait phone=+15550001111\n"
        f"       export KEY=$(cat {key_file})\n"
        f'       curl -s {api}/v1/customers/c1/journeys -H "Authorization: Bearer $KEY"\n',
        flush=True,
    )
