"""The API's Temporal client, which is allowed not to exist.

Ingesting events needs only NATS, so a Temporal outage must not keep the API from starting or from
accepting events. Start-up tries once with a short timeout; afterwards callers retry at most every
``retry_every`` seconds, so a dead server costs one quick failure rather than a wait per request.
"""

from __future__ import annotations

import asyncio
import logging
import time

from temporalio.client import Client

from journeys import temporal
from journeys.settings import Settings

log = logging.getLogger(__name__)


class TemporalConnection:
    def __init__(
        self, settings: Settings, *, connect_timeout: float = 3.0, retry_every: float = 5.0
    ) -> None:
        self.settings = settings
        self.connect_timeout = connect_timeout
        self.retry_every = retry_every
        self.client: Client | None = None
        self.error = "not connected yet"
        self._next_attempt = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> Client | None:
        """The client, connecting first if it is missing and the retry pause is over."""
        if self.client is not None or time.monotonic() < self._next_attempt:
            return self.client
        async with self._lock:
            if self.client is None and time.monotonic() >= self._next_attempt:
                await self._connect()
        return self.client

    async def _connect(self) -> None:
        address = self.settings.temporal_address
        try:
            self.client = await asyncio.wait_for(
                temporal.connect(self.settings), self.connect_timeout
            )
        except TimeoutError:
            self._failed(f"Temporal at {address} did not answer within {self.connect_timeout} s")
        except Exception as err:  # the SDK raises plain RuntimeError for transport failures
            self._failed(f"Temporal at {address} is unreachable: {err}")
        else:
            log.info("connected to Temporal at %s", address)

    def _failed(self, error: str) -> None:
        self.error = error
        self._next_attempt = time.monotonic() + self.retry_every
        log.warning("%s; retrying in %s s at the earliest", error, self.retry_every)
