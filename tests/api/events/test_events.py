"""POST /v1/track through the in-process app: 200 only once JetStream stored the event, and
never a second copy of it. The rest of the Segment API is in test_ingest_accepted.py,
test_ingest_keys.py, test_ingest_refused.py and test_segment_client.py, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from journeys.ingest.bus import partition_of
from journeys.settings import Settings
from tests.conftest import nats_url_of
from tests.support.api import serve
from tests.support.helpers import customer_id
from workers.servers import ServerProcess

# Any partition: `events.<partition>.track.cart_abandoned`.
SUBJECTS = "events.*.track.cart_abandoned"


def subject_of(settings: Settings, customer: object) -> str:
    return f"events.{partition_of(str(customer), settings.event_partitions)}.track.cart_abandoned"


async def stored(js: JetStreamContext, message_id: str) -> list[RawStreamMsg]:
    """Every message on SUBJECTS in EVENTS whose Nats-Msg-Id is ``message_id``."""
    found: list[RawStreamMsg] = []
    seq = 1
    while True:
        try:
            msg = await js.get_msg("EVENTS", seq=seq, subject=SUBJECTS, next=True)
        except NotFoundError:
            return found
        if (msg.headers or {}).get("Nats-Msg-Id") == message_id:
            found.append(msg)
        seq = (msg.seq or seq) + 1


def cart_abandoned(**fields: object) -> dict[str, object]:
    return {
        "event": "Cart Abandoned",
        "userId": customer_id(),
        "properties": {"cart_id": "K1", "total": 42.5},
        **fields,
    }


async def test_track_answers_after_the_event_is_in_the_stream(
    client: httpx.AsyncClient, jetstream: JetStreamContext, api_settings: Settings
) -> None:
    body = cart_abandoned(type="identify", integrations={"All": True})

    response = await client.post("/v1/track", json=body)

    assert response.status_code == 200
    answer = response.json()
    assert answer["success"] is True and answer["duplicate"] is False
    (msg,) = await stored(jetstream, answer["messageId"])
    assert msg.subject == subject_of(api_settings, body["userId"])
    event = json.loads(msg.data or b"")
    assert event["type"] == "track", "this endpoint only tracks, whatever type was sent"
    assert (event["userId"], event["properties"]) == (body["userId"], body["properties"])
    assert event["integrations"] == {"All": True}, "unknown Segment fields are kept"


async def test_same_message_id_twice_is_stored_once(
    client: httpx.AsyncClient, jetstream: JetStreamContext
) -> None:
    body = cart_abandoned(messageId=f"m-{uuid.uuid4()}")

    first = await client.post("/v1/track", json=body)
    second = await client.post("/v1/track", json=body)

    assert first.status_code == second.status_code == 200
    assert first.json() == {"success": True, "messageId": body["messageId"], "duplicate": False}
    assert second.json() == {"success": True, "messageId": body["messageId"], "duplicate": True}
    assert len(await stored(jetstream, str(body["messageId"]))) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": "Cart Abandoned"}, "anonymousId"),
        ({"userId": "u1"}, "event"),
        ({"event": "Cart Abandoned", "userId": ""}, "userId"),
        ({"event": "Cart Abandoned", "userId": "u1", "timestamp": "yesterday"}, "timestamp"),
    ],
)
async def test_invalid_event_is_a_4xx_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, jetstream: JetStreamContext, body: dict[str, object], field: str
) -> None:
    message_id = f"m-{uuid.uuid4()}"

    response = await client.post("/v1/track", json={**body, "messageId": message_id})

    assert response.status_code == 422
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]
    assert await stored(jetstream, message_id) == []


async def test_no_stream_or_nats_down_is_a_503_never_a_2xx(
    api_settings: Settings, fresh_nats: ServerProcess
) -> None:
    server = fresh_nats
    url = nats_url_of(server)
    try:
        async with serve(api_settings.model_copy(update={"nats_url": url})) as client:
            admin = await nats.connect(url)
            await admin.jetstream().delete_stream("EVENTS")
            await admin.close()
            no_stream = await client.post("/v1/track", json=cart_abandoned())

            await asyncio.to_thread(server.stop)
            nats_down = await client.post("/v1/track", json=cart_abandoned())
            health = await client.get("/health")
    finally:
        await asyncio.to_thread(server.stop)

    assert no_stream.status_code == 503
    assert "no response from stream" in no_stream.json()["detail"]
    assert nats_down.status_code == 503
    assert "retry with the same messageId" in nats_down.json()["detail"]
    assert health.status_code == 503
    assert health.json()["checks"]["nats"] != "ok"
