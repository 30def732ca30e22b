"""Which errors are an outage of the infrastructure (Temporal, the database, the network), to retry
without limit, rather than a fault of the event or the request, retried a bounded number of times.

Shared by the router (workers/router.py) and the audience import's activities
(journeys/activities/audience.py).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from temporalio.service import RPCError, RPCStatusCode

# Temporal answers that mean "try again later", not "this event is wrong".
_OUTAGE_STATUSES = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
}


def is_outage(err: BaseException) -> bool:
    """An error of the infrastructure (retry without limit), not of the event (bounded)."""
    if isinstance(err, RPCError):
        return err.status in _OUTAGE_STATUSES
    if isinstance(err, DBAPIError):
        return bool(err.connection_invalidated) or "connect" in str(err.orig).lower()
    return isinstance(err, OSError | TimeoutError | ConnectionError)
