"""Parameter types the routers share: the limits every customer id and journey key is held to.

PostgreSQL refuses text holding NUL, so every free-text parameter carries :data:`NO_NUL`: such
input is a 422 naming its field, not a 500 from the store.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

NO_NUL = r"^[^\x00]*$"

# A customer id in a path: the canonical id or any alias of it.
CustomerId = Annotated[
    str,
    Path(min_length=1, max_length=200, pattern=NO_NUL, description="Any id of the customer"),
]

# A journey's key in a request body.
JourneyKey = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
