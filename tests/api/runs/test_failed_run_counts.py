"""A run whose workflow failed is no longer counted as active (issue 18, item 7): a second
trigger enters the customer again, and a bulk cancel's dry run counts neither run, while the
run list finds both as ``failed`` with their reason. A row left active by a workflow that
closed in Temporal without ending it (terminated there directly) is ended by the next cancel
that reaches it, so later dry runs count only runs really going.

Real parts only: the router's logic starts a code journey that fails with a journey error on the
session's Temporal dev server, served by a real worker, on both stores; the API answers over HTTP.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client, WorkflowFailureError

from journeys.examples import CartRecovery
from journeys.ingest.pipeline import EventPipeline
from journeys.workflows.dsl import Journey
from tests.conftest import Store
from tests.support.api import bearer, make_key
from tests.support.helpers import customer_id, eventually, runs_of, track
from tests.support.journeys.failing import FailsBeforeItsFirstWrite

KEY = FailsBeforeItsFirstWrite.spec.key


# ``router`` (tests/api/runs/conftest.py) enters customers into these journeys.
@pytest.fixture
def code_journeys() -> list[type[Journey]]:
    return [FailsBeforeItsFirstWrite, CartRecovery]


async def test_failed_runs_are_not_active_for_a_bulk_cancels_dry_run(
    client: httpx.AsyncClient, store: Store, router: EventPipeline, temporal_dev: Client
) -> None:
    editor = await _editor(client)
    customer = customer_id()
    for entered in (1, 2):
        (workflow_id,) = (await router.route(track("Signed Up", customer))).started
        with pytest.raises(WorkflowFailureError):
            await temporal_dev.get_workflow_handle(workflow_id).result()
        # The row ended before the workflow failed: no wait for it.
        assert [r.status for r in await runs_of(store.sessions, customer)] == ["failed"] * entered

    dry = await client.post(
        "/v1/runs/cancel", json={"journey": KEY, "dry_run": True}, headers=editor
    )
    assert dry.status_code == 200, dry.text
    assert (dry.json()["count"], dry.json()["sample"]) == (0, [])

    listed = await client.get(
        "/v1/runs", params={"journey": KEY, "status": "failed"}, headers=editor
    )
    assert listed.status_code == 200, listed.text
    runs = listed.json()["runs"]
    assert len(runs) == 2
    assert all("waits for ['Never Declared']" in run["reason"] for run in runs)
    assert all(run["ended_at"] is not None for run in runs)


async def test_a_cancel_ends_the_row_of_a_run_whose_workflow_closed_without_it(
    client: httpx.AsyncClient, store: Store, router: EventPipeline, temporal_dev: Client
) -> None:
    editor = await _editor(client)
    customer = customer_id()
    (workflow_id,) = (await router.route(track("Cart Abandoned", customer, cart_id="K1"))).started

    async def waiting() -> str:
        runs = await runs_of(store.sessions, customer)
        assert [run.status for run in runs] == ["active"]
        return runs[0].id

    run_id = await eventually(waiting)
    # Closed in Temporal by hand: the row cannot know, and says active.
    await temporal_dev.get_workflow_handle(workflow_id).terminate("by hand")
    only = {"journey": "cart-recovery", "customer": customer}
    dry = await client.post("/v1/runs/cancel", json={**only, "dry_run": True}, headers=editor)
    assert dry.json()["count"] == 1

    cancel = {**only, "reason": "tidy up", "expected_count": 1}
    done = await client.post("/v1/runs/cancel", json=cancel, headers=editor)

    assert done.status_code == 200, done.text
    assert (done.json()["requested"], done.json()["already_ended"]) == ([], {run_id: "terminated"})
    (row,) = await runs_of(store.sessions, customer)
    assert (row.status, row.reason) == ("terminated", "its workflow was terminated in Temporal")
    assert row.ended_at is not None
    again = await client.post("/v1/runs/cancel", json={**only, "dry_run": True}, headers=editor)
    assert again.json()["count"] == 0


async def _editor(client: httpx.AsyncClient) -> dict[str, str]:
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    return bearer(await make_key(app, "editor", name="Grace"))
