"""The Journeys data converter decodes every contract exactly as Temporal's default does, and
resolves a dataclass's field types once (journeys/converter.py)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.converter import DefaultPayloadConverter

from journeys import contracts, converter
from journeys.contracts import START_VERSION
from journeys.converter import JourneysPayloadConverter, with_journeys_converter

AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def sample(hint: Any) -> Any:
    """A value of type ``hint`` with every optional part filled in."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return sample(next(arg for arg in args if arg is not type(None)))
    if origin is list:
        return [sample(args[0]), sample(args[0])]
    if origin is dict or hint is dict:
        return {"cart_id": "c-1", "items": [1, "two", {"three": 3.5}], "ok": True}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(iter(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: sample(hints[f.name]) for f in dataclasses.fields(hint) if f.init})
    return {str: "s-1", int: 7, float: 0.25, bool: True, datetime: AT}.get(hint)


CONTRACTS = [
    cls
    for _, cls in inspect.getmembers(contracts, inspect.isclass)
    if dataclasses.is_dataclass(cls) and cls.__module__ == contracts.__name__
]


def test_the_contracts_are_all_covered() -> None:
    names = {cls.__name__ for cls in CONTRACTS}
    assert {"JourneyStart", "JourneyEvent", "ProgressRecord", "SendRequest"} <= names


@pytest.mark.parametrize("cls", CONTRACTS, ids=lambda cls: cls.__name__)
def test_every_contract_decodes_as_temporals_default_does(cls: type) -> None:
    value = sample(cls)
    default = DefaultPayloadConverter()
    ours = JourneysPayloadConverter()
    payloads = default.to_payloads([value])
    assert ours.to_payloads([value]) == payloads  # the bytes on the wire are Temporal's own
    decoded = ours.from_payloads(payloads, [cls])[0]
    assert decoded == default.from_payloads(payloads, [cls])[0] == value
    assert type(decoded) is cls


def test_nested_and_optional_dataclasses_come_back_as_dataclasses() -> None:
    start = sample(contracts.JourneyStart)
    payloads = JourneysPayloadConverter().to_payloads([start])
    decoded = JourneysPayloadConverter().from_payloads(payloads, [contracts.JourneyStart])[0]
    assert isinstance(decoded.trigger, contracts.JourneyEvent)
    assert decoded.trigger.timestamp == AT
    # Payloads recorded before a field existed decode with its default, as before.
    old = JourneysPayloadConverter().to_payloads(
        [{"journey_key": "k", "journey_version": 1, "customer_id": "c", "extra": "ignored"}]
    )
    decoded = JourneysPayloadConverter().from_payloads(old, [contracts.JourneyStart])[0]
    assert decoded.trigger is None and decoded.version == START_VERSION


@dataclass
class Counted:
    name: str
    total: int = 0
    derived: str = field(default="", init=False)


def test_a_missing_field_or_a_wrong_type_fails_as_with_the_default() -> None:
    ours = JourneysPayloadConverter()
    default = DefaultPayloadConverter()
    for bad in ({"total": 1}, {"name": "n", "total": "many"}, ["not", "a", "dict"]):
        payloads = default.to_payloads([bad])
        with pytest.raises(Exception) as from_default:
            default.from_payloads(payloads, [Counted])
        with pytest.raises(type(from_default.value)):
            ours.from_payloads(payloads, [Counted])


def test_init_false_fields_are_restored() -> None:
    payloads = DefaultPayloadConverter().to_payloads([{"name": "n", "total": 2, "derived": "kept"}])
    decoded = JourneysPayloadConverter().from_payloads(payloads, [Counted])[0]
    assert (decoded.name, decoded.total, decoded.derived) == ("n", 2, "kept")


def test_field_types_are_resolved_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[type] = []
    real = typing.get_type_hints

    def counting(cls: type) -> dict[str, Any]:
        calls.append(cls)
        return real(cls)

    monkeypatch.setattr(converter, "get_type_hints", counting)
    monkeypatch.setattr(converter, "_SHARED", converter.ResolvedDataclassFields())
    ours = JourneysPayloadConverter()
    record = sample(contracts.ProgressRecord)
    payloads = ours.to_payloads([record])
    for _ in range(3):
        assert ours.from_payloads(payloads, [contracts.ProgressRecord])[0] == record
    assert sorted(cls.__name__ for cls in calls) == sorted(
        ["ProgressRecord", "RunRef", "EntryRecord", "JourneyEvent", "AuditRecord"]
    )


async def test_the_worker_gets_the_converter_whatever_client_it_is_given(
    temporal_dev: Client,
) -> None:
    assert temporal_dev.data_converter.payload_converter_class is not JourneysPayloadConverter
    client = with_journeys_converter(temporal_dev)
    assert client.data_converter.payload_converter_class is JourneysPayloadConverter
    assert client.namespace == temporal_dev.namespace
    assert client.service_client is temporal_dev.service_client
    assert with_journeys_converter(client) is client
