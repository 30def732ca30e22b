"""The embedded servers: Temporal's dev server and nats-server, both installed from PyPI.

`journeys dev` and the test suite start them the same way, so what the tests prove is what a
developer runs. Temporal's dev server keeps its state in a SQLite file with WAL and
synchronous=NORMAL, about three times the default's start rate measured on this project's machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


class ServerError(RuntimeError):
    """A server binary is missing or did not come up; the message says which and why."""


def find_binary(name: str) -> str:
    """Prefer the binary installed next to this interpreter (the venv), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ServerError(f"{name} not found: install the project (pip install -e .) first")
    return found


def is_listening(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def split_hostport(address: str, default_port: int) -> tuple[str, int]:
    """``nats://127.0.0.1:4222`` or ``127.0.0.1:7233`` -> (host, port)."""
    rest = address.split("://", 1)[-1].split("/", 1)[0]
    if "@" in rest:
        rest = rest.rsplit("@", 1)[1]
    host, _, port = rest.rpartition(":")
    if not host:
        return rest, default_port
    return host, int(port)


def temporal_command(
    db_file: Path, host: str, port: int, ui_port: int | None, *, log_level: str = "warn"
) -> list[str]:
    command = [
        find_binary("temporal"),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--sqlite-pragma",
        "journal_mode=WAL",
        "--sqlite-pragma",
        "synchronous=NORMAL",
        "--ip",
        host,
        "--port",
        str(port),
        "--log-level",
        log_level,
        "--search-attribute",
        "CustomerId=Keyword",
        "--search-attribute",
        "JourneyKey=Keyword",
        "--search-attribute",
        "JourneyVersion=Int",
        # The dev server turns Temporal's search-attribute cache off unless told otherwise, so
        # every start that carries attributes read them from SQLite again: two cluster-metadata
        # reads and a namespace read per journey start, on the one connection every call
        # shares. The attributes above are registered before the server serves, so the cache
        # is never stale here (docs/scaling.md, "The dev server's search-attribute cache").
        "--dynamic-config-value",
        "system.forceSearchAttributesCacheRefreshOnRead=false",
    ]
    if ui_port is None:
        command.append("--headless")
    else:
        command += ["--ui-port", str(ui_port), "--ui-ip", host]
    return command


def nats_command(store_dir: Path, host: str, port: int, monitor_port: int | None) -> list[str]:
    command = [
        find_binary("nats-server"),
        "--jetstream",
        "--store_dir",
        str(store_dir),
        "--addr",
        host,
        "--port",
        str(port),
    ]
    if monitor_port is not None:
        command += ["--http_port", str(monitor_port)]
    return command


@dataclass
class ServerProcess:
    """A server we started; stopping it sends SIGTERM, then SIGKILL if it lingers."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(
    name: str, command: list[str], host: str, port: int, log_path: Path, timeout: float = 60.0
) -> ServerProcess:
    """Start a server and wait until it accepts connections; its output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        # Own session: Ctrl-C reaches only the launcher, which stops servers last, in order.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = ServerProcess(name, host, port, process, log_path)
    deadline = time.monotonic() + timeout
    while not is_listening(host, port):
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ServerError(f"{name} exited with {process.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            server.stop()
            raise ServerError(f"{name} did not listen on {host}:{port} within {timeout:.0f} s")
        time.sleep(0.1)
    return server
