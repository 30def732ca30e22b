"""The FastAPI application: ``uvicorn api.main:app``, or :func:`create_app` for other settings."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.lifespan import lifespan
from api.routes import customers, events, health, journeys, templates, tracking, webhooks
from journeys.events import wire_name
from journeys.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="Journeys",
        summary="Customer events in, durable journeys out, and why each step happened.",
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    for module in (health, events, journeys, customers, webhooks, tracking, templates):
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
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
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


app = create_app()
