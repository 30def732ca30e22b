"""`journeys publish`, the walkthrough's first step, against a real nats-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nats

from journeys.ingest.bus import partition_of
from journeys.settings import Settings
from tests.conftest import REPO


def publish(nats_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "publish", *args],
        env={**os.environ, "JOURNEYS_NATS_URL": nats_url},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_publish_stores_the_event_once_per_message_id(nats_url: str) -> None:
    args = [
        "Cart Abandoned",
        "--user",
        "cli-1",
        "--prop",
        "total=42.5",
        "--prop",
        "cart_id=K1",
        "--trait",
        "phone=+15550001111",
        "--message-id",
        "cli-message-1",
    ]
    first, second = publish(nats_url, *args), publish(nats_url, *args)

    assert first.returncode == 0, first.stderr
    ack = json.loads(first.stdout)
    assert (ack["subject"], ack["stream"], ack["duplicate"]) == (
        f"events.{partition_of('cli-1', Settings().event_partitions)}.track.cart_abandoned",
        "EVENTS",
        False,
    )
    assert json.loads(second.stdout)["duplicate"] is True
    connection = await nats.connect(nats_url)
    try:
        stored = await connection.jetstream().get_msg("EVENTS", ack["seq"])
    finally:
        await connection.close()
    body = json.loads(stored.data or b"")
    assert body["properties"] == {"total": 42.5, "cart_id": "K1"}
    assert body["context"]["traits"] == {"phone": "+15550001111"}
    assert stored.headers is not None and stored.headers["Nats-Msg-Id"] == "cli-message-1"


def test_publish_refuses_an_event_without_a_customer(nats_url: str) -> None:
    result = publish(nats_url, "Cart Abandoned")
    assert result.returncode == 2
    assert "userId or anonymousId is required" in result.stderr


def test_publish_refuses_a_property_that_is_not_key_value(nats_url: str) -> None:
    result = publish(nats_url, "Cart Abandoned", "--user", "u", "--prop", "oops")
    assert result.returncode == 2
    assert "expected KEY=VALUE" in result.stderr
