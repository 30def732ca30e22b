"""Audience imports: a list of customers an operator enters into a journey by hand.

The list itself is kept apart (:mod:`journeys.ingest.audience_lists`), the ``AudienceImport``
workflow (journeys/workflows/audience.py) only carries where it has got to.

Each customer enters as the router would enter them (journeys/activities/audience.py): a
signal-with-start of ``journey/<key>/<customer>`` carrying the journey's *own* trigger event, so
the run enters exactly as on a real trigger (the DSL waits for that event's name; entry keys,
filters and templates read its properties), with the messageId ``audience/<import>/<customer>``,
which makes a retried batch enter nobody twice and shows in the run's timeline where the entry
came from. This module holds what the API, the workflow and its activities share: plain data,
importable by workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from journeys.vocabulary import ImportStatus

AUDIENCE_WORKFLOW = "AudienceImport"
MAX_AUDIENCE = 100_000
BATCH_SIZE = 100
# Errors kept on the import row: enough to see what went wrong, not a second copy of the list.
MAX_ERRORS = 50


def audience_workflow_id(import_id: str) -> str:
    return f"audience/{import_id}"


def entry_message_id(import_id: str, customer_id: str) -> str:
    """The trigger's messageId for one customer of one import: the same on every retry."""
    return f"audience/{import_id}/{customer_id}"


@dataclass(frozen=True)
class AudienceProgress:
    """Counts so far. ``skipped``: already in the journey, or refused by its entry rules;
    ``failed``: Temporal refused the start, or no entry was recorded in time."""

    entered: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.entered + self.skipped + self.failed

    def plus(self, entered: int, skipped: int, failed: int, errors: list[str]) -> AudienceProgress:
        return AudienceProgress(
            entered=self.entered + entered,
            skipped=self.skipped + skipped,
            failed=self.failed + failed,
            errors=(self.errors + errors)[:MAX_ERRORS],
        )


@dataclass(frozen=True)
class AudienceStart:
    """The workflow's input; ``offset`` and ``progress`` carry it over continue-as-new."""

    import_id: str
    journey_key: str
    total: int
    properties: dict[str, Any] = field(default_factory=dict)
    batch_size: int = BATCH_SIZE
    offset: int = 0
    progress: AudienceProgress = field(default_factory=AudienceProgress)
    version: int = 1


@dataclass(frozen=True)
class AudienceBatch:
    """Enter the customers at ``offset`` .. ``offset + size`` of the list; ``before`` is the
    progress so far, so the activity writes absolute counts and a retry writes the same."""

    import_id: str
    journey_key: str
    offset: int
    size: int
    properties: dict[str, Any]
    before: AudienceProgress


@dataclass(frozen=True)
class BatchResult:
    """The progress after the batch; ``stopped`` says why the import cannot go on (the journey
    was paused, archived or removed meanwhile), in which case the batch entered nobody."""

    progress: AudienceProgress
    stopped: str | None = None


@dataclass(frozen=True)
class AudienceEnd:
    import_id: str
    status: ImportStatus
    progress: AudienceProgress
    error: str | None = None
