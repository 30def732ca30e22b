"""The data converter of every Journeys client and worker: Temporal's JSON, with each dataclass's
field types resolved once instead of on every payload.

Temporal's default converter builds a dataclass from JSON by calling ``typing.get_type_hints``
on it, for every payload. Our contracts are written with ``from __future__ import annotations``,
so each call evaluates every field's annotation string again. A busy worker spent 9% of its
main thread there (py-spy, docs/scaling.md). The payloads themselves are unchanged: encoding is
Temporal's own, and decoding gives the same values the default does, field by field.

Classes are held weakly: a journey module the workflow sandbox imports anew for each run brings
its own dataclasses, and they must be free to go when the run does.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import Any, get_type_hints

from temporalio.client import Client
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    value_to_type,
)


@dataclass(frozen=True)
class _Field:
    name: str
    hint: Any
    init: bool


class ResolvedDataclassFields(JSONTypeConverter):
    """Build dataclasses as the default converter does, from field types resolved once."""

    def __init__(self) -> None:
        self._fields: weakref.WeakKeyDictionary[type, tuple[_Field, ...]] = (
            weakref.WeakKeyDictionary()
        )

    def fields_of(self, cls: type) -> tuple[_Field, ...]:
        fields = self._fields.get(cls)
        if fields is None:
            hints = get_type_hints(cls)
            fields = tuple(
                _Field(field.name, hints[field.name], field.init)
                for field in dataclasses.fields(cls)
            )
            self._fields[cls] = fields
        return fields

    def to_typed_value(self, hint: type, value: Any) -> Any:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return JSONTypeConverter.Unhandled
        if not isinstance(value, dict):
            raise TypeError(f"Cannot convert to dataclass {hint}, value is {type(value)} not dict")
        # As Temporal's default: convert the fields present (unknown keys are ignored), let the
        # constructor reject missing required ones, and restore init=False fields afterwards.
        given: dict[str, Any] = {}
        after_init: dict[str, Any] = {}
        for field in self.fields_of(hint):
            if field.name not in value:
                continue
            try:
                converted = value_to_type(field.hint, value[field.name], [self])
            except Exception as err:
                failed = f"Failed converting field {field.name} on dataclass {hint}"
                raise TypeError(failed) from err
            (given if field.init else after_init)[field.name] = converted
        built = hint(**given)
        for name, converted in after_init.items():
            object.__setattr__(built, name, converted)
        return built


class JourneysPayloadConverter(CompositePayloadConverter):
    """Temporal's default encodings, with JSON decoding through :class:`ResolvedDataclassFields`.

    The workflow sandbox creates its own instance (the class must take no arguments); the
    ``journeys`` package passes through the sandbox, so every instance shares one cache."""

    def __init__(self) -> None:
        json = JSONPlainPayloadConverter(custom_type_converters=[_SHARED])
        super().__init__(
            *(
                json if isinstance(converter, JSONPlainPayloadConverter) else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


_SHARED = ResolvedDataclassFields()

DATA_CONVERTER = DataConverter(payload_converter_class=JourneysPayloadConverter)


def with_journeys_converter(client: Client) -> Client:
    """``client`` itself if it already converts as Journeys does, else the same connection
    with :data:`DATA_CONVERTER` (tests and tools may hand the worker a plain client)."""
    if client.data_converter.payload_converter_class is JourneysPayloadConverter:
        return client
    config = client.config()
    config["data_converter"] = DATA_CONVERTER
    return Client(**config)
