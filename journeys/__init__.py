"""Journeys: customer events on NATS drive durable Temporal journeys.

This package root exports only the DSL, because journey modules import it inside Temporal's
workflow sandbox; everything with I/O lives in submodules imported by the processes.
"""

from journeys.contracts import JourneyEvent, SendResult
from journeys.workflows.dsl import Journey, JourneyError, journey

__all__ = ["Journey", "JourneyError", "JourneyEvent", "SendResult", "journey"]
