"""The analytics resource's bodies: a journey's numbers, intervals and lift, and its time series."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from journeys.vocabulary import DeliveryStatus, RunStatus


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IntervalOut(_Out):
    low: float
    high: float


class ProportionOut(_Out):
    """``successes`` of ``trials``; ``rate`` and its Wilson ``interval`` are null for none."""

    successes: int
    trials: int
    rate: float | None
    interval: IntervalOut | None


class ComparisonOut(_Out):
    """A treatment's conversion rate against its control's."""

    treatment: ProportionOut
    control: ProportionOut
    difference: float | None = Field(
        description="Treatment rate minus control rate (0.05 = five percentage points)"
    )
    difference_interval: IntervalOut | None = Field(
        description="Newcombe's hybrid score interval of the difference"
    )
    relative_lift: float | None = Field(
        description="Treatment rate / control rate - 1 (0.25 = converts 25% more); null when "
        "the control converted nobody"
    )
    relative_lift_interval: IntervalOut | None = Field(
        description="Katz log interval; null when either arm converted nobody"
    )
    p_value: float | None = Field(description="Two-sided pooled two-proportion z-test")
    too_small: bool = Field(
        description="Too few customers (under 30 in an arm) or conversions to conclude"
    )
    conclusive: bool = Field(
        description="Large enough, and the difference's interval excludes zero"
    )
    caveat: str | None = Field(description="Why the comparison is not conclusive, in words")
    confidence: float


class LiftOut(ComparisonOut):
    """The journey's treated customers against its holdout."""

    incremental_conversions: float | None = Field(
        description="Conversions the journey added: difference x treated customers"
    )
    incremental_revenue: float | None = Field(
        description="Revenue the journey added: (revenue per treated - per holdout customer) "
        "x treated customers"
    )


class StepOut(_Out):
    step: str
    type: str | None = Field(description="The step's type (`send`, `delay`, `branch`...)")
    reached: int = Field(
        description="Runs that got to the step (distinct runs with an audit row naming it)"
    )
    share: float | None = Field(description="`reached` / runs entered")


class MessageOut(_Out):
    channel: str
    status: DeliveryStatus
    count: int


class ExitOut(_Out):
    status: RunStatus = Field(description="How the runs ended")
    reason: str
    count: int


class ArmOut(_Out):
    customers: int = Field(description="Runs entered in this arm")
    conversions: int
    revenue: float
    revenue_per_customer: float | None
    rate: ProportionOut


class VariantOut(_Out):
    step: str
    variant: str
    template: str | None
    customers: int = Field(description="Runs outside the holdout that drew this variant")
    sent: int
    conversions: int
    revenue: float
    rate: ProportionOut
    vs_first: ComparisonOut | None = Field(
        description="Against the step's first variant; null for the first itself"
    )


_EXAMPLE_RATE = {
    "successes": 48,
    "trials": 400,
    "rate": 0.12,
    "interval": {"low": 0.0917, "high": 0.1555},
}


_EXAMPLE_HELD = {
    "successes": 4,
    "trials": 100,
    "rate": 0.04,
    "interval": {"low": 0.0157, "high": 0.0984},
}


EXAMPLE_ANALYTICS: dict[str, Any] = {
    "key": "cart-recovery-lite",
    "version": None,
    "versions": [1, 2],
    "since": "2026-11-01T00:00:00Z",
    "until": None,
    "entered": 500,
    "active": 20,
    "completed": 310,
    "ended": 480,
    "not_entered": 12,
    "by_status": {
        "active": 20,
        "completed": 310,
        "converted": 52,
        "exited": 118,
        "not_entered": 12,
    },
    "conversions": 52,
    "revenue": 3120.5,
    "steps": [
        {"step": "pause", "type": "delay", "reached": 500, "share": 1.0},
        {"step": "nudge", "type": "send", "reached": 470, "share": 0.94},
    ],
    "messages": [
        {"channel": "sms", "status": "sent", "count": 361},
        {"channel": "sms", "status": "skipped", "count": 15},
    ],
    "exits": [
        {"status": "completed", "reason": "completed all steps", "count": 310},
        {"status": "exited", "reason": "exited on Order Completed", "count": 118},
        {"status": "converted", "reason": "converted on Order Completed", "count": 52},
    ],
    "treatment": {
        "customers": 400,
        "conversions": 48,
        "revenue": 2880.0,
        "revenue_per_customer": 7.2,
        "rate": _EXAMPLE_RATE,
    },
    "holdout": {
        "customers": 100,
        "conversions": 4,
        "revenue": 240.5,
        "revenue_per_customer": 2.405,
        "rate": _EXAMPLE_HELD,
    },
    "lift": {
        "treatment": _EXAMPLE_RATE,
        "control": _EXAMPLE_HELD,
        "difference": 0.08,
        "difference_interval": {"low": 0.0151, "high": 0.1231},
        "relative_lift": 2.0,
        "relative_lift_interval": {"low": 0.1079, "high": 7.1238},
        "p_value": 0.0191,
        "too_small": False,
        "conclusive": True,
        "caveat": None,
        "confidence": 0.95,
        "incremental_conversions": 32.0,
        "incremental_revenue": 1918.0,
    },
    "variants": [],
}


class JourneyAnalyticsOut(_Out):
    """A journey's numbers for the runs that entered between ``since`` and ``until``."""

    key: str
    version: int | None = Field(description="The version analysed; null for all of them")
    versions: list[int] = Field(description="Every published version")
    since: datetime | None
    until: datetime | None
    entered: int = Field(description="Runs that entered (refused entries not counted)")
    active: int
    completed: int = Field(description="Runs that went through every step")
    ended: int
    not_entered: int = Field(description="Entries refused by the entry rules")
    by_status: dict[RunStatus, int]
    conversions: int = Field(description="Goal conversions, treatment and holdout")
    revenue: float
    steps: list[StepOut] = Field(description="In the journey's order")
    messages: list[MessageOut]
    exits: list[ExitOut] = Field(description="How runs ended, most frequent first")
    treatment: ArmOut = Field(description="Runs outside the holdout (sent messages)")
    holdout: ArmOut = Field(description="Runs in the holdout (sent nothing)")
    lift: LiftOut
    variants: list[VariantOut]

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ANALYTICS]})


class PointOut(_Out):
    start: datetime = Field(description="The bucket's start (UTC)")
    entered: int
    sent: int = Field(description="Messages sent")
    conversions: int
    revenue: float


class TimeseriesOut(_Out):
    key: str
    version: int | None
    bucket: Literal["hour", "day"]
    since: datetime | None
    until: datetime | None
    points: list[PointOut] = Field(description="Every bucket in the range, empty ones as zeros")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "cart-recovery-lite",
                    "version": 2,
                    "bucket": "day",
                    "since": "2026-11-20T00:00:00Z",
                    "until": "2026-11-22T00:00:00Z",
                    "points": [
                        {
                            "start": "2026-11-20T00:00:00Z",
                            "entered": 41,
                            "sent": 37,
                            "conversions": 5,
                            "revenue": 310.0,
                        },
                        {
                            "start": "2026-11-21T00:00:00Z",
                            "entered": 0,
                            "sent": 2,
                            "conversions": 1,
                            "revenue": 42.5,
                        },
                    ],
                }
            ]
        }
    )
