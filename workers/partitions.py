"""Which router consumes which event partition: leases in a JetStream key-value bucket.

Per-customer order needs each partition consumed by one router at a time: two routers pulling
from one partition could each hold an event of the same customer and apply them out of order.
JetStream's pull consumers have no consumer groups, so routers share the partitions through
leases: a key ``partition.<n>`` created (compare-and-set) by the router that consumes it, renewed
while it does, and deleted when it lets go. A crashed router's lease expires after
:attr:`Settings.router_lease_seconds`, which is longer than the consumer's ``ack_wait``, so by
the time another router takes the partition over, the crashed router's unacknowledged batch is
due for redelivery and comes first, in stream order.

Each live router also keeps a ``router.<id>`` key fresh; a router owning more than its fair
share (partitions / live routers, rounded up) lets the extra ones go between batches, so adding
routers spreads the partitions without a coordinator.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import uuid

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KeyValue

from journeys.settings import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def router_identity() -> str:
    """A name for this router process, unique enough and readable in the bucket's keys."""
    host = _UNSAFE.sub("-", socket.gethostname())[:40]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class PartitionLeases:
    def __init__(self, js: JetStreamContext, settings: Settings, owner: str) -> None:
        self.js = js
        self.settings = settings
        self.owner = owner
        self._kv: KeyValue | None = None
        self._revisions: dict[int, int] = {}
        self.live_routers = 1

    @property
    def owned(self) -> set[int]:
        return set(self._revisions)

    @property
    def fair_share(self) -> int:
        return math.ceil(self.settings.event_partitions / max(1, self.live_routers))

    async def open(self) -> None:
        bucket = self.settings.router_lease_bucket
        try:
            self._kv = await self.js.key_value(bucket)
        except BucketNotFoundError:
            self._kv = await self.js.create_key_value(
                KeyValueConfig(
                    bucket=bucket,
                    history=1,
                    ttl=self.settings.router_lease_seconds,
                    storage=StorageType.FILE,
                    replicas=self.settings.stream_replicas,
                )
            )

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "call open() first"
        return self._kv

    async def acquire(self, partition: int) -> bool:
        """Take ``partition`` if nobody holds it and this router is below its fair share."""
        if partition in self._revisions:
            return True
        if len(self._revisions) >= self.fair_share:
            return False
        try:
            self._revisions[partition] = await self.kv.create(_key(partition), self.owner.encode())
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            # Held by someone; or its lease expired between the create and nats-py's look at it
            # (KeyNotFoundError): either way, try again at the next round.
            return False
        log.info("router %s: consuming partition %d", self.owner, partition)
        return True

    async def renew(self) -> set[int]:
        """Renew every lease held and refresh the count of live routers; returns lost leases."""
        await self.kv.put(f"router.{self.owner}", b"alive")
        lost = set()
        for partition, revision in list(self._revisions.items()):
            try:
                self._revisions[partition] = await self.kv.update(
                    _key(partition), self.owner.encode(), last=revision
                )
            except (KeyWrongLastSequenceError, KeyNotFoundError):
                log.warning("router %s: lost partition %d's lease", self.owner, partition)
                del self._revisions[partition]
                lost.add(partition)
        try:
            keys = await self.kv.keys()
        except NoKeysError:
            keys = []
        self.live_routers = max(1, sum(1 for key in keys if key.startswith("router.")))
        return lost

    def surplus(self) -> list[int]:
        """Partitions beyond this router's fair share: the highest-numbered ones go first."""
        extra = len(self._revisions) - self.fair_share
        return sorted(self._revisions, reverse=True)[: max(0, extra)]

    async def release(self, partition: int) -> None:
        revision = self._revisions.pop(partition, None)
        if revision is None:
            return
        try:
            await self.kv.delete(_key(partition), last=revision)
            log.info("router %s: released partition %d", self.owner, partition)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            pass

    async def close(self, *, keep: set[int] | frozenset[int] = frozenset()) -> None:
        """Let go of the leases (but those in ``keep``, left to expire) and of the liveness key."""
        for partition in self.owned - set(keep):
            await self.release(partition)
        self._revisions.clear()
        with contextlib.suppress(KeyNotFoundError):
            await self.kv.delete(f"router.{self.owner}")


def _key(partition: int) -> str:
    return f"partition.{partition}"
