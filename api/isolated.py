"""Checks a request could make slow run in a child process, killed at a time limit.

Parsing a YAML definition, evaluating a journey's expressions, compiling and rendering a
template: the sandbox bounds each by size (journeys/definitions/sandbox.py), but a bound on size is
not one on time, and CPU work in the API's process would hold its event loop (and ``/health``) for
as long as it runs. So each such check runs in a process forked from a server process that has
the checking modules loaded (multiprocessing's ``forkserver``: a fork costs milliseconds, and
never copies the API's threads or connections), at most :data:`MAX_CHILDREN` at once, and is
killed after :data:`CHECK_SECONDS`.

A job is a module-level function that returns a picklable value (it must not raise).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from typing import Any, TypeVar

CHECK_SECONDS = 3.0
MAX_CHILDREN = 2
PRELOAD = ["api.journeys.routes", "api.templates.routes"]

T = TypeVar("T")

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)
# One thread waits on each child; a request beyond MAX_CHILDREN waits for a thread.
_WAITERS = ThreadPoolExecutor(max_workers=MAX_CHILDREN, thread_name_prefix="isolated-check")


class CheckStopped(Exception):
    """The check ran out of time, or its process died; the message says which."""


def _child(connection: Connection, job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        connection.send(job(*args))
    finally:
        connection.close()


def _run(job: Callable[..., T], args: tuple[Any, ...], seconds: float) -> T:
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(target=_child, args=(sender, job, args), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise CheckStopped(f"the check did not finish within {seconds:g} seconds")
        try:
            result: T = receiver.recv()
        except EOFError:
            raise CheckStopped("the check stopped before it finished") from None
        return result
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()


async def run_isolated(job: Callable[..., T], *args: Any, seconds: float = CHECK_SECONDS) -> T:
    """``job(*args)`` in a child process; :class:`CheckStopped` past ``seconds``."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_WAITERS, _run, job, args, seconds)


def start_in_background() -> None:
    """Start the fork server now, in a waiter thread, so the first check after the API starts
    does not wait seconds for it to load the checking modules."""
    _WAITERS.submit(forkserver.ensure_running)
