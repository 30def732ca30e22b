"""Where an audience import's customer list waits while its workflow enters it: a JetStream
object store (bucket ``journeys-audiences``), one object per import.

Not the ``AudienceImport`` workflow's input: Temporal refuses payloads over 2 MB, and 100,000
customer ids (e-mail addresses, UUIDs) are several. Not a table either: the list is needed only
until the import ends. The API stores it before it starts the workflow, the batch activity reads
its slice by offset, and the import's last step deletes it; the bucket's TTL removes any a
crash left behind. Both the API and the worker already hold a NATS connection.
"""

from __future__ import annotations

import json
from datetime import timedelta

from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.object_store import ObjectStore

LIST_BUCKET = "journeys-audiences"
# A list is entered within this long of its upload, or JetStream drops it.
LIST_TTL = timedelta(days=7)


class ListMissing(LookupError):
    """The import's list is not in the object store (expired, or deleted)."""


async def list_store(js: JetStreamContext, *, replicas: int = 1) -> ObjectStore:
    """The bucket of lists, created on first use."""
    try:
        return await js.object_store(LIST_BUCKET)
    except BucketNotFoundError:
        config = ObjectStoreConfig(
            description="customer lists of audience imports, deleted when each import ends",
            ttl=LIST_TTL.total_seconds(),
            storage=StorageType.FILE,
            replicas=replicas,
        )
        return await js.create_object_store(LIST_BUCKET, config=config)


async def save_list(
    js: JetStreamContext, import_id: str, customer_ids: list[str], *, replicas: int = 1
) -> None:
    store = await list_store(js, replicas=replicas)
    await store.put(import_id, json.dumps(customer_ids).encode())


async def load_list(js: JetStreamContext, import_id: str) -> list[str]:
    try:
        store = await js.object_store(LIST_BUCKET)
        found = await store.get(import_id)
    except NotFoundError as err:
        raise ListMissing(f"the list of audience import {import_id} is gone") from err
    ids = json.loads(found.data or b"[]")
    assert isinstance(ids, list)
    return [str(customer) for customer in ids]


async def drop_list(js: JetStreamContext, import_id: str) -> None:
    try:
        store = await js.object_store(LIST_BUCKET)
        await store.delete(import_id)
    except NotFoundError:
        return
