"""The FastAPI application: ``uvicorn api.main:app``, or :func:`create_app` for other settings."""

from __future__ import annotations

import json

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from fastapi.responses import JSONResponse, Response

from api import console
from api.analytics import routes as analytics
from api.audiences import routes as audiences
from api.auth import ADMINS, EDITORS, STAFF, allow, bearer_scheme
from api.customers import routes as customers
from api.events import routes as events
from api.health import routes as health
from api.journeys import routes as journeys
from api.key_before_body import KeyBeforeBody
from api.keys import routes as keys
from api.lifespan import lifespan
from api.metrics import IngestRequestMetrics
from api.metrics import router as metrics_router
from api.operator_log import routes as operator_log
from api.privacy import routes as privacy
from api.runs import routes as runs
from api.templates import routes as templates
from api.timelines import routes as timelines
from api.tracking import routes as tracking
from api.unsubscribe import routes as unsubscribe
from api.webhooks import routes as webhooks
from journeys.ingest.events import wire_name
from journeys.settings import Settings, get_settings

# Who may read and who may change each resource (docs/operations.md, "Access"). Public routes
# have no entry: health, open/click tracking, the unsubscribe links and the providers' signed
# webhooks. Ingestion checks its own keys, before reading the body (api/events/body.py); the
# console its cookie.
STAFF_READ_EDITORS_WRITE = [Security(bearer_scheme), allow(read=STAFF, write=EDITORS)]
ADMINS_ONLY = [Security(bearer_scheme), allow(read=ADMINS, write=ADMINS)]
ROUTERS: list[tuple[APIRouter, list[Depends]]] = [
    (health.router, []),
    (events.router, []),
    (webhooks.router, []),
    (tracking.router, []),
    (unsubscribe.router, []),
    (journeys.router, STAFF_READ_EDITORS_WRITE),
    (templates.router, STAFF_READ_EDITORS_WRITE),
    (customers.router, STAFF_READ_EDITORS_WRITE),
    (timelines.router, STAFF_READ_EDITORS_WRITE),
    (runs.router, STAFF_READ_EDITORS_WRITE),
    (audiences.router, STAFF_READ_EDITORS_WRITE),
    (analytics.router, STAFF_READ_EDITORS_WRITE),
    (privacy.router, ADMINS_ONLY),
    (keys.router, ADMINS_ONLY),
    (operator_log.router, ADMINS_ONLY),
    (console.router, []),
]
# Routers reading more than the global limit (JOURNEYS_HTTP_MAX_BODY_BYTES) on purpose.
BODY_LIMITS: dict[str, int] = {audiences.router.prefix: audiences.MAX_BODY_BYTES + 64 * 1024}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Journeys",
        summary="Customer events in, durable journeys out, and why each step happened.",
        lifespan=lifespan,
        # Every body is bounded: Content-Length is checked before reading, streamed bytes are
        # counted, 413 beyond. Routes expecting less (keys, webhooks) or more (audience uploads)
        # declare their own limit, which wins.
        max_body_size=settings.http_max_body_bytes,
    )
    app.state.settings = settings
    for router, dependencies in ROUTERS:
        limit = BODY_LIMITS.get(router.prefix)
        app.include_router(router, dependencies=dependencies, max_body_size=limit)
    if settings.api_metrics:
        # Public like health: who reaches the API's port reads it (docs/security.md, "Metrics").
        app.include_router(metrics_router)
    protected = [
        route for router, dependencies in ROUTERS if dependencies for route in router.routes
    ]
    app.add_middleware(KeyBeforeBody, routes=protected)
    # Outermost, so a request KeyBeforeBody refuses is counted too.
    app.add_middleware(IngestRequestMetrics)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """422 whose ``loc`` names body fields as producers spell them (``userId``, not ``user_id``):
    ``["body", "userId"]``, and in a Segment batch ``["body", "batch", 3, "userId"]``."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        if loc[:1] == ["body"]:
            in_batch = len(loc) > 3 and loc[1] == "batch" and isinstance(loc[2], int)
            field = 3 if in_batch else 1
            # Not an int: that is a position, the JSON decode error's offset or a list index.
            if len(loc) > field and isinstance(loc[field], str):
                loc[field] = wire_name(loc[field])
        errors.append({**error, "loc": loc})
    try:
        return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})
    except (ValueError, RecursionError):
        # An input that cannot be echoed as JSON (a lone surrogate, NaN, nesting deeper than
        # the encoder goes): the error still names the field, without the input.
        # ASCII output escapes a surrogate the error's loc may still hold (an object key).
        plain = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in errors]
        text = json.dumps({"detail": jsonable_encoder(plain)}, ensure_ascii=True)
        return Response(text, status_code=422, media_type="application/json")


app = create_app()
