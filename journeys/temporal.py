"""Temporal client and the search attributes that let anyone find a customer's journeys.

``temporal workflow list --query "CustomerId='c1'"`` and the Web UI rely on these attributes
being registered on the namespace; registration is idempotent and done by the worker and `dev`.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from journeys.converter import DATA_CONVERTER
from journeys.settings import Settings
from journeys.workflow_ids import (
    CUSTOMER_ID,
    JOURNEY_KEY,
    JOURNEY_VERSION,
    keyed_workflow_id,
    run_search_attributes,
    watcher_id,
    workflow_id,
)

__all__ = [
    "CUSTOMER_ID",
    "JOURNEY_KEY",
    "JOURNEY_VERSION",
    "connect",
    "ensure_search_attributes",
    "keyed_workflow_id",
    "run_search_attributes",
    "watcher_id",
    "workflow_id",
]


_INDEXED = {
    CUSTOMER_ID.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    JOURNEY_KEY.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    JOURNEY_VERSION.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client of the configured namespace; ``runtime`` carries the SDK's telemetry (the
    worker's Temporal metrics), the SDK's default runtime otherwise."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime,
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the attributes that are missing; "already exists" counts as done.

    Temporal's time-skipping test server implements adding attributes but not listing them.
    """
    existing: set[str] = set()
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
    for name, kind in _INDEXED.items():
        if name in existing:
            continue
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes={name: kind})
            )
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS:
                raise
