"""The health check's body: each dependency's state."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="Each dependency: `ok`, or what is wrong with it")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok", "checks": {"database": "ok", "nats": "ok", "temporal": "ok"}},
                {
                    "status": "unavailable",
                    "checks": {
                        "database": "ok",
                        "nats": "ok",
                        "temporal": "Temporal at 127.0.0.1:7233 is unreachable: ...",
                    },
                },
            ]
        }
    )
