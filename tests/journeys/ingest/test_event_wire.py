"""The one check of an event's wire form, shared by every publisher and the router
(journeys/ingest/events.py): what a publisher may store is exactly what the router will process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from journeys.ingest.events import (
    MAX_DEPTH,
    MAX_EVENT_BYTES,
    Event,
    EventTooLarge,
    TooDeep,
    decode_event,
    encode_event,
)


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def track(**fields: Any) -> Event:
    return Event.model_validate({"event": "Cart Abandoned", "userId": "c-1", **fields})


def test_an_event_within_the_limits_round_trips() -> None:
    event = track(properties={"deep": nested(MAX_DEPTH - 1)})
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize("field", ["properties", "traits", "context", "custom"])
def test_nesting_past_the_limit_is_refused_on_both_sides_naming_the_field(field: str) -> None:
    value = {"deep": nested(MAX_DEPTH)}
    event = track(**{field: value})
    with pytest.raises(TooDeep, match=f"^{field}: nested deeper than {MAX_DEPTH} levels"):
        encode_event(event)
    raw = json.dumps({"event": "Cart Abandoned", "userId": "c-1", field: value}).encode()
    with pytest.raises(TooDeep, match=f"^{field}: "):
        decode_event(raw)


def test_nesting_far_past_the_serialiser_is_refused_not_crashed() -> None:
    with pytest.raises(TooDeep):
        encode_event(track(properties={"deep": nested(5000)}))


def test_the_size_is_that_of_the_stored_bytes() -> None:
    """The filled-in envelope (messageId, timestamp, empty traits...) counts."""
    pad = MAX_EVENT_BYTES - len(track(properties={"pad": ""}).to_json())
    at_limit = track(properties={"pad": "x" * pad})
    assert len(encode_event(at_limit)) == MAX_EVENT_BYTES
    with pytest.raises(EventTooLarge, match=f"over the {MAX_EVENT_BYTES}-byte limit"):
        encode_event(track(properties={"pad": "x" * (pad + 1)}))
    with pytest.raises(EventTooLarge):
        decode_event(b" " * (MAX_EVENT_BYTES + 1))
