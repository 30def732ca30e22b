"""A journey definition read from a request body: JSON or YAML, parsed and checked within budgets.

The parse runs in a child process bounded in time (:mod:`api.isolated`): YAML aliases are
refused (a few hundred bytes of them expand to billions of nodes), nesting stops at
``MAX_DEPTH``, and text holding NUL is refused before it reaches PostgreSQL. What is wrong comes
back as :class:`~journeys.definitions.document.Problem` s, answered as 422 by :func:`refused`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]
from fastapi import HTTPException, Request, status

from api.isolated import CheckStopped, run_isolated
from api.journeys.schemas import JourneyProblemOut
from journeys.definitions.document import DefinitionError, Problem, expression_problems, validate

# A definition is a few kilobytes; this is far above any real one.
MAX_BODY_BYTES = 1_000_000
# A definition's JSON or YAML nests a few levels (a send's data a few more).
MAX_DEPTH = 32
JSON_TYPES = {"application/json", ""}
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}


@dataclass(frozen=True)
class Read:
    """A definition read from a request body in a child process: the parsed ``document`` and
    its ``problems`` (those :func:`definition.validate` finds without the store)."""

    document: Any
    problems: list[Problem]
    refused: list[Problem]


async def read_body(request: Request, key: str | None = None) -> Read:
    """The request's definition, parsed and checked in a child process (api/isolated.py); 413,
    415, or 422 when it does not parse or goes over a budget. ``key`` fills a missing key."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"a definition is at most {MAX_BODY_BYTES} bytes"
        )
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in YAML_TYPES and media not in JSON_TYPES and not media.endswith("+json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send the definition as application/json or application/yaml, not {media!r}",
        )
    try:
        read = await run_isolated(_parse, body, media in YAML_TYPES, key)
    except CheckStopped as err:
        raise refused([Problem(None, "body", f"{err}: the definition is refused")]) from None
    if read.refused:
        raise refused(read.refused)
    return read


def _parse(body: bytes, is_yaml: bool, key: str | None) -> Read:
    """Parse ``body`` and check it: run in a child process, bounded in time by its parent."""
    try:
        # SafeLoader: plain data
        document = yaml.load(body, Loader=_YamlLoader) if is_yaml else json.loads(body)
    except yaml.YAMLError as err:
        return Read(None, [], [Problem(None, "body", f"the YAML does not parse: {err}")])
    except ValueError as err:
        return Read(None, [], [Problem(None, "body", f"the JSON does not parse: {err}")])
    except RecursionError:
        message = f"the body is nested more than {MAX_DEPTH} levels deep"
        return Read(None, [], [Problem(None, "body", message)])
    refused = _plain(document)
    if refused is not None:
        return Read(None, [], [refused])
    if isinstance(document, dict) and key is not None and document.get("key") is None:
        document = {**document, "key": key}
    try:
        expressions = expression_problems(validate(document))
    except DefinitionError as err:
        return Read(document, err.problems, [])
    return Read(document, [], expressions)


def _plain(document: Any) -> Problem | None:
    """Why ``document`` cannot be stored: a NUL character (PostgreSQL refuses it in text), or
    nesting deeper than MAX_DEPTH; ``None`` when it can."""
    pending = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return Problem(None, "body", f"the body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, str) and "\x00" in value:
            return Problem(None, "body", "text may not contain the NUL character")
        if isinstance(value, dict):
            pending += [(item, depth + 1) for item in (*value.keys(), *value.values())]
        elif isinstance(value, list):
            pending += [(item, depth + 1) for item in value]
    return None


def _compose_node(loader: Any, parent: Any, index: Any) -> Any:
    """PyYAML's composer, refusing aliases (``*name``: a few hundred bytes of them expand to
    billions of nodes) and nesting deeper than MAX_DEPTH (its recursion's limit)."""
    event = loader.peek_event()
    if isinstance(event, yaml.AliasEvent):
        raise yaml.composer.ComposerError(
            None, None, "aliases (*name) are not accepted in a definition", event.start_mark
        )
    depth = getattr(loader, "depth", 0)
    if depth >= MAX_DEPTH:
        raise yaml.composer.ComposerError(
            None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
        )
    loader.depth = depth + 1
    try:
        return yaml.SafeLoader.compose_node(loader, parent, index)
    finally:
        loader.depth = depth


# YAML 1.1's safe loader with YAML 1.2's scalars: ``10:30`` is a string (not 630, base 60),
# ``2026-11-23`` a string (not a date), and only ``true``/``false`` are booleans (``no`` and
# ``on`` are strings), as a definition's times, dates and names need.
_YamlLoader: Any = type("_YamlLoader", (yaml.SafeLoader,), {"compose_node": _compose_node})
_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag
        not in {
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
            "tag:yaml.org,2002:timestamp",
        }
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+)$"
    ),
    list("-+0123456789."),
)


def problems_out(problems: list[Problem]) -> list[JourneyProblemOut]:
    return [JourneyProblemOut(step=p.step, field=p.field, message=p.message) for p in problems]


def refused(problems: list[Problem]) -> HTTPException:
    detail = [p.model_dump() for p in problems_out(problems)]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
