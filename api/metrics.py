"""The API's Prometheus metrics: ``GET /metrics`` (only with ``JOURNEYS_API_METRICS``) and the
count of ingest requests by route and outcome, taken around the whole request so refusals made
before a route runs (a missing key, a body over the limit, a 422) are counted too."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from journeys import metrics
from journeys.metrics import IngestRoute

router = APIRouter()

_INGEST_PATHS = {f"/v1/{route.value}": route for route in IngestRoute}


@router.get("/metrics", include_in_schema=False)
async def metrics_text() -> Response:
    """The process's metrics in Prometheus' text format, for the scraper."""
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


class IngestRequestMetrics:
    """Counts each ingest request (``/v1/track``, ..., ``/v1/batch``) by the status it got."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _INGEST_PATHS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            metrics.ingest_request(route, status)
