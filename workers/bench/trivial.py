"""The raw Temporal baseline's workflow: started by signal-with-start, done on its signal.

Workflow code: imports only Temporal's workflow API (the sandbox re-imports this module).
"""

from temporalio import workflow

TASK_QUEUE = "bench-raw"
SIGNAL = "event"


@workflow.defn(name="BenchTrivial")
class BenchTrivial:
    def __init__(self) -> None:
        self._signalled = False

    @workflow.signal(name=SIGNAL)
    def event(self, payload: str) -> None:
        self._signalled = True

    @workflow.run
    async def run(self, payload: str) -> None:
        await workflow.wait_condition(lambda: self._signalled)
