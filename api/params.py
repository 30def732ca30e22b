"""Parameter types the routers share: the limits every customer id and journey key is held to.

PostgreSQL refuses text holding NUL, so every free-text parameter carries :data:`NO_NUL`: such
input is a 422 naming its field, not a 500 from the store.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import Path
from pydantic import Field

NO_NUL = r"^[^\x00]*$"
# Versions are the database's 32-bit integers: a larger number is refused (422), never looked up.
MAX_VERSION = 2_147_483_647

# A customer id in a path: the canonical id or any alias of it.
CustomerId = Annotated[
    str,
    Path(min_length=1, max_length=200, pattern=NO_NUL, description="Any id of the customer"),
]

# A journey's or a template's version in a path.
VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION)]

# A journey's key in a request body.
JourneyKey = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]


def json_problem(value: Any) -> str | None:
    """What in a JSON value PostgreSQL's JSONB cannot store (a NUL character, NaN or an
    infinity, which Python's JSON parser lets through), or None: such input is refused with a
    422 instead of failing the operator-log write."""
    if isinstance(value, str):
        return "the NUL character" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number that is not finite"
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    return next((problem for item in items if (problem := json_problem(item))), None)
