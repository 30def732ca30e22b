"""The changes made to the journey workflow since runs were first recorded, and which runs take
each of them.

A change that alters a run's commands must leave runs recorded before it replaying as they were.
Temporal's tool for that is ``workflow.patched``: a new run records a marker, an old run's history
lacks it. But in this SDK each patch also upserts the ``TemporalChangeVersion`` search attribute,
so every new run pays for a marker, an extra history event and a visibility update in its first
workflow task, for as long as the patch stays in the code (docs/scaling.md measured it: about a
tenth of the matching throughput).

So a run's input says which changes it was started with instead: :attr:`JourneyStart.version
<journeys.contracts.JourneyStart.version>`. Every starter (the router, the inactivity watcher,
an audience import) fills in :data:`journeys.contracts.START_VERSION` by default, and every
recorded input holds the version it was started with (version 1 for all runs before this
module), so the answer is fixed by the history, like a marker's. A run whose version predates a
change falls back to the patch marker: runs recorded while the change was only a patch replay as
they were recorded.

To ship a new change: add its patch name, give it the next start version in
:data:`_TAKEN_FROM`, raise :data:`journeys.contracts.START_VERSION`, and record a history of
the new shape (``python -m tests.histories.record``).

Workflow code: deterministic, free of I/O.
"""

from __future__ import annotations

from temporalio import workflow

# A send checks consent, quiet hours and frequency caps first (journeys/workflows/dsl.py).
COMPLIANCE_CHECK = "compliance-check"
# A run writes its bookkeeping in one local activity per step (journeys/workflows/bookkeeping.py).
ONE_BOOKKEEPING_WRITE = "one-bookkeeping-write"

# Each change, and the first start version that takes it without a marker.
_TAKEN_FROM = {
    COMPLIANCE_CHECK: 2,
    ONE_BOOKKEEPING_WRITE: 2,
}


def takes(start_version: int, change: str) -> bool:
    """Does this run take ``change``? By its start version when that is recent enough (no
    command at all); otherwise by the patch marker, as ``workflow.patched`` decides it."""
    if start_version >= _TAKEN_FROM[change]:
        return True
    return workflow.patched(change)
