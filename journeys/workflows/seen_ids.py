"""A bounded memory of the messageIds a workflow has taken in: the in-workflow dedup layer.

Enough to absorb redeliveries (invariant 2), small enough to keep histories and continue-as-new
payloads short. Deterministic and free of I/O, for workflow code.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

SEEN_IDS_LIMIT = 1000


class SeenIds:
    def __init__(self, carried: Iterable[str] = (), limit: int = SEEN_IDS_LIMIT) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        for message_id in carried:
            self.first_time(message_id)

    def first_time(self, message_id: str) -> bool:
        """Remember ``message_id``; False if it was already remembered (a duplicate)."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True

    def carried(self) -> list[str]:
        """The ids to hand to the next run after continue-as-new, oldest first."""
        return list(self._ids)
