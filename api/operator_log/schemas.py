"""The operator log's bodies: who changed what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class OperatorActionOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "actor": "3f9a1c0b7d2e",
                    "actor_name": "ops: Ada",
                    "action": "run.cancel",
                    "target": "journey:cart-recovery",
                    "detail": {"reason": "wrong coupon in the SMS", "requested": 318},
                    "occurred_at": "2026-11-23T09:30:00Z",
                }
            ]
        },
    )

    id: int
    actor: str
    actor_name: str
    action: str
    target: str
    detail: dict[str, Any]
    occurred_at: datetime


class OperatorLog(BaseModel):
    actions: list[OperatorActionOut]
